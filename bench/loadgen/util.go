package main

import (
	"encoding/json"
	"strconv"
)

func itoa(value int) string { return strconv.Itoa(value) }

func jsonMarshal(value any) ([]byte, error) { return json.Marshal(value) }

func jsonUnmarshal(data []byte, value any) error { return json.Unmarshal(data, value) }

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCompareSideBySide(t *testing.T) {
	directory := t.TempDir()
	var paths []string
	for index, label := range []string{"2-fanout/node", "2-fanout/gateway", "1-idle/node"} {
		r := &result{
			Config:           config{Label: label, Duration: time.Second},
			Fleet:            fleetResult{Connected: 10, ConnectTime: &Histogram{}, TickLatency: &Histogram{}, OrderLatency: &Histogram{}},
			Started:          time.Unix(int64(100-index), 0), // the idle run started first
			DeliveriesPerSec: float64(1000 * (index + 1)),
		}
		encoded, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(directory, strings.ReplaceAll(label, "/", "--")+".json")
		if err := os.WriteFile(path, encoded, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	var out strings.Builder
	if err := compareMain(append([]string{"-baseline", "node"}, paths...), &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if strings.Index(text, "== 1-idle") > strings.Index(text, "== 2-fanout") {
		t.Errorf("scenarios not in run order:\n%s", text)
	}
	if !strings.Contains(text, "gateway/node") || !strings.Contains(text, "2.00x") {
		t.Errorf("want a gateway/node ratio column with 2000/1000 = 2.00x:\n%s", text)
	}
}

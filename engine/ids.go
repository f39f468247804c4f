package engine

import (
	"crypto/rand"
	"encoding/base64"
	"strconv"
)

// newID returns a random 20-character URL-safe identifier, the shape of
// Engine.IO session ids and Socket.IO socket ids.
func newID() string {
	var random [15]byte
	_, _ = rand.Read(random[:])
	return base64.RawURLEncoding.EncodeToString(random[:])
}

func itoa(n int) string { return strconv.Itoa(n) }

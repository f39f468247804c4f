package engine

import (
	"net/http"
	"testing"
)

// TestPagesTakeOnlyWhatNothingElseServes mounts a Pages handler and checks
// that it gets "/" and unknown paths, while the engine's own endpoints keep
// theirs.
func TestPagesTakeOnlyWhatNothingElseServes(t *testing.T) {
	pages := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("page " + r.URL.Path))
	})
	e := startEngine(t, Config{Pages: pages})
	base := "http://" + e.Addr().String()
	cases := []struct {
		path   string
		status int
		page   bool
	}{
		{"/", 200, true},
		{"/desk.js", 200, true},
		{"/health", 200, false},
		{"/socket.io/socket.io.js", 200, false},
		{"/socket.io/elsewhere", 404, false},
		{"/socket.io/?EIO=4", 400, false},
	}
	for _, tc := range cases {
		status, body := get(t, base+tc.path, nil)
		if status != tc.status || (body == "page "+tc.path) != tc.page {
			t.Errorf("GET %s = %d %.40q; want %d, served by pages: %v", tc.path, status, body, tc.status, tc.page)
		}
	}
}

package main

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/protrader5/ws-gateway/engine/enginetest"
)

// startServer serves newServer on a free loopback port and returns its
// address.
func startServer(t *testing.T) string {
	t.Helper()
	gateway, err := newServer("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return enginetest.Serve(t, gateway)
}

// request makes one HTTP request and returns its status and body.
func request(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	var header map[string]string
	if body != "" {
		header = map[string]string{"Content-Type": "text/plain;charset=UTF-8"}
	}
	response, data := enginetest.Request(t, method, url, body, header)
	return response.StatusCode, data
}

// TestConfigMatchesTheSuites checks what the suites assert first: the open
// packet's values on both paths, and the raw echo.
func TestConfigMatchesTheSuites(t *testing.T) {
	base := "http://" + startServer(t)
	for _, path := range []string{rawPath, socketIOPath} {
		_, open := request(t, http.MethodGet, base+path+"?EIO=4&transport=polling", "")
		if !strings.HasSuffix(open, `,"upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}`) {
			t.Fatalf("open packet at %s = %q", path, open)
		}
	}
	_, open := request(t, http.MethodGet, base+rawPath+"?EIO=4&transport=polling", "")
	sid := open[len(`0{"sid":"`):][:20]
	url := base + rawPath + "?EIO=4&transport=polling&sid=" + sid
	if _, answer := request(t, http.MethodPost, url, "4hello"); answer != "ok" {
		t.Fatalf("POST = %q", answer)
	}
	if _, echo := request(t, http.MethodGet, url, ""); echo != "4hello" {
		t.Fatalf("echo = %q", echo)
	}
}

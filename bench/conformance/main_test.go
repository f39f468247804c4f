package main

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/protrader5/ws-gateway/engine"
	"github.com/protrader5/ws-gateway/engine/enginetest"
)

// TestConfigMatchesTheSuites checks what the suites assert first: the open
// packet's values on both paths, and the raw echo.
func TestConfigMatchesTheSuites(t *testing.T) {
	gateway, err := engine.New(Config("127.0.0.1:0", slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + enginetest.Serve(t, gateway)
	request := func(method, url, body string) string {
		t.Helper()
		var reader io.Reader
		if body != "" {
			reader = strings.NewReader(body)
		}
		r, _ := http.NewRequest(method, url, reader)
		response, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer response.Body.Close()
		data, _ := io.ReadAll(response.Body)
		return string(data)
	}
	for _, path := range []string{"/engine.io/", "/socket.io/"} {
		open := request(http.MethodGet, base+path+"?EIO=4&transport=polling", "")
		if !strings.HasSuffix(open, `,"upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}`) {
			t.Fatalf("open packet at %s = %q", path, open)
		}
	}
	open := request(http.MethodGet, base+"/engine.io/?EIO=4&transport=polling", "")
	sid := open[len(`0{"sid":"`):][:20]
	url := base + "/engine.io/?EIO=4&transport=polling&sid=" + sid
	if answer := request(http.MethodPost, url, "4hello"); answer != "ok" {
		t.Fatalf("POST = %q", answer)
	}
	if echo := request(http.MethodGet, url, ""); echo != "4hello" {
		t.Fatalf("echo = %q", echo)
	}
}

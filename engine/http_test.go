package engine

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/protrader5/ws-gateway/engine/enginetest"
)

func get(t *testing.T, url string, header map[string]string) (int, string) {
	t.Helper()
	response, body := enginetest.Request(t, http.MethodGet, url, "", header)
	return response.StatusCode, body
}

func TestHealthReadyAndErrors(t *testing.T) {
	ready := true
	e := startEngine(t, Config{Ready: func() (bool, string) {
		if ready {
			return true, ""
		}
		return false, "redis_disconnected"
	}})
	base := "http://" + e.Addr().String()
	status, body := get(t, base+"/health", nil)
	if status != 200 || !regexp.MustCompile(`^\{"status":"ok","timestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"\}$`).MatchString(body) {
		t.Fatalf("/health = %d %s", status, body)
	}
	if status, body = get(t, base+"/ready", nil); status != 200 {
		t.Fatalf("/ready = %d %s", status, body)
	}
	ready = false
	if status, body = get(t, base+"/ready", nil); status != 503 || body != `{"status":"unavailable","reason":"redis_disconnected"}` {
		t.Fatalf("/ready = %d %s", status, body)
	}
	if status, _ = get(t, base+"/nope", nil); status != 404 {
		t.Fatalf("/nope = %d", status)
	}
	cases := []struct {
		name   string
		query  string
		header map[string]string
		status int
		body   string
	}{
		{"no transport", "?EIO=4", nil, 400, `{"code":0,"message":"Transport unknown"}`},
		{"unknown transport", "?EIO=4&transport=carrier-pigeon", nil, 400, `{"code":0,"message":"Transport unknown"}`},
		{"polling EIO 3", "?EIO=3&transport=polling", nil, 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"polling unknown sid", "?EIO=4&transport=polling&sid=nope", nil, 400, `{"code":1,"message":"Session ID unknown"}`},
		{"unknown sid", "?EIO=4&transport=websocket&sid=abc", map[string]string{"Upgrade": "websocket"}, 400, `{"code":1,"message":"Session ID unknown"}`},
		{"websocket without upgrade", "?EIO=4&transport=websocket", nil, 400, `{"code":3,"message":"Bad request"}`},
		{"missing EIO", "?transport=websocket", map[string]string{"Upgrade": "websocket", "Connection": "Upgrade"}, 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"EIO 3", "?EIO=3&transport=websocket", map[string]string{"Upgrade": "websocket", "Connection": "Upgrade"}, 400, `{"code":5,"message":"Unsupported protocol version"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := get(t, base+"/socket.io/"+tc.query, tc.header)
			if status != tc.status || strings.TrimSpace(body) != tc.body {
				t.Fatalf("GET %s = %d %s; want %d %s", tc.query, status, body, tc.status, tc.body)
			}
		})
	}
}

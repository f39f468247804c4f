package enginetest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Polling is a minimal Engine.IO v4 long-polling client, for tests of the
// engine and of programs built on it.
type Polling struct {
	T    testing.TB
	Base string         // http://host:port/path/
	SID  string         // the session id from the open packet
	Open map[string]any // the open packet
}

// Request makes one HTTP request and returns the response, already read,
// and its body.
func Request(t testing.TB, method, url, body string, header map[string]string) (*http.Response, string) {
	t.Helper()
	var reader io.Reader
	if body != "" {
		reader = strings.NewReader(body)
	}
	request, err := http.NewRequest(method, url, reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, value := range header {
		request.Header.Set(name, value)
	}
	client := http.Client{Timeout: 10 * time.Second}
	response, err := client.Do(request)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer response.Body.Close()
	data, _ := io.ReadAll(response.Body)
	return response, string(data)
}

// OpenPolling makes the polling handshake at base (http://host:port/path/).
func OpenPolling(t testing.TB, base string) *Polling {
	t.Helper()
	response, body := Request(t, http.MethodGet, base+"?EIO=4&transport=polling", "", nil)
	if response.StatusCode != 200 || !strings.HasPrefix(body, "0{") {
		t.Fatalf("handshake = %d %q", response.StatusCode, body)
	}
	client := &Polling{T: t, Base: base}
	if err := json.Unmarshal([]byte(body[1:]), &client.Open); err != nil {
		t.Fatal(err)
	}
	sid, ok := client.Open["sid"].(string)
	if !ok {
		t.Fatalf("open packet without a sid: %q", body)
	}
	client.SID = sid
	return client
}

// URL is the session's URL, sid included.
func (p *Polling) URL() string {
	return p.Base + "?EIO=4&transport=polling&sid=" + p.SID
}

// Get polls once.
func (p *Polling) Get() (int, string) {
	p.T.Helper()
	response, body := Request(p.T, http.MethodGet, p.URL(), "", nil)
	return response.StatusCode, body
}

// Post sends payload (packets joined by the record separator).
func (p *Polling) Post(payload string) (int, string) {
	p.T.Helper()
	response, body := Request(p.T, http.MethodPost, p.URL(), payload, map[string]string{"Content-Type": "text/plain;charset=UTF-8"})
	return response.StatusCode, body
}

// Packets polls until a poll answers something besides pings, answering
// the pings, and returns the payload's other packets.
func (p *Polling) Packets() []string {
	p.T.Helper()
	for {
		status, body := p.Get()
		if status != 200 {
			p.T.Fatalf("poll = %d %q", status, body)
		}
		var packets []string
		for _, packet := range strings.Split(body, "\x1e") {
			if packet == "2" {
				p.Post("3")
				continue
			}
			packets = append(packets, packet)
		}
		if len(packets) > 0 {
			return packets
		}
	}
}

package engine

import (
	"strings"
	"testing"
)

func FuzzParseRequestHead(f *testing.F) {
	for _, seed := range []string{
		"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nAuthorization: Bearer abc\r\nOrigin: http://a\r\n\r\n",
		"GET /health HTTP/1.0\r\n\r\n",
		"POST /socket.io/?EIO=4&transport=polling&sid=x HTTP/1.1\r\nContent-Length: 3\r\n\r\n",
		"GARBAGE\r\n\r\n",
		"GET  HTTP/1.1\r\nNoColon\r\n\r\n",
		"\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		request, ok := parseRequestHead(head)
		if !ok {
			return
		}
		// Whatever parses came from the request line and the headers as sent.
		text := string(head)
		if !strings.HasPrefix(text, request.method+" ") {
			t.Fatalf("method %q is not the start of %q", request.method, text)
		}
		if strings.ContainsAny(request.path+request.query, " \r\n") {
			t.Fatalf("target %q?%q holds a separator", request.path, request.query)
		}
		if strings.ContainsAny(request.bearer+request.origin+request.upgrade, "\r\n") {
			t.Fatalf("a header value spans lines: %+v", request)
		}
		_ = headerHasToken(request.upgrade, "websocket")
	})
}

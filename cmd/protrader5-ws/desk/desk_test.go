package desk

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func request(h http.Handler, method, path string, header map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	for name, value := range header {
		r.Header.Set(name, value)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestAssetsCarryTheirHeaders checks every asset's content type, security
// headers and caching: revalidated every load, 304 on a matching ETag.
func TestAssetsCarryTheirHeaders(t *testing.T) {
	h := Handler(Options{})
	cases := []struct {
		path        string
		contentType string
		contains    string
	}{
		{"/", "text/html; charset=utf-8", `<script src="/desk.js" defer></script>`},
		{"/desk.js", "text/javascript; charset=utf-8", `"use strict";`},
		{"/desk.css", "text/css; charset=utf-8", ":root {"},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			w := request(h, http.MethodGet, tc.path, nil)
			header := w.Header()
			if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), tc.contains) {
				t.Fatalf("GET %s = %d, body without %q", tc.path, w.Code, tc.contains)
			}
			checkSecurityHeaders(t, header)
			if got := header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type = %q; want %q", got, tc.contentType)
			}
			if got := header.Get("Cache-Control"); got != "no-cache" {
				t.Errorf("Cache-Control = %q; want no-cache", got)
			}
			etag := header.Get("ETag")
			if len(etag) < 10 || etag[0] != '"' {
				t.Fatalf("ETag = %q; want a strong quoted validator", etag)
			}
			again := request(h, http.MethodGet, tc.path, map[string]string{"If-None-Match": etag})
			if again.Code != http.StatusNotModified || again.Body.Len() != 0 {
				t.Errorf("GET with If-None-Match %s = %d with %d bytes; want 304 and none", etag, again.Code, again.Body.Len())
			}
			checkSecurityHeaders(t, again.Header())
			head := request(h, http.MethodHead, tc.path, nil)
			if head.Code != http.StatusOK || head.Body.Len() != 0 || head.Header().Get("ETag") != etag {
				t.Errorf("HEAD %s = %d, %d bytes, ETag %q", tc.path, head.Code, head.Body.Len(), head.Header().Get("ETag"))
			}
			if post := request(h, http.MethodPost, tc.path, nil); post.Code != http.StatusMethodNotAllowed || post.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("POST %s = %d, Allow %q", tc.path, post.Code, post.Header().Get("Allow"))
			}
		})
	}
	etags := map[string]bool{}
	for _, tc := range cases {
		etags[request(h, http.MethodGet, tc.path, nil).Header().Get("ETag")] = true
	}
	if len(etags) != len(cases) {
		t.Errorf("the assets share ETags: %v", etags)
	}
}

func checkSecurityHeaders(t *testing.T, header http.Header) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy": ContentSecurityPolicy,
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
	}
	for name, value := range want {
		if got := header.Get(name); got != value {
			t.Errorf("%s = %q; want %q", name, got, value)
		}
	}
}

// TestThePolicyForbidsInlineCode holds the policy to what the page needs and
// no more: no 'unsafe-inline', no 'unsafe-eval', no other origin.
func TestThePolicyForbidsInlineCode(t *testing.T) {
	for _, directive := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(ContentSecurityPolicy, directive+";") && !strings.HasSuffix(ContentSecurityPolicy, directive) {
			t.Errorf("the policy lacks %q: %s", directive, ContentSecurityPolicy)
		}
	}
	for _, forbidden := range []string{"unsafe", "*", "http:", "https:"} {
		if strings.Contains(ContentSecurityPolicy, forbidden) {
			t.Errorf("the policy allows %q: %s", forbidden, ContentSecurityPolicy)
		}
	}
	// The page itself: no inline script, style attribute or handler.
	page := request(Handler(Options{}), http.MethodGet, "/", nil).Body.String()
	for _, inline := range []string{"<script>", "<style", " style=", " onclick=", " onload=", "javascript:"} {
		if strings.Contains(page, inline) {
			t.Errorf("the page holds inline code %q", inline)
		}
	}
}

// TestUnknownPathsAndTheTokenEndpoint: every other path is 404 with the
// same headers; /dev/token exists only with Options.Token.
func TestUnknownPathsAndTheTokenEndpoint(t *testing.T) {
	without := Handler(Options{})
	for _, path := range []string{TokenPath, "/index.html", "/desk.js/", "/static/desk.js", "/favicon.ico"} {
		w := request(without, http.MethodGet, path, nil)
		if w.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d; want 404", path, w.Code)
		}
		checkSecurityHeaders(t, w.Header())
	}

	calls := 0
	with := Handler(Options{Token: func() (string, error) {
		calls++
		return "header.claims.signature", nil
	}})
	w := request(with, http.MethodGet, TokenPath, nil)
	if w.Code != http.StatusOK || w.Body.String() != `{"token":"header.claims.signature"}` || calls != 1 {
		t.Fatalf("GET %s = %d %s after %d calls", TokenPath, w.Code, w.Body, calls)
	}
	if got := w.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q; want no-store", got)
	}
	if got := w.Header().Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q; want application/json", got)
	}
	checkSecurityHeaders(t, w.Header())
	if post := request(with, http.MethodPost, TokenPath, nil); post.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST %s = %d; want 405", TokenPath, post.Code)
	}

	failing := Handler(Options{Token: func() (string, error) { return "", errors.New("no secret") }})
	if w := request(failing, http.MethodGet, TokenPath, nil); w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), "no secret") {
		t.Errorf("GET %s with a failing Token = %d %s", TokenPath, w.Code, w.Body)
	}
}

// TestTheSocketIOPathIsFollowed: with another SOCKETIO_PATH the page loads
// the bundle from it and connects to it.
func TestTheSocketIOPathIsFollowed(t *testing.T) {
	page := request(Handler(Options{SocketIOPath: "/gateway/"}), http.MethodGet, "/", nil).Body.String()
	for _, want := range []string{`<script src="/gateway/socket.io.min.js" defer>`, `data-socket-path="/gateway/"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(page, "/socket.io/") {
		t.Errorf("the page still names /socket.io/")
	}
}

package engine

import (
	"context"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

func refusalCount(e *Engine, reason string) uint64 {
	e.metrics.labelledMu.Lock()
	defer e.metrics.labelledMu.Unlock()
	if counter := e.metrics.labelled[[2]string{"handshake_refusals", reason}]; counter != nil {
		return counter.Load()
	}
	return 0
}

// dialStatus dials a WebSocket session and returns the HTTP status of a
// refusal, or 101.
func dialStatus(t *testing.T, e *Engine, forwardedFor string) int {
	t.Helper()
	dialer := ws.Dialer{Timeout: 5 * time.Second}
	if forwardedFor != "" {
		dialer.Header = ws.HandshakeHeaderHTTP(http.Header{"X-Forwarded-For": {forwardedFor}})
	}
	conn, _, _, err := dialer.Dial(context.Background(), "ws://"+e.Addr().String()+"/socket.io/?EIO=4&transport=websocket")
	if err != nil {
		if status, ok := err.(ws.StatusError); ok {
			return int(status)
		}
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return 101
}

func pollingStatus(t *testing.T, e *Engine, forwardedFor string) (int, string) {
	t.Helper()
	header := map[string]string{}
	if forwardedFor != "" {
		header["X-Forwarded-For"] = forwardedFor
	}
	response, body := pollRequest(t, http.MethodGet, "http://"+e.Addr().String()+"/socket.io/?EIO=4&transport=polling", "", header)
	return response.StatusCode, body
}

func TestMaxConnections(t *testing.T) {
	e := startEngine(t, Config{MaxConnections: 2})
	first := dialClient(t, e, nil)
	if status, _ := pollingStatus(t, e, ""); status != 200 {
		t.Fatalf("second session = %d", status)
	}
	if status := dialStatus(t, e, ""); status != 503 {
		t.Fatalf("WebSocket over the limit = %d; want 503", status)
	}
	if status, body := pollingStatus(t, e, ""); status != 503 || body != bodyMaxConnections {
		t.Fatalf("polling over the limit = %d %q; want 503", status, body)
	}
	if got := refusalCount(e, refusedMaxConnections); got != 2 {
		t.Fatalf("refusals counted = %d; want 2", got)
	}
	first.Close()
	waitFor(t, "the slot to be released", func() bool {
		e.limits.mu.Lock()
		defer e.limits.mu.Unlock()
		return e.limits.sessions < 2
	})
	if status := dialStatus(t, e, ""); status != 101 {
		t.Fatalf("after a close = %d; want 101", status)
	}
}

func TestMaxConnectionsPerIP(t *testing.T) {
	e := startEngine(t, Config{MaxConnectionsPerIP: 1, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if status := dialStatus(t, e, "10.0.0.1"); status != 101 {
		t.Fatalf("first from 10.0.0.1 = %d", status)
	}
	if status := dialStatus(t, e, "10.0.0.1"); status != 429 {
		t.Fatalf("second from 10.0.0.1 = %d; want 429", status)
	}
	if status, body := pollingStatus(t, e, "192.0.2.9, 10.0.0.1"); status != 429 || body != bodyPerIP {
		t.Fatalf("polling from 10.0.0.1 = %d %q; want 429", status, body)
	}
	if status := dialStatus(t, e, "10.0.0.2"); status != 101 {
		t.Fatalf("first from 10.0.0.2 = %d", status)
	}
	if got := refusalCount(e, refusedPerIP); got != 2 {
		t.Fatalf("refusals counted = %d; want 2", got)
	}
}

func TestForwardedForIgnoredFromUntrustedPeer(t *testing.T) {
	e := startEngine(t, Config{MaxConnectionsPerIP: 1})
	if status := dialStatus(t, e, "10.0.0.1"); status != 101 {
		t.Fatalf("first = %d", status)
	}
	// Another claimed address from the same untrusted peer counts as the peer.
	if status := dialStatus(t, e, "10.0.0.2"); status != 429 {
		t.Fatalf("second with a forged X-Forwarded-For = %d; want 429", status)
	}
}

func TestConnectionRatePerIP(t *testing.T) {
	e := startEngine(t, Config{ConnectionRatePerIP: 1})
	for i := range 2 { // the burst is twice the rate
		if status := dialStatus(t, e, ""); status != 101 {
			t.Fatalf("handshake %d = %d", i, status)
		}
	}
	if status, body := pollingStatus(t, e, ""); status != 429 || body != bodyRate {
		t.Fatalf("over the rate = %d %q; want 429", status, body)
	}
	if got := refusalCount(e, refusedRate); got != 1 {
		t.Fatalf("refusals counted = %d; want 1", got)
	}
}

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	cases := []struct {
		name, remote, forwarded, want string
	}{
		{"no proxies configured", "192.0.2.1:5000", "198.51.100.7", "192.0.2.1"},
		{"untrusted peer", "192.0.2.1:5000", "198.51.100.7", "192.0.2.1"},
		{"trusted peer", "10.1.2.3:5000", "198.51.100.7", "198.51.100.7"},
		{"chain of proxies", "10.1.2.3:5000", "198.51.100.7, 10.9.9.9", "198.51.100.7"},
		{"forged left part ignored", "10.1.2.3:5000", "203.0.113.1, 198.51.100.7", "198.51.100.7"},
		{"garbage hop", "10.1.2.3:5000", "nonsense, 10.9.9.9", "10.9.9.9"},
		{"ipv6 peer", "[::1]:5000", "2001:db8::1", "2001:db8::1"},
		{"mapped address", "10.1.2.3:5000", "::ffff:198.51.100.7", "198.51.100.7"},
		{"no header", "10.1.2.3:5000", "", "10.1.2.3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			list := trusted
			if tc.name == "no proxies configured" {
				list = nil
			}
			if got := clientIP(list, tc.remote, tc.forwarded); got != tc.want {
				t.Fatalf("clientIP(%q, %q) = %q; want %q", tc.remote, tc.forwarded, got, tc.want)
			}
		})
	}
}

func FuzzClientIP(f *testing.F) {
	f.Add("10.1.2.3:5000", "198.51.100.7, 10.9.9.9")
	f.Add("[::1]:1", "::ffff:1.2.3.4,,")
	f.Add("nonsense", "1.1.1.1")
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	f.Fuzz(func(t *testing.T, remote, forwarded string) {
		got := clientIP(trusted, remote, forwarded)
		peer := hostOf(remote)
		if got == peer {
			return
		}
		// Anything else must come from the header, behind a trusted peer.
		address, err := netip.ParseAddr(peer)
		if err != nil || !inPrefixes(trusted, address.Unmap()) {
			t.Fatalf("clientIP(%q, %q) = %q from an untrusted peer", remote, forwarded, got)
		}
		if _, err := netip.ParseAddr(got); err != nil {
			t.Fatalf("clientIP(%q, %q) = %q, not an address", remote, forwarded, got)
		}
	})
}

func TestLimitsSweepKeepsTableBounded(t *testing.T) {
	l := newLimits(Config{ConnectionRatePerIP: 1000})
	now := time.Now().UnixNano()
	for i := range limitBucketIdle * 3 {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String()
		if reason := l.admit(ip, now+int64(i)*int64(time.Millisecond)); reason != "" {
			t.Fatalf("admit %s = %q", ip, reason)
		}
	}
	if len(l.buckets) > limitBucketIdle+1 {
		t.Fatalf("buckets = %d; want at most %d", len(l.buckets), limitBucketIdle+1)
	}
}

package engine

import (
	"net"
	"net/netip"
	"strings"
	"sync"
)

// refusal reasons for new sessions, as counted in
// protrader5_handshake_refusals_total (docs/operations.md).
const (
	refusedMaxConnections = "max_connections"
	refusedPerIP          = "max_connections_per_ip"
	refusedRate           = "connection_rate_per_ip"
)

// Refusal bodies. Over the node's limit a client should try another node
// (503); over its address's limits it should slow down (429).
const (
	bodyMaxConnections = "server is at its connection limit"
	bodyPerIP          = "too many connections from this address"
	bodyRate           = "connecting too fast from this address"
)

// limitBucketIdle is how many idle buckets the rate limiter keeps before it
// sweeps out the full ones, so that a scan of many addresses cannot grow the
// table without bound.
const limitBucketIdle = 4096

// limits admits new Engine.IO sessions (WebSocket or polling handshakes)
// under Config.MaxConnections, MaxConnectionsPerIP and ConnectionRatePerIP.
// Every session counts from its handshake to its close; a probe WebSocket
// joins an existing session and is not counted.
type limits struct {
	maxConnections int
	maxPerIP       int
	rate           float64
	burst          float64

	mu       sync.Mutex
	sessions int                    // guarded by mu
	perIP    map[string]int         // guarded by mu
	buckets  map[string]*ipBucket   // guarded by mu
	counted  map[*clientConn]string // guarded by mu; session -> the address it counts against
	// countedPeak and perIPPeak are the maps' peaks: see shrinkAfterDelete.
	countedPeak, perIPPeak int // guarded by mu
}

type ipBucket struct {
	tokens float64
	refill int64 // Unix nanoseconds of the last refill
}

func newLimits(config Config) *limits {
	return &limits{
		maxConnections: config.MaxConnections,
		maxPerIP:       config.MaxConnectionsPerIP,
		rate:           config.ConnectionRatePerIP,
		burst:          max(1, 2*config.ConnectionRatePerIP),
		perIP:          make(map[string]int),
		buckets:        make(map[string]*ipBucket),
		counted:        make(map[*clientConn]string),
	}
}

// admit decides whether a new session from ip may open; it returns the
// refusal reason, or "" to admit. An admitted session must be registered
// with opened at once (the check and the count are not one step: two racing
// handshakes may both pass a limit by one).
func (l *limits) admit(ip string, now int64) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.maxConnections > 0 && l.sessions >= l.maxConnections {
		return refusedMaxConnections
	}
	if l.maxPerIP > 0 && l.perIP[ip] >= l.maxPerIP {
		return refusedPerIP
	}
	if l.rate > 0 {
		bucket := l.buckets[ip]
		if bucket == nil {
			if len(l.buckets) >= limitBucketIdle {
				l.sweepLocked(now)
			}
			bucket = &ipBucket{tokens: l.burst, refill: now}
			l.buckets[ip] = bucket
		}
		bucket.tokens = min(l.burst, bucket.tokens+float64(now-bucket.refill)/1e9*l.rate)
		bucket.refill = now
		if bucket.tokens < 1 {
			return refusedRate
		}
		bucket.tokens--
	}
	return ""
}

// sweepLocked drops the buckets that have refilled completely: they carry no
// information a fresh bucket would not.
func (l *limits) sweepLocked(now int64) {
	for ip, bucket := range l.buckets {
		if bucket.tokens+float64(now-bucket.refill)/1e9*l.rate >= l.burst {
			delete(l.buckets, ip)
		}
	}
}

// opened counts c against ip until closed is called for it.
func (l *limits) opened(ip string, c *clientConn) {
	l.mu.Lock()
	if _, known := l.counted[c]; !known {
		l.counted[c] = ip
		l.sessions++
		l.perIP[ip]++
		notePeak(l.counted, &l.countedPeak)
		notePeak(l.perIP, &l.perIPPeak)
	}
	l.mu.Unlock()
}

// closed releases what opened counted for c; it is safe to call for a
// connection that was never counted, and more than once.
func (l *limits) closed(c *clientConn) {
	l.mu.Lock()
	if ip, known := l.counted[c]; known {
		delete(l.counted, c)
		l.counted = shrinkAfterDelete(l.counted, &l.countedPeak)
		l.sessions--
		if l.perIP[ip] <= 1 {
			delete(l.perIP, ip)
			l.perIP = shrinkAfterDelete(l.perIP, &l.perIPPeak)
		} else {
			l.perIP[ip]--
		}
	}
	l.mu.Unlock()
}

// refusalStatus is the HTTP answer to a refused handshake.
func refusalStatus(reason string) (int, string) {
	switch reason {
	case refusedMaxConnections:
		return 503, bodyMaxConnections
	case refusedPerIP:
		return 429, bodyPerIP
	default:
		return 429, bodyRate
	}
}

// clientIP returns the address a request counts against: the peer's, or,
// when the peer is one of Config.TrustedProxies, the last address in
// X-Forwarded-For that is not itself a trusted proxy.
func clientIP(trusted []netip.Prefix, remoteAddr, forwardedFor string) string {
	peer := hostOf(remoteAddr)
	if len(trusted) == 0 || forwardedFor == "" {
		return peer
	}
	address, err := netip.ParseAddr(peer)
	if err != nil || !inPrefixes(trusted, address.Unmap()) {
		return peer
	}
	hops := strings.Split(forwardedFor, ",")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a hop we cannot read: trust nothing before it
		}
		client = hop.Unmap().String()
		if !inPrefixes(trusted, hop.Unmap()) {
			break
		}
	}
	return client
}

func inPrefixes(prefixes []netip.Prefix, address netip.Addr) bool {
	for _, prefix := range prefixes {
		if prefix.Contains(address) {
			return true
		}
	}
	return false
}

// hostOf strips the port from a host:port address.
func hostOf(address string) string {
	if host, _, err := net.SplitHostPort(address); err == nil {
		return host
	}
	return address
}

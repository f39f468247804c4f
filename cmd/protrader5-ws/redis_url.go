package main

import (
	"net/url"
	"strings"

	"github.com/redis/rueidis"
)

// redisURL checks REDIS_URL and returns it in the form rueidis reads. It
// accepts what the Node.js Redis clients (node-redis, ioredis) accept, so
// that the URL of the Node.js deployment works unchanged:
//
//	redis://host, redis://host:6379, rediss://host:6380   (port 6379 when none)
//	redis://host:6379/  redis://host:6379/0               (an empty path is database 0)
//	redis://:password@host  redis://user:password@host    (ACL user, percent-encoded)
//	redis://host:6379?db=2&client_name=gateway            (rueidis' own query options)
//	redis:// and redis:///                                (localhost:6379, as node-redis)
//
// The URL may hold a password: problems name it only redacted.
func (p *configParser) redisURL(value string) (string, bool) {
	// A '#' is no part of a Redis URL: most likely it is in a password that
	// was not percent-encoded, and would cut the URL short. Not echoed:
	// what follows it may be the rest of the password.
	if strings.Contains(value, "#") {
		p.fail("REDIS_URL", "holds a '#': percent-encode it (%%23) if it is part of the password")
		return "", false
	}
	parsed, err := url.Parse(value)
	switch {
	case err != nil:
		p.fail("REDIS_URL", "is not a valid URL")
		return "", false
	case parsed.Scheme != "redis" && parsed.Scheme != "rediss":
		p.fail("REDIS_URL", "scheme %q is not redis:// or rediss://", parsed.Scheme)
		return "", false
	case parsed.Opaque != "":
		p.fail("REDIS_URL", "%q is not of the form redis://host:port", parsed.Redacted())
		return "", false
	}
	// rueidis reads the path as a database number and refuses "/", which
	// node-redis and ioredis take as database 0.
	if parsed.Path == "/" {
		parsed.Path, parsed.RawPath = "", ""
	}
	// Written back below as redis://localhost:6379: rueidis defaults an
	// empty host too, but URL.String would drop the "//" that the ingest
	// checks for.
	if parsed.Host == "" {
		parsed.Host = "localhost:6379"
	}
	normalized := parsed.String()
	if _, err := rueidis.ParseURL(normalized); err != nil {
		p.fail("REDIS_URL", "%q: %v", parsed.Redacted(), err)
		return "", false
	}
	return normalized, true
}

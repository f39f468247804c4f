package ingest

import "errors"

var (
	// ErrNoRouter is returned by NewRedis when RedisOptions.Router is nil.
	ErrNoRouter = errors.New("ingest: no router")
	// ErrInvalidURL is returned by NewRedis when RedisOptions.URL is not a
	// redis:// or rediss:// URL rueidis can parse.
	ErrInvalidURL = errors.New("ingest: invalid redis url")
	// ErrTLSCAFile is returned by NewRedis when RedisOptions.TLSCAFile cannot
	// be read or holds no PEM certificate, or is set for a plain redis:// URL.
	ErrTLSCAFile = errors.New("ingest: invalid redis tls ca file")
	// ErrNotConnected is returned by the snapshot reads of Redis while its
	// read client has not connected yet (Run not started, or Redis down at
	// start-up).
	ErrNotConnected = errors.New("ingest: redis not connected")
	// ErrInvalidSymbol is returned by Redis.LastTick for a symbol that does
	// not match ^[A-Z0-9][A-Z0-9._:/-]{0,31}$.
	ErrInvalidSymbol = errors.New("ingest: invalid symbol")
	// ErrInvalidUser is returned by Redis.Positions for an empty, oversized
	// or non-UTF-8 user id.
	ErrInvalidUser = errors.New("ingest: invalid user id")
	// ErrInvalidSnapshot is returned by Redis.LastTick when the stored tick
	// is not a valid tick of the requested symbol.
	ErrInvalidSnapshot = errors.New("ingest: invalid snapshot value")
)

//go:build pprof

package main

// Built only with -tags pprof, for profiling a gateway under load
// (bench/RESULTS.md, "Memory per connection"): PPROF_ADDR=127.0.0.1:6060
// serves net/http/pprof there. Production builds have no profiling
// endpoint, so no setting can expose one.

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	if address := os.Getenv("PPROF_ADDR"); address != "" {
		go func() { _ = http.ListenAndServe(address, nil) }()
	}
}

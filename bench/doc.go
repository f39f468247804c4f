// Package bench holds the gateway's performance gates: `go test -bench`
// benchmarks over real loopback sockets with the syscall floor measured in
// the same run, the load generator (bench/loadgen), the floor relay
// (bench/floor) and the Node.js reference server (bench/reference/node).
package bench

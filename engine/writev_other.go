//go:build !linux

package engine

import "syscall"

// writevNonblocking is the fallback where the engine has no non-blocking
// writev of its own (macOS, for development): nothing is written from the
// caller, and every write goes to the connection's waiting writer, which
// writes through netpoll. The latency and syscall savings of the Linux
// path are Linux's only.
func writevNonblocking(int, [][]byte, []syscall.Iovec) (int, error) {
	return 0, errWouldBlock
}

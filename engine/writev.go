package engine

import "errors"

// maxIovecs is the kernel's IOV_MAX: writev takes at most this many buffers.
const maxIovecs = 1024

// errWouldBlock reports that the socket's send buffer is full.
var errWouldBlock = errors.New("engine: write would block")

// remainingAfter returns the part of buffers not covered by the first n
// bytes, as a fresh slice (the caller's scratch is reused).
func remainingAfter(buffers [][]byte, n int) [][]byte {
	for len(buffers) > 0 && n >= len(buffers[0]) {
		n -= len(buffers[0])
		buffers = buffers[1:]
	}
	rest := make([][]byte, len(buffers))
	copy(rest, buffers)
	if len(rest) > 0 {
		rest[0] = rest[0][n:]
	}
	return rest
}

//go:build !windows

package netpoll

import (
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The patch's idle connection: these tests pin what a connection keeps
// between messages, which the gateway counts on for its memory per
// connection (engine/netpollpatch/README.md).

// connectionPair returns the two ends of a socket pair as connections,
// closed when t ends.
func connectionPair(t *testing.T) (r, w *connection) {
	rfd, wfd := GetSysFdPairs()
	r, w = &connection{}, &connection{}
	MustNil(t, r.init(&netFD{fd: rfd}, nil))
	MustNil(t, w.init(&netFD{fd: wfd}, nil))
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// TestIdleConnectionKeepsNoReadBuffer reads messages to the end and checks
// that the input buffer then holds no memory: its only node is an empty
// one. Upstream kept the last node and its buffer (512 B here, a 4 KB page
// by default) for as long as the connection lived.
func TestIdleConnectionKeepsNoReadBuffer(t *testing.T) {
	rconn, wconn := connectionPair(t)

	for round := 0; round < 3; round++ {
		message := []byte{'a' + byte(round), 'b', 'c'}
		_, err := wconn.Write(message)
		MustNil(t, err)
		read, err := rconn.Reader().Next(len(message))
		MustNil(t, err)
		Equal(t, string(read), string(message))
		MustNil(t, rconn.Reader().Release())

		buffer := rconn.inputBuffer
		Assert(t, buffer.head == buffer.write, "round", round, ": the input buffer keeps nodes behind its tail")
		Equal(t, cap(buffer.write.buf), 0)
	}
}

// TestWaitsKeepNoTriggerOrTimer makes a reader wait for bytes and a flush
// wait for a full socket, and checks that neither leaves a trigger behind
// (upstream made two channels per connection up front and kept the timer
// of its first timed wait).
func TestWaitsKeepNoTriggerOrTimer(t *testing.T) {
	rconn, wconn := connectionPair(t)
	Assert(t, atomic.LoadPointer(&rconn.readTrigger) == nil, "a trigger before any wait")

	MustNil(t, rconn.SetReadTimeout(5*time.Second))
	done := make(chan error, 1)
	go func() {
		_, err := rconn.Reader().Next(4)
		done <- err
	}()
	for atomic.LoadPointer(&rconn.readTrigger) == nil {
		time.Sleep(time.Millisecond) // the reader has not armed its wait yet
	}
	_, err := wconn.Write([]byte("ping"))
	MustNil(t, err)
	MustNil(t, <-done)
	Assert(t, atomic.LoadPointer(&rconn.readTrigger) == nil, "the reader's trigger outlived its wait")

	// A peer that never reads (a plain socket, not a netpoll connection,
	// which would read on its own): the writer's socket fills and its
	// flush waits until the write timeout.
	peer, w2 := GetSysFdPairs()
	defer syscall.Close(peer)
	writer := &connection{}
	MustNil(t, writer.init(&netFD{fd: w2, remoteAddr: &net.UnixAddr{Name: "peer", Net: "unix"}}, nil))
	defer writer.Close()
	MustNil(t, writer.SetWriteTimeout(50*time.Millisecond))
	_, err = writer.Write(make([]byte, 4<<20))
	Assert(t, errors.Is(err, ErrWriteTimeout), "a flush into a full socket returned", err)
	Assert(t, atomic.LoadPointer(&writer.writeTrigger) == nil, "the flush's trigger outlived its wait")
}

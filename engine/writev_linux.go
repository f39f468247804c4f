package engine

import (
	"syscall"
	"unsafe"
)

// writevNonblocking writes buffers to the non-blocking socket fd with as few
// writev calls as possible and returns how many bytes went out. It never
// waits: a full send buffer ends it with errWouldBlock. iovecs is scratch
// space so that the call allocates nothing.
func writevNonblocking(fd int, buffers [][]byte, iovecs []syscall.Iovec) (int, error) {
	written := 0
	for len(buffers) > 0 {
		count := min(len(buffers), maxIovecs, cap(iovecs))
		iovecs = iovecs[:0]
		want := 0
		for _, buffer := range buffers[:count] {
			if len(buffer) == 0 {
				continue
			}
			iovecs = append(iovecs, syscall.Iovec{Base: &buffer[0]})
			iovecs[len(iovecs)-1].SetLen(len(buffer))
			want += len(buffer)
		}
		if want == 0 {
			buffers = buffers[count:]
			continue
		}
		n, _, errno := syscall.Syscall(syscall.SYS_WRITEV, uintptr(fd),
			uintptr(unsafe.Pointer(&iovecs[0])), uintptr(len(iovecs)))
		if errno != 0 {
			if errno == syscall.EINTR {
				continue
			}
			if errno == syscall.EAGAIN {
				return written, errWouldBlock
			}
			return written, errno
		}
		written += int(n)
		if int(n) < want {
			return written, errWouldBlock
		}
		buffers = buffers[count:]
	}
	return written, nil
}

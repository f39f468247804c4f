package main

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// tcpEstablished reports whether conn is still ESTABLISHED, read from the
// kernel (TCP_INFO), so that a socket that never reads can tell the server
// closed it without reading.
func tcpEstablished(conn net.Conn) bool {
	syscallConn, ok := conn.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := syscallConn.SyscallConn()
	if err != nil {
		return false
	}
	const established = 1 // TCP_ESTABLISHED in include/net/tcp_states.h
	state := uint8(0)
	if err := raw.Control(func(fd uintptr) {
		if info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			state = info.State
		}
	}); err != nil {
		return false
	}
	return state == established
}

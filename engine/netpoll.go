package engine

import (
	"github.com/cloudwego/netpoll"
)

// netpollBufferSize is the first read buffer of a connection and the
// smallest buffer node netpoll allocates. Client messages here are small
// (pongs, subscribe events), and netpoll doubles a connection's read size
// by itself when a large message arrives. The patched netpoll
// (netpollpatch) gives a connection's last node back to its pool once
// everything was read, so an idle connection holds none; with upstream,
// every idle connection kept one, and netpoll's default (a 4 KiB page)
// would have been most of its memory.
const netpollBufferSize = 512

// netpoll reads these settings when connections are created; they must be
// set before the first one, hence init.
func init() {
	netpoll.LinkBufferCap = netpollBufferSize
	if err := netpoll.Configure(netpoll.Config{BufferSize: netpollBufferSize}); err != nil {
		panic("engine: configuring netpoll: " + err.Error())
	}
}

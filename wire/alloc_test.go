//go:build !race

// The race detector makes sync.Pool drop items on purpose, and
// encoding/json.Valid (validJSON) keeps its scanners in one, so these
// gates run in the plain (non-race) test pass only.

package wire

import (
	"testing"

	"github.com/gobwas/ws"
)

// The hot path builds every outgoing frame with these functions and parses
// every incoming header and packet: allocation budgets are hard gates.

func TestAllocations(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation changes allocation counts")
	}
	dst := make([]byte, 0, 1<<17)
	large := make([]byte, 70000)
	header := []byte{0x81, 0xfe, 0x01, 0x00, 1, 2, 3, 4}
	closeBody := []byte{0x03, 0xe9, 'b', 'y', 'e'}
	message := []byte(`42["subscribe:market",{"symbols":["BTCUSD"]}]`)
	socketPacket := []byte(`2/admin,12["subscribe:market",{"symbols":["BTCUSD","ETHUSD"]}]`)
	tests := []struct {
		name string
		run  func()
	}{
		{name: "AppendFrame", run: func() { sinkBytes = AppendFrame(dst[:0], OpText, tick) }},
		{name: "AppendFrame 64-bit", run: func() { sinkBytes = AppendFrame(dst[:0], OpBinary, large) }},
		{name: "AppendFrameHeader", run: func() { sinkBytes = AppendFrameHeader(dst[:0], OpText, 300) }},
		{name: "AppendClose", run: func() { sinkBytes = AppendClose(dst[:0], CloseGoingAway, "server shutting down") }},
		{name: "AppendEvent", run: func() { sinkBytes = AppendEvent(dst[:0], "/", "market:data", tick) }},
		{name: "AppendEvent escaped name", run: func() { sinkBytes = AppendEvent(dst[:0], "/admin", "a\"b\n\xff", tick) }},
		{name: "AppendAck", run: func() { sinkBytes = AppendAck(dst[:0], "/", 12, []byte(`{"ok":true}`)) }},
		{name: "AppendConnect", run: func() { sinkBytes = AppendConnect(dst[:0], "/", "oSO0OpakMV_3jnilAAAA") }},
		{name: "AppendConnectRecoverable", run: func() {
			sinkBytes = AppendConnectRecoverable(dst[:0], "/", "oSO0OpakMV_3jnilAAAA", "Q2ZwwNqsn6W8d1PgAAAB")
		}},
		{name: "AppendConnectError", run: func() { sinkBytes = AppendConnectError(dst[:0], "/", []byte(`{"message":"x"}`)) }},
		{name: "AppendDisconnect", run: func() { sinkBytes = AppendDisconnect(dst[:0], "/admin") }},
		{name: "AppendSocketPacket", run: func() {
			sinkBytes = AppendSocketPacket(dst[:0], SocketPacket{Type: SocketBinaryAck, Namespace: "/a", ID: 7, Data: tick, Attachments: 2})
		}},
		{name: "AppendPacket", run: func() { sinkBytes = AppendPacket(dst[:0], Packet{Type: PacketMessage, Data: tick}) }},
		{name: "AppendPacket binary", run: func() { sinkBytes = AppendPacket(dst[:0], Packet{Type: PacketMessage, Data: tick, Binary: true}) }},
		{name: "AppendPayloadText", run: func() { sinkBytes = AppendPayloadText(AppendPayloadText(dst[:0], 0, message), 0, message) }},
		{name: "AppendOpen", run: func() {
			sinkBytes = AppendOpen(dst[:0], OpenInfo{SID: "x", Upgrades: []string{"websocket"}, PingInterval: 25e9, PingTimeout: 20e9, MaxPayload: 1e6})
		}},
		{name: "ParseFrameHeader", run: func() {
			if _, _, err := ParseFrameHeader(header); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "ws.Cipher, the engine's unmasking", run: func() { ws.Cipher(large, [4]byte{1, 2, 3, 4}, 3) }},
		{name: "ParseClosePayload", run: func() {
			if _, _, err := ParseClosePayload(closeBody); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "ParsePacket", run: func() {
			if _, err := ParsePacket(message); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "ParseSocketPacket main namespace", run: func() {
			if _, err := ParseSocketPacket(message[1:]); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "ParseSocketPacket reserved check", run: func() {
			if _, err := ParseSocketPacket([]byte(`2["\u0063onnect"]`)); err != ErrReservedEvent {
				t.Fatal(err)
			}
		}},
	}
	for _, test := range tests {
		if allocations := testing.AllocsPerRun(100, test.run); allocations != 0 {
			t.Errorf("%s: %v allocations per run; want 0", test.name, allocations)
		}
	}
	// A namespace is copied into a string: exactly one allocation.
	if allocations := testing.AllocsPerRun(100, func() {
		if _, err := ParseSocketPacket(socketPacket); err != nil {
			t.Fatal(err)
		}
	}); allocations != 1 {
		t.Errorf("ParseSocketPacket with a namespace: %v allocations per run; want 1", allocations)
	}
}

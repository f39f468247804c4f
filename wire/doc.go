// Package wire is the gateway's codec: pure functions over []byte that parse
// what clients send and build what the server sends. There is no I/O, no
// goroutine, no logging and no configuration here; callers own every buffer.
//
// What is here:
//
//   - Engine.IO v4 packets (eio.go): ParsePacket, AppendPacket, AppendOpen,
//     ParseOpen. Spec: https://github.com/socketio/engine.io-protocol (v4),
//     §packet encoding, §handshake.
//   - Engine.IO v4 HTTP long-polling payloads (polling.go): packets joined by
//     the record separator 0x1e, binary packets as 'b' + base64.
//     Spec: engine.io-protocol v4 §HTTP long-polling.
//   - Socket.IO v5 packets (socketio.go, event.go): ParseSocketPacket
//     validates exactly like the reference socket.io-parser v4 decoder
//     (decodeString + isPayloadValid), ParseEvent splits an event into its
//     name and raw JSON arguments, and the Append* builders write complete
//     Engine.IO message texts ("42[...]") for the server's packets.
//     Spec: https://github.com/socketio/socket.io-protocol (v5).
//   - RFC 6455 frames, in gobwas/ws's vocabulary (frame.go: OpCode,
//     FrameHeader and StatusCode are its types): header parsing in place
//     with the §5.2/§5.5 checks (frameread.go), the unmasked server frame
//     built in one buffer (header + payload) so that one frame can be shared
//     by every connection, with no allocation beyond growing the caller's
//     buffer (framewrite.go), and close frames (close.go). Unmasking (§5.3)
//     is ws.Cipher.
//   - JSON (json.go, jsonstring.go): client payloads validated by
//     encoding/json.Valid (RFC 8259 as JSON.parse reads it, at most 10,000
//     levels deep), then a top-level array walked without decoding it;
//     strings escaped and unescaped.
//
// What is not here: sockets, the WebSocket handshake (gobwas/ws in package
// engine), frame reassembly and UTF-8 checks across fragments, heartbeats,
// namespaces as state, acks as state, binary attachment reassembly,
// permessage-deflate.
//
// Ownership: parsed values alias their input unless a doc comment says
// otherwise (Event.Name, SocketPacket.Namespace and binary polling packets
// are copies). Nothing in this package keeps a reference after it returns,
// and every function is safe for concurrent use on distinct buffers.
//
// Errors are the sentinels in errors.go; compare with errors.Is. Functions
// panic only for programmer misuse (such as a negative frame length), never
// for input.
package wire

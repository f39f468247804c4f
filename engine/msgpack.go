package engine

import (
	"sync"

	"github.com/protrader5/ws-gateway/wire"
)

// Clients that use socket.io-msgpack-parser (docs/protocol.md, msgpack
// clients) send and expect every Socket.IO packet as one binary Engine.IO
// message holding a msgpack map. A connection's parser is known from its
// first Socket.IO packet: a JSON client's first one is its CONNECT, always
// text (binary data only ever follows a text packet announcing it); a
// msgpack client's is the same CONNECT, always binary. So the first
// message packet decides, and nothing needs configuring.
//
// The engine still builds every server packet once, as JSON. A msgpack
// socket gets the msgpack translation (wire.AppendMsgpackSocketPacket) of
// each, built once and shared as the JSON frame is:
//   - a tick: lazily, by the first msgpack subscriber to collect it, into a
//     second slot of its ring position (symbolRing.msgpackAt);
//   - a user message: by the shard worker, once per message for all the
//     user's msgpack sockets (shard.deliver);
//   - everything else (acks, errors, CONNECT answers, replays, frames
//     queued to many sockets by other paths): when a socket collects it
//     (collectLocked); the shard remembers its last translation, so a
//     frame queued to many of its sockets is translated once.
// Engine.IO packets (open, ping, noop, close) are the same for both.

// clientParser is the Socket.IO parser a connection's client uses.
type clientParser uint8

const (
	parserUnknown clientParser = iota // no Socket.IO packet yet
	parserJSON                        // socket.io-parser, the default: text packets
	parserMsgpack                     // socket.io-msgpack-parser: binary msgpack packets
)

// setParser records the parser of c's first Socket.IO packet. Only the
// reader calls it; collectLocked reads parser under mu.
func (c *clientConn) setParser(parser clientParser) {
	c.mu.Lock()
	c.parser = parser
	c.mu.Unlock()
}

// handleMsgpackMessage handles a binary Engine.IO message of a connection
// whose parser is msgpack or not yet known: one msgpack Socket.IO packet.
// It is rewritten as the packet's text form and handled as a JSON client's
// packet is, so that the checks, limits and answers are the same. It
// reports false when the connection must close.
func (e *Engine) handleMsgpackMessage(c *clientConn, data []byte) bool {
	// The text form may be as large as a JSON client's frame may be.
	limit := int(e.maxFrame(c.authenticated()))
	text, err := wire.DecodeMsgpackSocketPacket(nil, data, limit)
	switch err {
	case nil:
	case wire.ErrMsgpackTooLarge:
		return e.closeProtocol(c, wire.CloseMessageTooBig, reasonMessageTooBig)
	case wire.ErrMsgpackBinary:
		if c.parser == parserUnknown {
			return false // a CONNECT carries no binary
		}
		// As binary arguments from a JSON client: counted against the
		// event rate, then ignored.
		if _, flood := c.allowEvent(); flood {
			return e.closeEventFlood(c)
		}
		e.metrics.unknownEvents.Add(1)
		return true
	default:
		e.metrics.protocolErrors.Add(1)
		return false
	}
	if c.parser == parserUnknown {
		c.setParser(parserMsgpack)
	}
	return e.handleMessage(c, text)
}

// msgpackScratch holds translations while they are built, so that each
// costs one allocation: the frame's.
var msgpackScratch = sync.Pool{New: func() any { return new([]byte) }}

// translatable reports whether frame is a JSON Socket.IO packet that a
// msgpack socket needs translated: a text frame of an Engine.IO message.
// Binary frames are translations already; Engine.IO's own packets and raw
// bytes (close frames, HTTP answers) are the same for every parser.
func (f *outboundFrame) translatable() bool {
	if f.length < 4 || f.headerLen == 0 {
		return false
	}
	frame := f.WebSocket()
	return frame[0] == 0x80|byte(wire.OpText) && frame[f.headerLen] == byte(wire.PacketMessage)
}

// msgpackFrame returns the msgpack translation of frame, a JSON Socket.IO
// packet (translatable), as a binary frame: over WebSocket a binary message,
// over polling a 'b' packet (appendPollingPayload). It keeps the frame's
// stream and sequence; the delivery latency stamp moves to the translation
// when takeStamp is set (the translation may well go out first). It returns
// nil when the packet cannot be translated, which is counted: the server
// only builds valid packets, so that is a bug, and the frame is left out
// for msgpack sockets rather than sent corrupt.
func (e *Engine) msgpackFrame(frame *outboundFrame, takeStamp bool) *outboundFrame {
	scratch := msgpackScratch.Get().(*[]byte)
	defer msgpackScratch.Put(scratch)
	encoded, err := wire.AppendMsgpackSocketPacket((*scratch)[:0], frame.Payload()[1:])
	*scratch = encoded[:0]
	if err != nil {
		e.metrics.msgpackUntranslatable.Add(1)
		return nil
	}
	translation := allocateFrame(wire.ServerFrameSize(len(encoded)))
	buffer := wire.AppendFrameHeader(translation.WebSocket()[:0], wire.OpBinary, len(encoded))
	translation.headerLen = uint8(len(buffer))
	_ = append(buffer, encoded...)
	translation.seq = frame.seq
	translation.stream = frame.stream
	if takeStamp {
		if received := frame.received.Load(); received != 0 && frame.received.CompareAndSwap(received, 0) {
			translation.received.Store(received)
		}
	}
	return translation
}

// forParserLocked returns what of frame goes to c: frame itself for a JSON
// socket, its translation for a msgpack one, nil when there is none.
// Called with c.mu held.
func (c *clientConn) forParserLocked(frame *outboundFrame) *outboundFrame {
	if c.parser != parserMsgpack || !frame.translatable() {
		return frame
	}
	if c.shard == nil {
		return c.engine.msgpackFrame(frame, true)
	}
	return c.shard.translation(frame)
}

// translationPair is a queued frame and its msgpack translation.
type translationPair struct{ source, translation *outboundFrame }

// translation returns frame's msgpack translation, reusing the shard's
// last one when it is frame's: a frame queued to many sockets of the shard
// (an emitted broadcast, a replay) is then translated once, not per socket.
// The pair holds its source, so the address cannot be reused while it is
// remembered. Safe for concurrent use.
func (s *shard) translation(frame *outboundFrame) *outboundFrame {
	if last := s.lastTranslation.Load(); last != nil && last.source == frame {
		return last.translation
	}
	translation := s.engine.msgpackFrame(frame, true)
	if translation != nil {
		s.lastTranslation.Store(&translationPair{source: frame, translation: translation})
	}
	return translation
}

// msgpackAt returns the msgpack translation of frame, the ring's frame at
// seq, building it on first use. Each position keeps at most one: when two
// shard workers build it at once, one translation is stored and the other
// goes only to the socket that built it. A translation is recognised by its
// seq, so one left from an earlier lap of the ring is never taken.
func (r *symbolRing) msgpackAt(engine *Engine, seq uint64, frame *outboundFrame) *outboundFrame {
	slot := &r.msgpack[seq%ringSize]
	if translation := slot.Load(); translation != nil && translation.seq == seq {
		return translation
	}
	translation := engine.msgpackFrame(frame, true)
	if translation == nil {
		return nil
	}
	for {
		stored := slot.Load()
		switch {
		case stored != nil && stored.seq == seq:
			return stored
		case stored != nil && stored.seq > seq:
			return translation // the position moved on: keep none for seq
		case slot.CompareAndSwap(stored, translation):
			return translation
		}
	}
}

// appendMsgpackLatest is appendLatest for a msgpack socket: the newest
// tick after lastSeq, as its translation. A tick that cannot be translated
// is passed over (msgpackFrame counts it), as appendMsgpackSince does.
func (r *symbolRing) appendMsgpackLatest(engine *Engine, frames []*outboundFrame, lastSeq uint64) ([]*outboundFrame, uint64) {
	for {
		seq := r.seq.Load()
		if seq <= lastSeq {
			return frames, lastSeq
		}
		frame := r.slots[seq%ringSize].Load()
		if frame == nil || frame.seq != seq {
			continue // a newer tick is being pushed: the next load finds it
		}
		if translation := r.msgpackAt(engine, seq, frame); translation != nil {
			frames = append(frames, translation)
		}
		return frames, seq
	}
}

// appendMsgpackSince is appendSince for a msgpack socket: the same ticks,
// as their translations. It walks the ring itself rather than translating
// appendSince's result: a tick already translated costs one more atomic
// load than for a JSON socket.
func (r *symbolRing) appendMsgpackSince(engine *Engine, frames []*outboundFrame, lastSeq uint64) ([]*outboundFrame, uint64, uint64) {
	seq := r.seq.Load()
	if seq <= lastSeq {
		return frames, lastSeq, 0
	}
	from := lastSeq + 1
	var skipped uint64
	if seq-lastSeq > ringSize {
		skipped = seq - from
		from = seq
	}
	for s := from; s <= seq; s++ {
		frame := r.slots[s%ringSize].Load()
		if frame == nil || frame.seq != s {
			skipped++
			continue
		}
		translation := r.msgpack[s%ringSize].Load()
		if translation == nil || translation.seq != s {
			if translation = r.msgpackAt(engine, s, frame); translation == nil {
				skipped++
				continue
			}
		}
		frames = append(frames, translation)
	}
	return frames, seq, skipped
}

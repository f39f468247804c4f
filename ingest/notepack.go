package ingest

import (
	"errors"
	"fmt"
	"math"

	"github.com/protrader5/ws-gateway/wire"
)

// The emitter's messages are MessagePack as notepack.io writes and reads it
// (the parser of @socket.io/redis-emitter and @socket.io/redis-adapter).
// Their values are read by wire.NotepackReader, the same reader as a
// socket.io-msgpack-parser client's packets, so a value reaches clients as
// the JSON a Node.js Socket.IO server would have sent (docs/ingest.md).

// maxNotepackDepth bounds nesting, so a hostile message cannot exhaust the
// stack; Socket.IO payloads nest a few levels at most.
const maxNotepackDepth = 64

var (
	// errEmitterMalformed is returned by decodeEmitterMessage for bytes that
	// are not a notepack emitter message.
	errEmitterMalformed = errors.New("ingest: malformed emitter message")
	// errEmitterBinary is returned by decodeEmitterMessage for an event
	// with binary data (a Buffer, an ArrayBuffer, an unknown extension).
	errEmitterBinary = errors.New("ingest: emitter event with binary data")
)

// newNotepackReader reads an emitter message. Its size is bounded by the
// router's message limit before it is read, so the JSON has no limit of
// its own.
func newNotepackReader(payload []byte) *wire.NotepackReader {
	return wire.NewNotepackReader(payload, maxNotepackDepth, math.MaxInt)
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errEmitterMalformed, fmt.Sprintf(format, args...))
}

// notepackError maps the reader's errors onto the emitter's.
func notepackError(err error) error {
	if errors.Is(err, wire.ErrMsgpackBinary) {
		return errEmitterBinary
	}
	return malformed("%v", err)
}

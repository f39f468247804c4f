package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/protrader5/ws-gateway/engine"
	"github.com/protrader5/ws-gateway/engine/auth"
	"github.com/protrader5/ws-gateway/wire"
)

var (
	// errEmitterMalformed is returned by decodeEmitterMessage for bytes that
	// are not a notepack emitter message.
	errEmitterMalformed = errors.New("ingest: malformed emitter message")
	// errEmitterBinary is returned by decodeEmitterMessage for an event
	// with binary data (a Buffer, an ArrayBuffer, an unknown extension).
	errEmitterBinary = errors.New("ingest: emitter event with binary data")
)

// newNotepackReader reads an emitter message: MessagePack as notepack.io
// writes it (the parser of @socket.io/redis-emitter and
// @socket.io/redis-adapter). Its values are read by the same reader as a
// socket.io-msgpack-parser client's packets, so they reach clients as the
// JSON a Node.js Socket.IO server would have sent (docs/ingest.md). The
// message's size is bounded by the router before it is read, so the JSON
// has no limit of its own.
func newNotepackReader(payload []byte) *wire.NotepackReader {
	return wire.NewNotepackReader(payload, maxNotepackDepth, math.MaxInt)
}

// maxNotepackDepth bounds nesting, so a hostile message cannot exhaust the
// stack; Socket.IO payloads nest a few levels at most.
const maxNotepackDepth = 64

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

// Socket.IO packet types an emitter message may carry (Socket.IO v5).
const (
	packetEvent       = 2
	packetBinaryEvent = 5
)

// emitterMessage is one decoded broadcast of @socket.io/redis-emitter:
// [uid, {type, data, nsp}, {rooms, except, flags}].
type emitterMessage struct {
	namespace  string
	packetType int64
	hasAckID   bool
	// data is the packet's data as JSON, `["event",arg,...]`; args are
	// the spans of each argument in it.
	data     []byte
	event    string
	args     [][2]int
	rooms    []string
	except   []string
	volatile bool
}

// arg returns the JSON of argument i.
func (m *emitterMessage) arg(i int) []byte { return m.data[m.args[i][0]:m.args[i][1]] }

// decodeEmitterMessage decodes payload. Its errors wrap errEmitterMalformed
// or are errEmitterBinary.
func decodeEmitterMessage(payload []byte) (emitterMessage, error) {
	var m emitterMessage
	r := newNotepackReader(payload)
	length, err := r.Decoder().DecodeArrayLen()
	if err != nil || length != 3 {
		return m, malformed("want [uid, packet, options], got %d elements (%v)", length, err)
	}
	if err := r.Decoder().Skip(); err != nil { // the publisher's uid
		return m, malformed("uid: %v", err)
	}
	if err := readPacket(r, &m); err != nil {
		return m, err
	}
	if err := readOptions(r, &m); err != nil {
		return m, err
	}
	if r.Remaining() != 0 {
		return m, malformed("%d bytes after the message", r.Remaining())
	}
	if m.data == nil {
		return m, malformed("packet without data")
	}
	return m, nil
}

func readPacket(r *wire.NotepackReader, m *emitterMessage) error {
	members, err := mapLength(r)
	if err != nil {
		return err
	}
	m.namespace = "/"
	for range members {
		key, err := readString(r)
		if err != nil {
			return err
		}
		switch key {
		case "type":
			if m.packetType, err = r.Decoder().DecodeInt64(); err != nil {
				return malformed("packet type: %v", err)
			}
		case "nsp":
			if m.namespace, err = readString(r); err != nil {
				return err
			}
		case "id":
			m.hasAckID = true
			if err := r.Decoder().Skip(); err != nil {
				return malformed("packet id: %v", err)
			}
		case "data":
			if err := readData(r, m); err != nil {
				return err
			}
		default:
			if err := r.Decoder().Skip(); err != nil {
				return malformed("packet %s: %v", key, err)
			}
		}
	}
	return nil
}

// readData reads the event name and arguments into m.data as JSON.
func readData(r *wire.NotepackReader, m *emitterMessage) error {
	length, err := r.Decoder().DecodeArrayLen()
	if err != nil || length < 1 || length > r.Remaining()+1 {
		return malformed("packet data is not an event array (%v)", err)
	}
	data, event, err := r.AppendString([]byte{'['})
	if err != nil {
		return notepackError(err)
	}
	m.event = event
	// Grown as read: the length is only a claim until the bytes are there.
	m.args = make([][2]int, 0, min(length-1, 8))
	for range length - 1 {
		data = append(data, ',')
		start := len(data)
		var undefined bool
		if data, undefined, err = r.AppendJSON(data); err != nil {
			return notepackError(err)
		}
		if undefined {
			data = append(data, "null"...)
		}
		m.args = append(m.args, [2]int{start, len(data)})
	}
	m.data = append(data, ']')
	return nil
}

func readOptions(r *wire.NotepackReader, m *emitterMessage) error {
	members, err := mapLength(r)
	if err != nil {
		return err
	}
	for range members {
		key, err := readString(r)
		if err != nil {
			return err
		}
		switch key {
		case "rooms":
			m.rooms, err = readStrings(r)
		case "except":
			m.except, err = readStrings(r)
		case "flags":
			err = readFlags(r, m)
		default:
			if err = r.Decoder().Skip(); err != nil {
				err = malformed("options %s: %v", key, err)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func readFlags(r *wire.NotepackReader, m *emitterMessage) error {
	code, err := r.Decoder().PeekCode()
	if err == nil && code == msgpcode.Nil {
		return r.Decoder().DecodeNil()
	}
	members, err := mapLength(r)
	if err != nil {
		return err
	}
	for range members {
		key, err := readString(r)
		if err != nil {
			return err
		}
		if key != "volatile" {
			if err := r.Decoder().Skip(); err != nil {
				return malformed("flag %s: %v", key, err)
			}
			continue
		}
		if m.volatile, err = r.Decoder().DecodeBool(); err != nil {
			return malformed("volatile flag: %v", err)
		}
	}
	return nil
}

// readString reads a str: a key, a namespace, a room.
func readString(r *wire.NotepackReader) (string, error) {
	value, err := r.ReadString()
	if err != nil {
		return "", notepackError(err)
	}
	return value, nil
}

func mapLength(r *wire.NotepackReader) (int, error) {
	length, err := r.Decoder().DecodeMapLen()
	if err != nil || length < 0 || length > r.Remaining()/2 {
		return 0, malformed("want a map (%v)", err)
	}
	return length, nil
}

func readStrings(r *wire.NotepackReader) ([]string, error) {
	code, err := r.Decoder().PeekCode()
	if err == nil && code == msgpcode.Nil {
		return nil, r.Decoder().DecodeNil()
	}
	length, err := r.Decoder().DecodeArrayLen()
	if err != nil || length < 0 || length > r.Remaining() {
		return nil, malformed("want an array of rooms (%v)", err)
	}
	values := make([]string, 0, min(length, 8))
	for range length {
		value, err := readString(r)
		if err != nil {
			return nil, err
		}
		values = append(values, value)
	}
	return values, nil
}

// parseRoom maps a Socket.IO room name onto the gateway's model
// (docs/ingest.md): "user:{id}", "user:{id}:orders|positions|notifications"
// and "market:{SYMBOL}". Any other room has no socket on the gateway.
func parseRoom(name string) (engine.Room, bool) {
	if symbol, ok := strings.CutPrefix(name, "market:"); ok {
		return engine.Room{Symbol: symbol}, wire.ValidSymbol(symbol)
	}
	userID, ok := strings.CutPrefix(name, "user:")
	if !ok {
		return engine.Room{}, false
	}
	room := engine.Room{UserID: userID}
	for _, stream := range []engine.Stream{engine.StreamOrders, engine.StreamPositions, engine.StreamNotifications} {
		if id, cut := strings.CutSuffix(userID, ":"+stream.String()); cut {
			room = engine.Room{UserID: id, Stream: stream}
			break
		}
	}
	return room, auth.ValidUserID(room.UserID)
}

// streamOfEvent returns the stream whose messages go out as event, or 0.
func streamOfEvent(event string) engine.Stream {
	for _, stream := range []engine.Stream{engine.StreamOrders, engine.StreamPositions, engine.StreamNotifications} {
		if stream.EventName() == event {
			return stream
		}
	}
	return 0
}

// requestMessage is a request of @socket.io/redis-emitter on the request
// channel (JSON): socketsJoin, socketsLeave, disconnectSockets,
// serverSideEmit; Socket.IO servers' adapters send others on it too.
type requestMessage struct {
	Type *int `json:"type"`
	Opts struct {
		Rooms  []string `json:"rooms"`
		Except []string `json:"except"`
	} `json:"opts"`
	Close bool `json:"close"`
}

// Request types of the Socket.IO Redis adapter protocol.
const (
	requestSockets          = 0
	requestAllRooms         = 1
	requestRemoteJoin       = 2
	requestRemoteLeave      = 3
	requestRemoteDisconnect = 4
	requestRemoteFetch      = 5
	requestServerSideEmit   = 6
)

func decodeEmitterRequest(payload []byte) (requestMessage, bool) {
	var request requestMessage
	if err := json.Unmarshal(payload, &request); err != nil || request.Type == nil {
		return request, false
	}
	return request, true
}

// parseRooms returns the rooms of names that the gateway's model knows,
// leaving out the others.
func parseRooms(names []string) []engine.Room {
	var rooms []engine.Room
	for _, name := range names {
		if room, ok := parseRoom(name); ok {
			rooms = append(rooms, room)
		}
	}
	return rooms
}

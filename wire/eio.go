package wire

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"time"
)

// PacketType is an Engine.IO v4 packet type, the ASCII digit that starts a
// text-encoded packet (Engine.IO v4 §packet encoding).
type PacketType byte

// Engine.IO v4 packet types.
const (
	PacketOpen    PacketType = '0'
	PacketClose   PacketType = '1'
	PacketPing    PacketType = '2'
	PacketPong    PacketType = '3'
	PacketMessage PacketType = '4'
	PacketUpgrade PacketType = '5'
	PacketNoop    PacketType = '6'
)

// String returns the packet type's name as the Engine.IO v4 spec spells it.
func (t PacketType) String() string {
	switch t {
	case PacketOpen:
		return "open"
	case PacketClose:
		return "close"
	case PacketPing:
		return "ping"
	case PacketPong:
		return "pong"
	case PacketMessage:
		return "message"
	case PacketUpgrade:
		return "upgrade"
	case PacketNoop:
		return "noop"
	}
	return "PacketType(" + strconv.Itoa(int(t)) + ")"
}

// Packet is one Engine.IO packet. Data aliases the input it was parsed from.
type Packet struct {
	Type   PacketType
	Data   []byte // text after the type byte; for Binary packets the raw bytes
	Binary bool
}

// ParsePacket parses one text-encoded packet (a WebSocket text frame, or one
// polling segment that does not start with 'b'). Data aliases text and is nil
// when the packet is only its type byte. It does not allocate.
//
// Engine.IO v4 §packet encoding: `<type digit>[<data>]`. A binary packet sent
// as a WebSocket binary frame has no type byte: the caller builds
// Packet{Type: PacketMessage, Data: frame, Binary: true} itself.
func ParsePacket(text []byte) (Packet, error) {
	if len(text) == 0 {
		return Packet{}, ErrEmptyPacket
	}
	packetType := PacketType(text[0])
	if packetType < PacketOpen || packetType > PacketNoop {
		return Packet{}, ErrInvalidPacketType
	}
	packet := Packet{Type: packetType}
	if len(text) > 1 {
		packet.Data = text[1:]
	}
	return packet, nil
}

// AppendPacket appends the text encoding of p to dst: the type byte and Data.
// A Binary packet is appended as 'b' + standard base64 of Data, the form
// Engine.IO v4 uses for binary data in a text transport (§packet encoding,
// HTTP long-polling); over WebSocket, send binary data as a binary frame.
func AppendPacket(dst []byte, p Packet) []byte {
	if p.Binary {
		dst = append(dst, 'b')
		return base64.StdEncoding.AppendEncode(dst, p.Data)
	}
	dst = append(dst, byte(p.Type))
	return append(dst, p.Data...)
}

// OpenInfo is the JSON of the open packet (Engine.IO v4 §handshake).
type OpenInfo struct {
	SID          string
	Upgrades     []string      // e.g. ["websocket"] for a polling session, [] for websocket
	PingInterval time.Duration // encoded in ms
	PingTimeout  time.Duration // encoded in ms
	MaxPayload   int
}

// AppendOpen appends the open packet
// `0{"sid":"...","upgrades":[...],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`
// (Engine.IO v4 §handshake). Strings are JSON-escaped; nil Upgrades is `[]`.
func AppendOpen(dst []byte, o OpenInfo) []byte {
	dst = append(dst, `0{"sid":`...)
	dst = appendJSONString(dst, o.SID)
	dst = append(dst, `,"upgrades":[`...)
	for i, upgrade := range o.Upgrades {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, upgrade)
	}
	dst = append(dst, `],"pingInterval":`...)
	dst = strconv.AppendInt(dst, o.PingInterval.Milliseconds(), 10)
	dst = append(dst, `,"pingTimeout":`...)
	dst = strconv.AppendInt(dst, o.PingTimeout.Milliseconds(), 10)
	dst = append(dst, `,"maxPayload":`...)
	dst = strconv.AppendInt(dst, int64(o.MaxPayload), 10)
	return append(dst, '}')
}

// openJSON is the wire shape of the open packet's data, for ParseOpen.
type openJSON struct {
	SID          *string  `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int64    `json:"pingInterval"`
	PingTimeout  int64    `json:"pingTimeout"`
	MaxPayload   int      `json:"maxPayload"`
}

// ParseOpen parses the data of an open packet (the text after '0'), the
// inverse of AppendOpen. It is meant for clients and tests, not the server's
// hot path: it allocates. A missing sid gives ErrInvalidOpen.
func ParseOpen(data []byte) (OpenInfo, error) {
	var decoded openJSON
	if err := json.Unmarshal(data, &decoded); err != nil || decoded.SID == nil {
		return OpenInfo{}, ErrInvalidOpen
	}
	upgrades := decoded.Upgrades
	if upgrades == nil {
		upgrades = []string{}
	}
	return OpenInfo{
		SID:          *decoded.SID,
		Upgrades:     upgrades,
		PingInterval: time.Duration(decoded.PingInterval) * time.Millisecond,
		PingTimeout:  time.Duration(decoded.PingTimeout) * time.Millisecond,
		MaxPayload:   decoded.MaxPayload,
	}, nil
}

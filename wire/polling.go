package wire

import (
	"bytes"
	"encoding/base64"
	"fmt"
)

// RecordSeparator separates the packets of an HTTP long-polling payload
// (Engine.IO v4 §HTTP long-polling: packets are joined with "\x1e").
const RecordSeparator byte = 0x1e

// DecodePayload calls fn for each packet of a polling payload, in order.
// A payload is packets joined by the record separator 0x1e; a binary packet is
// 'b' + standard base64 (Engine.IO v4 §HTTP long-polling). Data of text packets
// aliases body; Data of binary packets is freshly decoded bytes.
//
// An empty segment (so also an empty body), bad base64 or a bad packet type
// gives an error that matches ErrInvalidPayload, and the packets before it have
// already been handed to fn, as the reference decodePayload does. DecodePayload
// stops at the first error from fn and returns it unchanged.
func DecodePayload(body []byte, fn func(Packet) error) error {
	for {
		segment, rest, more := bytes.Cut(body, []byte{RecordSeparator})
		packet, err := decodeSegment(segment)
		if err != nil {
			return err
		}
		if err := fn(packet); err != nil {
			return err
		}
		if !more {
			return nil
		}
		body = rest
	}
}

// decodeSegment decodes one packet of a polling payload.
func decodeSegment(segment []byte) (Packet, error) {
	if len(segment) > 0 && segment[0] == 'b' {
		encoded := segment[1:]
		decoded := make([]byte, base64.StdEncoding.DecodedLen(len(encoded)))
		n, err := base64.StdEncoding.Decode(decoded, encoded)
		if err != nil {
			return Packet{}, fmt.Errorf("%w: %w", ErrInvalidPayload, err)
		}
		return Packet{Type: PacketMessage, Data: decoded[:n], Binary: true}, nil
	}
	packet, err := ParsePacket(segment)
	if err != nil {
		return Packet{}, fmt.Errorf("%w: %w", ErrInvalidPayload, err)
	}
	return packet, nil
}

// AppendPayloadPacket appends p (encoded as by AppendPacket) to a payload being
// built in dst, inserting the 0x1e separator when dst already holds
// len(dst) > start bytes of this payload (start = offset where the payload began).
func AppendPayloadPacket(dst []byte, start int, p Packet) []byte {
	if len(dst) > start {
		dst = append(dst, RecordSeparator)
	}
	return AppendPacket(dst, p)
}

// AppendPayloadText appends an already-encoded text packet (e.g. "42[...]")
// with the same separator rule as AppendPayloadPacket. encoded must not
// contain 0x1e. JSON always escapes that control character, so the packets
// built here hold it only if a namespace does.
func AppendPayloadText(dst []byte, start int, encoded []byte) []byte {
	if len(dst) > start {
		dst = append(dst, RecordSeparator)
	}
	return append(dst, encoded...)
}

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
)

// messageKind is the Engine.IO / Socket.IO packet type of a text frame, as far
// as a client of the "/" namespace needs to tell them apart.
type messageKind uint8

const (
	messageOther        messageKind = iota
	messageOpen                     // Engine.IO "0{...}"
	messagePing                     // Engine.IO "2"
	messageConnect                  // Socket.IO "40{...}"
	messageDisconnect               // Socket.IO "41"
	messageEvent                    // Socket.IO "42[...]" (optionally with an ack id)
	messageAck                      // Socket.IO "43<id>[...]"
	messageConnectError             // Socket.IO "44{...}"
	messageClose                    // Engine.IO "1"
)

// inboundMessage is a decoded text frame. event and body alias the frame
// buffer: they are valid until the next frame is read.
type inboundMessage struct {
	kind  messageKind
	event []byte // event name, for messageEvent
	body  []byte // first argument (JSON), or the CONNECT/CONNECT_ERROR object
	// offset is the recovery offset a server with connection state
	// recovery appends to the events it can replay: the last argument, when
	// the event has more than one and the last is a string. It is not part
	// of body.
	offset []byte
	ackID  int64 // -1 when absent
}

var errMessageFormat = errors.New("loadgen: malformed socket.io message")

// parseMessage decodes an Engine.IO v4 / Socket.IO v5 text frame payload
// (engine.io-protocol "packet encoding", socket.io-protocol "format").
// Only the shapes the servers under test send are understood in detail.
func parseMessage(payload []byte) (inboundMessage, error) {
	message := inboundMessage{ackID: -1}
	if len(payload) == 0 {
		return message, errMessageFormat
	}
	switch payload[0] {
	case '0':
		message.kind = messageOpen
		message.body = payload[1:]
		return message, nil
	case '1':
		message.kind = messageClose
		return message, nil
	case '2':
		message.kind = messagePing
		return message, nil
	case '4':
	default:
		return message, nil
	}
	if len(payload) < 2 {
		return message, errMessageFormat
	}
	rest := payload[2:]
	switch payload[1] {
	case '0':
		message.kind = messageConnect
		message.body = rest
		return message, nil
	case '1':
		message.kind = messageDisconnect
		return message, nil
	case '4':
		message.kind = messageConnectError
		message.body = rest
		return message, nil
	case '2':
		message.kind = messageEvent
	case '3':
		message.kind = messageAck
	default:
		return message, nil
	}
	// Optional ack id: decimal digits before the '['.
	digits := 0
	for digits < len(rest) && rest[digits] >= '0' && rest[digits] <= '9' {
		digits++
	}
	if digits > 0 {
		if digits > 15 {
			return message, errMessageFormat
		}
		message.ackID = parseDigits(rest[:digits])
		rest = rest[digits:]
	}
	if len(rest) < 2 || rest[0] != '[' || rest[len(rest)-1] != ']' {
		return message, errMessageFormat
	}
	inner := rest[1 : len(rest)-1]
	if message.kind == messageAck {
		message.body = inner
		return message, nil
	}
	// The event name is a JSON string; ours never hold escapes, and a name
	// with one is simply not an event this client listens to.
	if len(inner) < 2 || inner[0] != '"' {
		return message, errMessageFormat
	}
	end := bytes.IndexByte(inner[1:], '"')
	if end < 0 {
		return message, errMessageFormat
	}
	message.event = inner[1 : 1+end]
	after := inner[2+end:]
	if len(after) > 0 {
		if after[0] != ',' {
			return message, errMessageFormat
		}
		message.body, message.offset = splitOffset(after[1:])
	}
	return message, nil
}

// splitOffset separates a trailing string argument from the arguments
// before it, as the stock client pops the offset off an event before its
// listeners see it: {...},"<offset>" gives {...} and <offset>. A lone
// argument is never an offset (the events read here all carry a payload
// first), and a string holding an escape is not one either: the offsets of
// both servers are digits, letters, '.' and '-'.
func splitOffset(arguments []byte) (first, offset []byte) {
	last := len(arguments) - 1
	if last < 3 || arguments[last] != '"' {
		return arguments, nil
	}
	open := bytes.LastIndexByte(arguments[:last], '"')
	if open < 2 || arguments[open-1] != ',' {
		return arguments, nil
	}
	value := arguments[open+1 : last]
	if bytes.IndexByte(value, '\\') >= 0 {
		return arguments, nil
	}
	return arguments[:open-1], value
}

// connectAnswer is what a CONNECT answer ("40{...}") tells a client: its
// socket id and, from a server with connection state recovery, the private
// session id to present when it comes back.
type connectAnswer struct {
	sid, pid string
}

// parseConnectAnswer reads {"sid":"...","pid":"..."}; pid is empty when the
// server offers no recovery.
func parseConnectAnswer(body []byte) connectAnswer {
	var answer connectAnswer
	if sid, ok := jsonStringField(body, "sid"); ok {
		answer.sid = string(sid)
	}
	if pid, ok := jsonStringField(body, "pid"); ok {
		answer.pid = string(pid)
	}
	return answer
}

// connectPayload is the CONNECT packet a client sends: its token and, when
// it comes back from a session it wants recovered, that session's pid and
// the offset of the last event it processed (as the stock client adds
// {pid, offset} to its auth). An empty offset is left out, as the stock
// client leaves out an undefined one.
func connectPayload(token, pid, offset string) string {
	auth := struct {
		Token  string `json:"token"`
		PID    string `json:"pid,omitempty"`
		Offset string `json:"offset,omitempty"`
	}{token, pid, offset}
	if pid == "" {
		auth.Offset = ""
	}
	encoded, _ := json.Marshal(auth) // strings always marshal
	return "40" + string(encoded)
}

func parseDigits(digits []byte) int64 {
	var value int64
	for _, digit := range digits {
		value = value*10 + int64(digit-'0')
	}
	return value
}

// parseDigitsChecked parses up to 19 decimal digits, refusing what would
// overflow int64 (unix nanoseconds have 19 digits).
func parseDigitsChecked(digits []byte) (int64, bool) {
	var value int64
	for _, digit := range digits {
		next := value*10 + int64(digit-'0')
		if value > (math.MaxInt64-9)/10 && (next < value || value > math.MaxInt64/10) {
			return 0, false
		}
		value = next
	}
	return value, true
}

// jsonIntField finds "key":<integer> in a flat JSON object and returns the
// integer. It is a scan, not a parser: the load generator writes these fields
// itself, at the top level, without spaces, so a scan is exact for them and
// an order of magnitude cheaper than decoding each delivery.
func jsonIntField(object []byte, key string) (int64, bool) {
	at := fieldValueStart(object, key)
	if at < 0 {
		return 0, false
	}
	negative := false
	if at < len(object) && object[at] == '-' {
		negative = true
		at++
	}
	start := at
	for at < len(object) && object[at] >= '0' && object[at] <= '9' {
		at++
	}
	if at == start || at-start > 19 {
		return 0, false
	}
	value, ok := parseDigitsChecked(object[start:at])
	if !ok {
		return 0, false
	}
	if negative {
		value = -value
	}
	return value, true
}

// jsonStringField finds "key":"<value>" and returns value (aliasing object);
// values with escapes are refused rather than half-decoded.
func jsonStringField(object []byte, key string) ([]byte, bool) {
	at := fieldValueStart(object, key)
	if at < 0 || at >= len(object) || object[at] != '"' {
		return nil, false
	}
	value := object[at+1:]
	end := bytes.IndexByte(value, '"')
	if end < 0 || bytes.IndexByte(value[:end], '\\') >= 0 {
		return nil, false
	}
	return value[:end], true
}

// fieldValueStart returns the index just after `"key":`, or -1.
func fieldValueStart(object []byte, key string) int {
	if key == "" {
		return -1
	}
	offset := 0
	for {
		at := bytes.Index(object[offset:], []byte(key))
		if at < 0 {
			return -1
		}
		at += offset
		end := at + len(key)
		if at > 0 && object[at-1] == '"' && end+1 < len(object) && object[end] == '"' && object[end+1] == ':' {
			return end + 2
		}
		offset = at + 1
	}
}

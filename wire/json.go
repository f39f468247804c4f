package wire

import "encoding/json"

// Client payloads are validated by encoding/json.Valid, and then walked
// without decoding by the small skipper below, which may trust the syntax.
//
// Valid is the library validator that keeps every rule the codec promises
// (docs/protocol.md, Client → server events): the RFC 8259 grammar as
// JSON.parse applies it, strings included (no raw control characters, only
// the defined escapes), and at most 10,000 levels of nesting. sonic.Valid
// does not fit: it lets through raw control characters and escapes JSON
// lacks, which JSON.parse refuses, and stops at 4,096 levels. Client events
// are rate-limited (EVENT_RATE_PER_SOCKET, 50 a second by default), so the
// speed of either does not matter: BenchmarkValidJSON.

// validJSON reports whether b is exactly one JSON value with optional
// surrounding whitespace, as JSON.parse accepts it (RFC 8259), nested at most
// 10,000 deep. It does not check UTF-8 (ParseSocketPacket does), and has no
// rule about duplicate member names (JSON.parse keeps the last).
func validJSON(b []byte) bool {
	return json.Valid(b)
}

// jsonArray walks the elements of a top-level JSON array without decoding
// them. Use: for element, ok := array.next(); ok; element, ok = array.next()
// {...}.
type jsonArray struct {
	data    []byte
	index   int // next byte to read
	started bool
	done    bool
}

// newJSONArray starts walking data, a document validJSON accepted. ok is
// false when it is not an array.
func newJSONArray(data []byte) (array jsonArray, ok bool) {
	i := SkipJSONSpace(data, 0)
	if i >= len(data) || data[i] != '[' {
		return jsonArray{}, false
	}
	return jsonArray{data: data, index: i + 1}, true
}

// next returns the raw bytes of the next element, without surrounding
// whitespace, aliasing data.
func (a *jsonArray) next() ([]byte, bool) {
	if a.done {
		return nil, false
	}
	i := SkipJSONSpace(a.data, a.index)
	if a.started {
		if i >= len(a.data) || a.data[i] != ',' {
			a.done = true
			return nil, false
		}
		i = SkipJSONSpace(a.data, i+1)
	} else if i >= len(a.data) || a.data[i] == ']' {
		a.done = true
		return nil, false
	}
	a.started = true
	end := JSONValueEnd(a.data, i)
	a.index = end
	return a.data[i:end], true
}

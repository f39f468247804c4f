package ingest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/bytedance/sonic"
	"github.com/protrader5/ws-gateway/engine/auth"
	"github.com/protrader5/ws-gateway/wire"
)

// Messages are validated as a whole by a library (checkDocument: sonic.Valid,
// then encoding/json.Valid for what sonic lets through), and the members
// routed on are then found by the small scanner below (forEachMember,
// wire.JSONValueEnd), which may trust the syntax. It is the one way members are
// found: sonic's ast, the other candidate, is about 4 times slower on
// ticks, orders and positions (BenchmarkDecode, figures in
// bench/RESULTS.md) and allocates 2 to 3 times per message where the
// scanner allocates nothing for a tick, since its nodes escape to the heap
// once their methods are called.

// maxInternedSymbols bounds the symbol table so a publisher inventing
// symbols cannot grow it without limit; past it symbols are copied per tick.
const maxInternedSymbols = 1 << 16

// tickFields is what the router needs from a tick; priceRaw aliases the tick.
type tickFields struct {
	symbol   string
	price    float64
	priceRaw []byte
	hasPrice bool
}

// checkDocument reports whether payload is one complete JSON value in UTF-8.
// Everything after it may assume well-formed JSON.
func checkDocument(payload []byte) (Reason, bool) {
	if len(payload) == 0 {
		return ReasonInvalidJSON, false
	}
	// sonic's default config passes invalid UTF-8 through; the engine hands
	// these bytes to browsers untouched, so they are checked here.
	if !utf8.Valid(payload) {
		return ReasonInvalidUTF8, false
	}
	if !sonic.Valid(payload) {
		return ReasonInvalidJSON, false
	}
	// sonic's validator does not look inside strings: it lets through raw
	// control characters and escapes JSON lacks (\0, \x41, a short \u),
	// which a browser's JSON.parse refuses, failing the whole Socket.IO
	// packet so that the client drops its connection. A string can hold
	// either only if the payload has a backslash or a byte below 0x20; those
	// payloads (pretty-printed ones too) are checked again, strictly.
	if (bytes.IndexByte(payload, '\\') >= 0 || hasControlByte(payload)) && !json.Valid(payload) {
		return ReasonInvalidJSON, false
	}
	return 0, true
}

// hasControlByte reports whether data holds a byte below 0x20, eight bytes
// at a time: subtracting 0x20 from each byte sets the top bit of one below
// 0x20, and masking with the complement of the word drops the bytes whose
// top bit was set already. A borrow between bytes starts only at a byte
// below 0x20, so it cannot turn a word without one into a hit.
func hasControlByte(data []byte) bool {
	const (
		ones     = 0x0101010101010101
		topBits  = 0x8080808080808080
		subtract = 0x20 * ones
	)
	i := 0
	for ; i+8 <= len(data); i += 8 {
		word := binary.LittleEndian.Uint64(data[i:])
		if (word-subtract)&^word&topBits != 0 {
			return true
		}
	}
	for ; i < len(data); i++ {
		if data[i] < 0x20 {
			return true
		}
	}
	return false
}

// decodeTick validates one tick object (already known to be valid JSON,
// without leading white space) and returns its symbol and price. It does
// not allocate once the symbol is interned.
func (r *Router) decodeTick(tick []byte) (tickFields, Reason, bool) {
	var fields tickFields
	if len(tick) == 0 || tick[0] != '{' {
		return fields, ReasonNotObject, false
	}
	// One walk finds both members: the last of each name, as JSON.parse
	// keeps it, and how many symbols there are.
	var symbolValue, priceValue []byte
	symbolCount := 0
	forEachMember(tick, func(name, value []byte) {
		switch {
		case memberNameIs(name, "symbol"):
			symbolValue = value
			symbolCount++
		case memberNameIs(name, "price"):
			priceValue = value
		}
	})
	switch {
	case symbolCount == 0:
		return fields, ReasonMissingSymbol, false
	case symbolCount > 1:
		return fields, ReasonDuplicateKey, false
	}
	symbol, ok := rawString(symbolValue)
	if !ok || !wire.ValidSymbol(symbol) {
		return fields, ReasonInvalidSymbol, false
	}
	fields.symbol = r.symbols.intern(symbol)
	if priceValue == nil {
		// No price: a valid tick all the same, just no live P&L.
		return fields, 0, true
	}
	price, ok := jsonNumber(priceValue)
	if !ok {
		return fields, ReasonInvalidPrice, false
	}
	fields.price, fields.priceRaw, fields.hasPrice = price, priceValue, true
	return fields, 0, true
}

// decodeUser validates a user message (valid JSON) and returns its userId,
// copied so the engine may keep it.
func decodeUser(payload []byte) (string, Reason, bool) {
	object := trimSpace(payload)
	if len(object) == 0 || object[0] != '{' {
		return "", ReasonNotObject, false
	}
	value, count := topLevelMember(object, "userId")
	switch {
	case count == 0:
		return "", ReasonMissingUser, false
	case count > 1:
		return "", ReasonDuplicateKey, false
	}
	userID, ok := rawString(value)
	if !ok || !auth.ValidUserID(userID) {
		return "", ReasonInvalidUser, false
	}
	return strings.Clone(userID), 0, true
}

// topLevelMember returns the raw value of the last top-level member of
// object (valid JSON, starting with '{') named key, and how many members are
// so named. Names are compared unescaped, as JSON.parse compares them:
// "user\u0049d" is "userId". Both the routing key and the duplicate check
// come from this one walk, so they cannot disagree on which member is which.
func topLevelMember(object []byte, key string) (value []byte, count int) {
	forEachMember(object, func(name, raw []byte) {
		if memberNameIs(name, key) {
			value = raw
			count++
		}
	})
	return value, count
}

// memberNameIs reports whether quoted, a raw member name with its quotes,
// unescapes to key.
func memberNameIs(quoted []byte, key string) bool {
	if len(quoted) < 2 {
		return false
	}
	inner := quoted[1 : len(quoted)-1]
	// Every escape is longer than what it stands for: a name as long as key
	// matches only as written, a shorter one never, and only a longer one
	// with an escape needs decoding (which allocates).
	switch {
	case len(inner) == len(key):
		return string(inner) == key
	case len(inner) < len(key) || bytes.IndexByte(inner, '\\') < 0:
		return false
	}
	name, ok := jsonString(quoted)
	return ok && name == key
}

// rawString decodes raw, a JSON value, as a string; ok is false for another
// type. Without escapes the result aliases raw.
func rawString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return unsafe.String(unsafe.SliceData(inner), len(inner)), true
	}
	return jsonString(raw)
}

func trimSpace(data []byte) []byte {
	start := wire.SkipJSONSpace(data, 0)
	end := len(data)
	for end > start && wire.IsJSONSpace(data[end-1]) {
		end--
	}
	return data[start:end:end]
}

// forEachElement calls fn with each element of the array starting at
// data[start] (valid JSON). Elements are capped subslices of data.
func forEachElement(data []byte, start int, fn func(element []byte)) {
	i := start + 1
	for {
		i = wire.SkipJSONSpace(data, i)
		if i >= len(data) || data[i] == ']' {
			return
		}
		end := wire.JSONValueEnd(data, i)
		fn(data[i:end:end])
		i = wire.SkipJSONSpace(data, end)
		if i >= len(data) || data[i] != ',' {
			return
		}
		i++
	}
}

// forEachMember calls fn with the raw quoted name and raw value of each
// top-level member of object (valid JSON, starting with '{').
func forEachMember(object []byte, fn func(name, value []byte)) {
	i := wire.SkipJSONSpace(object, 0) + 1
	for {
		i = wire.SkipJSONSpace(object, i)
		if i >= len(object) || object[i] != '"' {
			return
		}
		nameEnd := wire.JSONStringEnd(object, i)
		name := object[i:nameEnd]
		i = wire.SkipJSONSpace(object, nameEnd)
		if i >= len(object) || object[i] != ':' {
			return
		}
		i = wire.SkipJSONSpace(object, i+1)
		end := wire.JSONValueEnd(object, i)
		fn(name, object[i:end])
		i = wire.SkipJSONSpace(object, end)
		if i >= len(object) || object[i] != ',' {
			return
		}
		i++
	}
}

// symbolTable interns symbols so that a tick's symbol string never aliases
// the tick bytes and the common case allocates nothing.
type symbolTable struct {
	mu      sync.RWMutex
	symbols map[string]string // guarded by mu
}

func (t *symbolTable) intern(s string) string {
	t.mu.RLock()
	canonical, ok := t.symbols[s]
	t.mu.RUnlock()
	if ok {
		return canonical
	}
	canonical = strings.Clone(s)
	t.mu.Lock()
	if t.symbols == nil {
		t.symbols = make(map[string]string)
	}
	if len(t.symbols) < maxInternedSymbols {
		t.symbols[canonical] = canonical
	}
	t.mu.Unlock()
	return canonical
}

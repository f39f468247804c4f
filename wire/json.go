package wire

import (
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds the small JSON scanner the Socket.IO codec needs: validate a
// payload the way JSON.parse would (RFC 8259 grammar), find the elements of a
// top-level array without decoding them, and escape/unescape strings. It never
// allocates except where a caller asks for a decoded string.

// maxJSONDepth is the deepest nesting the scanner accepts. It matches
// encoding/json (maxNestingDepth), so the two agree on every input; JSON.parse
// has no fixed limit, but no Socket.IO client sends 10,000 nested brackets.
const maxJSONDepth = 10000

// isJSONSpace reports whether c is JSON insignificant whitespace (RFC 8259 §2).
func isJSONSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// skipJSONSpace returns the index of the first non-whitespace byte at or after i.
func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && isJSONSpace(b[i]) {
		i++
	}
	return i
}

// validJSON reports whether b is exactly one JSON value with optional
// surrounding whitespace, as JSON.parse and encoding/json.Valid accept it.
// It does not check UTF-8 (neither does encoding/json.Valid).
func validJSON(b []byte) bool {
	end := scanJSONValue(b, 0, 0)
	return end >= 0 && skipJSONSpace(b, end) == len(b)
}

// scanJSONValue skips whitespace and one JSON value starting at b[i], nested
// depth levels deep already, and returns the index just after it, or -1 when
// the value is invalid or incomplete. It is iterative, so hostile nesting
// cannot exhaust the goroutine stack.
func scanJSONValue(b []byte, i int, depth int) int {
	var levels levelStack
	level := 0 // levels opened by this call
	for {
		// A value is expected at i.
		i = skipJSONSpace(b, i)
		if i >= len(b) {
			return -1
		}
		switch c := b[i]; {
		case c == '{' || c == '[':
			if depth+level >= maxJSONDepth {
				return -1
			}
			isObject := c == '{'
			levels.set(level, isObject)
			level++
			i = skipJSONSpace(b, i+1)
			if i < len(b) && (b[i] == '}' && isObject || b[i] == ']' && !isObject) {
				i++
				level--
				break // an empty container is a complete value
			}
			if isObject {
				if i = scanJSONKey(b, i); i < 0 {
					return -1
				}
			}
			continue // its first value
		case c == '"':
			if i = scanJSONString(b, i); i < 0 {
				return -1
			}
		case c == '-' || c >= '0' && c <= '9':
			if i = scanJSONNumber(b, i); i < 0 {
				return -1
			}
		case c == 't':
			if i = scanJSONLiteral(b, i, "true"); i < 0 {
				return -1
			}
		case c == 'f':
			if i = scanJSONLiteral(b, i, "false"); i < 0 {
				return -1
			}
		case c == 'n':
			if i = scanJSONLiteral(b, i, "null"); i < 0 {
				return -1
			}
		default:
			return -1
		}
		// A value ended at i: close containers until one continues with ','.
		for {
			if level == 0 {
				return i
			}
			i = skipJSONSpace(b, i)
			if i >= len(b) {
				return -1
			}
			isObject := levels.isObject(level - 1)
			c := b[i]
			if c == ',' {
				i++
				if isObject {
					if i = scanJSONKey(b, skipJSONSpace(b, i)); i < 0 {
						return -1
					}
				}
				break
			}
			if c == '}' && isObject || c == ']' && !isObject {
				i++
				level--
				continue
			}
			return -1
		}
	}
}

// levelStack records, one bit per nesting level, whether the level is an
// object. The first 64 levels live in a word, so ordinary JSON costs nothing;
// deeper ones (only hostile input nests that far) spill to a slice.
type levelStack struct {
	shallow uint64
	deep    []uint64 // levels 64 and up
}

// set records whether level is an object.
func (s *levelStack) set(level int, isObject bool) {
	word, bit := &s.shallow, uint(level%64)
	if level >= 64 {
		index := level/64 - 1
		if index >= len(s.deep) {
			s.deep = append(s.deep, 0)
		}
		word = &s.deep[index]
	}
	if isObject {
		*word |= 1 << bit
	} else {
		*word &^= 1 << bit
	}
}

// isObject reports whether level, set before, is an object.
func (s *levelStack) isObject(level int) bool {
	word := s.shallow
	if level >= 64 {
		word = s.deep[level/64-1]
	}
	return word&(1<<uint(level%64)) != 0
}

// scanJSONKey scans an object key and its ':' at b[i] and returns the index
// after the colon, or -1.
func scanJSONKey(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	if i = scanJSONString(b, i); i < 0 {
		return -1
	}
	i = skipJSONSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return -1
	}
	return i + 1
}

// scanJSONString scans the string whose opening quote is b[i] and returns the
// index after its closing quote, or -1 (RFC 8259 §7: no raw control
// characters, only the defined escapes).
func scanJSONString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		case c == '\\':
			i++
			if i >= len(b) {
				return -1
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return -1
				}
				for _, h := range b[i+1 : i+5] {
					if hexValue(h) < 0 {
						return -1
					}
				}
				i += 4
			default:
				return -1
			}
		}
	}
	return -1
}

// scanJSONNumber scans the number starting at b[i] and returns the index after
// it, or -1 (RFC 8259 §6: no leading zeros, no '+', digits on both sides of '.').
func scanJSONNumber(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = skipDigits(b, i)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		start := i + 1
		if i = skipDigits(b, start); i == start {
			return -1
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		start := i
		if i = skipDigits(b, start); i == start {
			return -1
		}
	}
	return i
}

// skipDigits returns the index of the first non-digit at or after i.
func skipDigits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// scanJSONLiteral checks that b[i:] starts with literal and returns the index
// after it, or -1.
func scanJSONLiteral(b []byte, i int, literal string) int {
	if len(b)-i < len(literal) || string(b[i:i+len(literal)]) != literal {
		return -1
	}
	return i + len(literal)
}

// hexValue returns the value of the hex digit c, or -1.
func hexValue(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// jsonArray walks the elements of a top-level JSON array without decoding them.
// Use: for element, ok := array.next(); ok; element, ok = array.next() {...},
// then array.err() tells whether the walk ended at a well-formed end.
type jsonArray struct {
	data    []byte
	index   int // next byte to read; -1 once invalid
	started bool
	done    bool
}

// newJSONArray starts walking data, which must be a JSON array with optional
// surrounding whitespace.
func newJSONArray(data []byte) jsonArray {
	i := skipJSONSpace(data, 0)
	if i >= len(data) || data[i] != '[' {
		return jsonArray{data: data, index: -1, done: true}
	}
	return jsonArray{data: data, index: i + 1}
}

// next returns the raw bytes of the next element, without surrounding
// whitespace, aliasing data.
func (a *jsonArray) next() ([]byte, bool) {
	if a.done {
		return nil, false
	}
	i := skipJSONSpace(a.data, a.index)
	if a.started {
		if i < len(a.data) && a.data[i] == ',' {
			i++
		} else {
			a.finish(i)
			return nil, false
		}
	} else if i < len(a.data) && a.data[i] == ']' {
		a.finish(i)
		return nil, false
	}
	a.started = true
	start := skipJSONSpace(a.data, i)
	end := scanJSONValue(a.data, start, 1)
	if end < 0 {
		a.index, a.done = -1, true
		return nil, false
	}
	a.index = end
	return a.data[start:end], true
}

// finish checks that the array closes at i and only whitespace follows.
func (a *jsonArray) finish(i int) {
	a.done = true
	if i < len(a.data) && a.data[i] == ']' && skipJSONSpace(a.data, i+1) == len(a.data) {
		a.index = len(a.data)
		return
	}
	a.index = -1
}

// valid reports whether the walk so far met no syntax error; after next has
// returned false it reports whether the whole array was well formed.
func (a *jsonArray) valid() bool {
	return a.index >= 0
}

// appendJSONString appends s as a JSON string: quotes, backslash and control
// characters escaped, invalid UTF-8 replaced by U+FFFD (as encoding/json does),
// everything else verbatim. It allocates only to grow dst.
func appendJSONString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendJSONUnquoted appends the value of the JSON string literal quoted
// (quotes included, already validated by scanJSONString) to dst. Escaped lone
// surrogates become U+FFFD, as in encoding/json; JSON.parse would keep them as
// UTF-16 code units, which Go strings cannot hold.
func appendJSONUnquoted(dst []byte, quoted []byte) []byte {
	content := quoted[1 : len(quoted)-1]
	for i := 0; i < len(content); {
		c := content[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		i++
		switch content[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hexRune(content[i+1 : i+5])
			i += 4
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+6 < len(content) && content[i+1] == '\\' && content[i+2] == 'u' {
					r2 = hexRune(content[i+3 : i+7])
				}
				if combined := utf16.DecodeRune(r, r2); combined != utf8.RuneError {
					r = combined
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, content[i])
		}
		i++
	}
	return dst
}

// unquoteJSONString returns the value of a validated JSON string literal,
// without copying twice when it has no escapes.
func unquoteJSONString(quoted []byte) string {
	content := quoted[1 : len(quoted)-1]
	for _, c := range content {
		if c == '\\' {
			return string(appendJSONUnquoted(make([]byte, 0, len(content)), quoted))
		}
	}
	return string(content)
}

// hexRune decodes four validated hex digits.
func hexRune(hex []byte) rune {
	return hexValue(hex[0])<<12 | hexValue(hex[1])<<8 | hexValue(hex[2])<<4 | hexValue(hex[3])
}

package wire

// The scanner below finds where JSON values end without decoding them, in
// documents a validator has accepted (encoding/json.Valid for client events,
// sonic.Valid for ingest): with the syntax known good it only needs to find
// where strings and containers end. The engine's client events and ingest's
// routing both walk their payloads with it.

// IsJSONSpace reports whether c is JSON insignificant whitespace (RFC 8259 §2).
func IsJSONSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// SkipJSONSpace returns the index of the first non-whitespace byte at or after i.
func SkipJSONSpace(b []byte, i int) int {
	for i < len(b) && IsJSONSpace(b[i]) {
		i++
	}
	return i
}

// JSONValueEnd returns the index just after the value starting at b[i], in
// a document a validator accepted: it only needs to find where strings and
// containers end. On other input it stops at len(b) rather than panic.
func JSONValueEnd(b []byte, i int) int {
	if i >= len(b) {
		return len(b)
	}
	switch b[i] {
	case '"':
		return JSONStringEnd(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = JSONStringEnd(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b)
	}
	// A number or a literal runs to the next delimiter.
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return len(b)
}

// JSONStringEnd returns the index just after the string whose opening quote
// is b[i].
func JSONStringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

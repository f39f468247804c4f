package wire

import (
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds the JSON string encoding the codec needs: escaping the
// strings the server writes (event names, session ids) and unescaping the
// event names clients send (json.go validates them first).

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
// (quotes included, part of a document validJSON accepted) to dst. Escaped lone
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

package wire

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// documentedDepth is the deepest nesting docs/protocol.md promises clients.
const documentedDepth = 10000

// TestValidJSON pins the rules validJSON keeps, whoever implements them:
// JSON.parse's grammar, strings included, and the documented depth.
func TestValidJSON(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  bool
	}{
		{name: "empty", input: "", want: false},
		{name: "space only", input: " ", want: false},
		{name: "object", input: `{"a":1,"b":[true,false,null]}`, want: true},
		{name: "spaces", input: " \t\r\n[ 1 , {\"a\" : \"b\" } ]\n", want: true},
		{name: "empty containers", input: `[{},[],""]`, want: true},
		{name: "numbers", input: `[0,-0,1.5,-2e10,3E+2,4e-1,0.0]`, want: true},
		{name: "leading zero", input: `01`, want: false},
		{name: "plus", input: `+1`, want: false},
		{name: "bare dot", input: `1.`, want: false},
		{name: "bare exponent", input: `1e`, want: false},
		{name: "hex", input: `0x10`, want: false},
		{name: "trailing comma", input: `[1,]`, want: false},
		{name: "missing value", input: `{"a":}`, want: false},
		{name: "unquoted key", input: `{a:1}`, want: false},
		{name: "mismatched", input: `[}`, want: false},
		{name: "two values", input: `1 2`, want: false},
		{name: "escapes", input: `"\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00"`, want: true},
		{name: "lone surrogate escape", input: `"\ud800"`, want: true},
		{name: "bad escape", input: `"\x41"`, want: false},
		{name: "short unicode escape", input: `"\u12"`, want: false},
		{name: "raw control character", input: "\"a\x01\"", want: false},
		{name: "unterminated string", input: `"abc`, want: false},
		{name: "literal prefix", input: `tru`, want: false},
		{name: "single quotes", input: `'a'`, want: false},
		{name: "NaN", input: `NaN`, want: false},
		{name: "tab in a string", input: "\"a\tb\"", want: false},
		{name: "escaped zero", input: `"\0"`, want: false},
		{name: "duplicate names", input: `{"a":1,"a":2}`, want: true},
		{name: "deep", input: strings.Repeat("[", documentedDepth) + strings.Repeat("]", documentedDepth), want: true},
		{name: "too deep", input: strings.Repeat("[", documentedDepth+1) + strings.Repeat("]", documentedDepth+1), want: false},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			if got := validJSON([]byte(test.input)); got != test.want {
				t.Errorf("validJSON(%q) = %v; want %v", test.input, got, test.want)
			}
		})
	}
}

// splitJSONArray collects the elements of a top-level array, or reports
// false for a document that is not valid or not an array.
func splitJSONArray(data []byte) ([][]byte, bool) {
	if !validJSON(data) {
		return nil, false
	}
	array, ok := newJSONArray(data)
	var elements [][]byte
	for element, more := array.next(); more; element, more = array.next() {
		elements = append(elements, element)
	}
	return elements, ok
}

func TestJSONArray(t *testing.T) {
	tests := []struct {
		input string
		want  []string
		valid bool
	}{
		{input: `[]`, want: nil, valid: true},
		{input: ` [ ] `, want: nil, valid: true},
		{input: `["a",1,{"b":[2,3]},null]`, want: []string{`"a"`, `1`, `{"b":[2,3]}`, `null`}, valid: true},
		{input: "[ \"a\" ,\n 2 ]", want: []string{`"a"`, `2`}, valid: true},
		{input: `["a\"],[",["]"],-1.5e3,true]`, want: []string{`"a\"],["`, `["]"]`, `-1.5e3`, `true`}, valid: true},
		{input: `{}`, valid: false},
		{input: `[1,]`, valid: false},
		{input: `[1 2]`, valid: false},
		{input: `[1] x`, valid: false},
		{input: `[`, valid: false},
	}
	for _, test := range tests {
		got, valid := splitJSONArray([]byte(test.input))
		var gotStrings []string
		for _, element := range got {
			gotStrings = append(gotStrings, string(element))
		}
		if valid != test.valid || strings.Join(gotStrings, "|") != strings.Join(test.want, "|") {
			t.Errorf("split(%q) = %q, %v; want %q, %v", test.input, gotStrings, valid, test.want, test.valid)
		}
	}
}

// FuzzJSON checks the array walker against encoding/json's decoding (the
// same elements) and string escaping both ways; on any input, valid or not,
// the walker must not panic.
func FuzzJSON(f *testing.F) {
	for _, seed := range []string{`["a",1,{"b":[2,3]},null]`, `{"a":"\u00e9"}`, `[1,]`, `"\ud800"`, ` [ ] `, `-0.5e+3`, `[[[[`, `["\\",["]"]]`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		// Unvalidated input: the skipper stops at the end instead of panicking.
		if array, ok := newJSONArray(input); ok {
			for _, more := array.next(); more; _, more = array.next() {
			}
		}
		valid := validJSON(input)
		elements, arrayValid := splitJSONArray(input)
		var raw []json.RawMessage
		wantArray := json.Unmarshal(input, &raw) == nil
		if arrayValid != wantArray {
			t.Fatalf("split(%q) valid = %v; json.Unmarshal says %v", input, arrayValid, wantArray)
		}
		if wantArray {
			if len(elements) != len(raw) {
				t.Fatalf("split(%q) = %d elements; want %d", input, len(elements), len(raw))
			}
			for i := range raw {
				if !bytes.Equal(elements[i], raw[i]) {
					t.Fatalf("split(%q)[%d] = %q; want %q", input, i, elements[i], raw[i])
				}
			}
		}
		if valid {
			// Any valid value ends where its trailing whitespace starts.
			start := SkipJSONSpace(input, 0)
			trimmed := bytes.TrimRight(input, " \t\r\n")
			if end := JSONValueEnd(input, start); end != len(trimmed) {
				t.Fatalf("JSONValueEnd(%q) = %d; want %d", input, end, len(trimmed))
			}
		}
		if valid && input[SkipJSONSpace(input, 0)] == '"' {
			var want string
			if err := json.Unmarshal(input, &want); err != nil {
				t.Fatalf("json.Unmarshal(%q) = %v", input, err)
			}
			trimmed := bytes.Trim(input, " \t\r\n")
			if got := unquoteJSONString(trimmed); utf8.Valid(trimmed) && got != want {
				t.Fatalf("unquoteJSONString(%q) = %q; want %q", trimmed, got, want)
			}
		}
		// Each invalid byte becomes one U+FFFD, as converting to []rune does.
		text := string(input)
		var back string
		encoded := appendJSONString(nil, text)
		if err := json.Unmarshal(encoded, &back); err != nil || back != string([]rune(text)) {
			t.Fatalf("appendJSONString(%q) = %s; decodes to %q, %v", text, encoded, back, err)
		}
	})
}

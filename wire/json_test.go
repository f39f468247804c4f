package wire

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

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
		{name: "deep", input: strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth), want: true},
		{name: "too deep", input: strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1), want: false},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			if got := validJSON([]byte(test.input)); got != test.want {
				t.Errorf("validJSON(%q) = %v; want %v", test.input, got, test.want)
			}
			if got := json.Valid([]byte(test.input)); got != test.want {
				t.Errorf("json.Valid(%q) = %v; the test case disagrees with encoding/json", test.input, got)
			}
		})
	}
}

// splitJSONArray collects the elements of a top-level array, or reports false.
func splitJSONArray(data []byte) ([][]byte, bool) {
	array := newJSONArray(data)
	var elements [][]byte
	for element, ok := array.next(); ok; element, ok = array.next() {
		elements = append(elements, element)
	}
	return elements, array.valid()
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
		{input: `{}`, valid: false},
		{input: `[1,]`, want: []string{`1`}, valid: false},
		{input: `[1 2]`, want: []string{`1`}, valid: false},
		{input: `[1] x`, want: []string{`1`}, valid: false},
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

func TestAppendJSONString(t *testing.T) {
	tests := []struct {
		input string
		want  string
	}{
		{input: "", want: `""`},
		{input: "market:data", want: `"market:data"`},
		{input: "a\"b\\c", want: `"a\"b\\c"`},
		{input: "\n\r\t\b\f\x00\x1f", want: `"\n\r\t\b\f\u0000\u001f"`},
		{input: "é😀", want: `"é😀"`},
		{input: "a\xffb", want: `"a\ufffdb"`},
		{input: "<&>", want: `"<&>"`},
	}
	for _, test := range tests {
		if got := appendJSONString(nil, test.input); string(got) != test.want {
			t.Errorf("appendJSONString(%q) = %s; want %s", test.input, got, test.want)
		}
	}
}

func TestUnquoteJSONString(t *testing.T) {
	tests := []struct {
		input string
		want  string
	}{
		{input: `""`, want: ""},
		{input: `"plain"`, want: "plain"},
		{input: `"\u0063onnect"`, want: "connect"},
		{input: `"\"\\\/\b\f\n\r\t"`, want: "\"\\/\b\f\n\r\t"},
		{input: `"\uD83D\uDE00"`, want: "😀"},
		{input: `"\ud800"`, want: "\ufffd"},
		{input: `"\ud800\u0041"`, want: "\ufffdA"},
		{input: `"\udc00\ud800"`, want: "\ufffd\ufffd"},
	}
	for _, test := range tests {
		if got := unquoteJSONString([]byte(test.input)); got != test.want {
			t.Errorf("unquoteJSONString(%s) = %q; want %q", test.input, got, test.want)
		}
	}
}

// FuzzJSON checks the scanner against encoding/json: the same verdict on
// validity, the same array elements, and string escaping that decodes back.
func FuzzJSON(f *testing.F) {
	for _, seed := range []string{`["a",1,{"b":[2,3]},null]`, `{"a":"\u00e9"}`, `[1,]`, `"\ud800"`, ` [ ] `, `-0.5e+3`, `[[[[`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		valid := validJSON(input)
		if want := json.Valid(input); valid != want {
			t.Fatalf("validJSON(%q) = %v; json.Valid says %v", input, valid, want)
		}
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
		if valid && input[skipJSONSpace(input, 0)] == '"' {
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

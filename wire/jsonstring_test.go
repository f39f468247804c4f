package wire

import "testing"

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

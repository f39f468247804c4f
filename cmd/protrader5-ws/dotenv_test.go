package main

import (
	"maps"
	"sort"
	"strings"
	"testing"
)

func TestParseDotenv(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  map[string]string
	}{
		{"empty", "", map[string]string{}},
		{"blank and comment lines", "\n  \n# PORT=1\n\t# x\n", map[string]string{}},
		{"simple", "PORT=4000\nNODE_ENV=production\n", map[string]string{"PORT": "4000", "NODE_ENV": "production"}},
		{"no final newline", "PORT=4000", map[string]string{"PORT": "4000"}},
		{"crlf", "PORT=4000\r\nLOG_LEVEL=debug\r\n", map[string]string{"PORT": "4000", "LOG_LEVEL": "debug"}},
		{"blanks around equals", "  PORT  =  4000  \n", map[string]string{"PORT": "4000"}},
		{"export", "export JWT_SECRET=s3cret\nexport\tA=1\n", map[string]string{"JWT_SECRET": "s3cret", "A": "1"}},
		{"variable named export", "export=1\n", map[string]string{"export": "1"}},
		{"empty value", "JWT_SECRET=\nA=\n", map[string]string{"JWT_SECRET": "", "A": ""}},
		{"inline comment", "PORT=4000 # the port\n", map[string]string{"PORT": "4000"}},
		{"only a comment", "JWT_SECRET= # none\n", map[string]string{"JWT_SECRET": ""}},
		{"hash without blank stays", "COLOR=#fff\nURL=http://x/#frag\n", map[string]string{"COLOR": "#fff", "URL": "http://x/#frag"}},
		{"equals in value", "REDIS_URL=redis://h:6379/0?a=b\n", map[string]string{"REDIS_URL": "redis://h:6379/0?a=b"}},
		{"single quoted literal", `A='x\ny # z'` + "\n", map[string]string{"A": `x\ny # z`}},
		{"double quoted escapes", `A="x\ny\t\"q\"\\"` + "\n", map[string]string{"A": "x\ny\t\"q\"\\"}},
		{"double quoted unknown escape", `A="C:\path"`, map[string]string{"A": `C:\path`}},
		{"quoted then comment", `A="a b" # c` + "\nB='d' \n", map[string]string{"A": "a b", "B": "d"}},
		{"multi-line double quoted", "KEY=\"line1\nline2\"\nB=2\n", map[string]string{"KEY": "line1\nline2", "B": "2"}},
		{"multi-line single quoted", "KEY='a\nb'\nB=2\n", map[string]string{"KEY": "a\nb", "B": "2"}},
		{"later wins", "A=1\nA=2\n", map[string]string{"A": "2"}},
		{"quoted empty", `A=""` + "\nB=''\n", map[string]string{"A": "", "B": ""}},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			got, err := parseDotenv([]byte(test.input))
			if err != nil {
				t.Fatalf("parseDotenv(%q) error: %v", test.input, err)
			}
			if !maps.Equal(got, test.want) {
				t.Errorf("parseDotenv(%q) = %q; want %q", test.input, got, test.want)
			}
		})
	}
}

func TestParseDotenvErrors(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  string
	}{
		{"no equals", "PORT 4000\n", "dotenv: line 1: expected '=' after PORT"},
		{"bad name", "A=1\n1PORT=4000\n", "dotenv: line 2: expected a variable name"},
		{"dash in name", "MY-VAR=1", "dotenv: line 1: expected '=' after MY"},
		{"unterminated double", "A=1\nB=\"abc\nC=2\n", "dotenv: line 2: unterminated double-quoted value"},
		{"unterminated single", "B='abc", "dotenv: line 1: unterminated single-quoted value"},
		{"text after quote", "A=\"x\"y\n", "dotenv: line 1: unexpected \"y\" after the quoted value of A"},
		{"line counted through quotes", "A=\"x\ny\"\nB\n", "dotenv: line 3: expected '=' after B"},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			_, err := parseDotenv([]byte(test.input))
			if err == nil || !strings.HasPrefix(err.Error(), test.want) {
				t.Errorf("parseDotenv(%q) error = %v; want prefix %q", test.input, err, test.want)
			}
		})
	}
}

// encodeDotenv writes variables back as double-quoted assignments, the one form
// that can carry any byte string.
func encodeDotenv(variables map[string]string) string {
	keys := make([]string, 0, len(variables))
	for key := range variables {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	replacer := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	var out strings.Builder
	for _, key := range keys {
		out.WriteString(key + `="` + replacer.Replace(variables[key]) + "\"\n")
	}
	return out.String()
}

// FuzzParseDotenv checks that the parser never panics, and that whatever it
// accepts survives a round trip through the double-quoted form unchanged.
func FuzzParseDotenv(f *testing.F) {
	seeds := []string{
		"PORT=4000\n# comment\nexport JWT_SECRET='a b'\n",
		"A=\"x\\ny\\\"\" # c\r\nB=C #d\n",
		"KEY=\"multi\nline\"\n",
		"A='\nB=\"\\",
		"=\n",
		"export export=1",
	}
	for _, seed := range seeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		variables, err := parseDotenv(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "dotenv: line ") {
				t.Fatalf("parseDotenv(%q) error %q does not name a line", data, err)
			}
			return
		}
		for key := range variables {
			if key == "" || strings.ContainsAny(key, " \t\r\n=#'\"") {
				t.Fatalf("parseDotenv(%q) produced key %q", data, key)
			}
		}
		encoded := encodeDotenv(variables)
		again, err := parseDotenv([]byte(encoded))
		if err != nil {
			t.Fatalf("re-parse of %q failed: %v", encoded, err)
		}
		if !maps.Equal(variables, again) {
			t.Fatalf("round trip of %q: got %q; want %q", data, again, variables)
		}
	})
}

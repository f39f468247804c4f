package wire

import (
	"regexp"
	"strings"
	"testing"
)

// symbolPattern is the rule as docs/protocol.md writes it.
var symbolPattern = regexp.MustCompile(`^[A-Z0-9][A-Z0-9._:/-]{0,31}$`)

func TestValidSymbol(t *testing.T) {
	tests := []struct {
		input string
		want  bool
	}{
		{input: "BTCUSD", want: true},
		{input: "A", want: true},
		{input: "0", want: true},
		{input: "BTC-PERP.X_1:2/3", want: true},
		{input: strings.Repeat("A", 32), want: true},
		{input: strings.Repeat("A", 33), want: false},
		{input: "", want: false},
		{input: "btcusd", want: false},
		{input: ".A", want: false},
		{input: "-A", want: false},
		{input: "BTC USD", want: false},
		{input: "BTCUSD\n", want: false},
		{input: "É", want: false},
	}
	for _, test := range tests {
		if got := ValidSymbol(test.input); got != test.want {
			t.Errorf("ValidSymbol(%q) = %v; want %v", test.input, got, test.want)
		}
	}
}

// FuzzValidSymbol checks ValidSymbol against the documented pattern.
func FuzzValidSymbol(f *testing.F) {
	for _, seed := range []string{"BTCUSD", "", ".A", "A.", strings.Repeat("Z", 33), "a"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, input string) {
		if got, want := ValidSymbol(input), symbolPattern.MatchString(input); got != want {
			t.Fatalf("ValidSymbol(%q) = %v; the pattern says %v", input, got, want)
		}
	})
}

package wire

// MaxSymbolBytes is the longest market symbol ValidSymbol accepts.
const MaxSymbolBytes = 32

// ValidSymbol reports whether s is a market symbol clients may subscribe to
// and ticks may carry: ^[A-Z0-9][A-Z0-9._:/-]{0,31}$ (docs/protocol.md,
// subscribe:market). It lives here, below both, so that the engine (client
// subscriptions) and ingest (ticks, snapshots) apply the same rule.
func ValidSymbol(s string) bool {
	if len(s) == 0 || len(s) > MaxSymbolBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == ':' || c == '/' || c == '-'):
		default:
			return false
		}
	}
	return true
}

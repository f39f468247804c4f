package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAppendClose(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes
	tests := []struct {
		name       string
		code       StatusCode
		reason     string
		wantCode   StatusCode
		wantReason string
	}{
		{name: "normal", code: CloseNormal, reason: "", wantCode: CloseNormal},
		{name: "going away", code: CloseGoingAway, reason: "server shutting down", wantCode: CloseGoingAway, wantReason: "server shutting down"},
		{name: "no status", code: 0, wantCode: CloseNoStatus},
		{name: "cut on rune boundary", code: ClosePolicyViolation, reason: long, wantCode: ClosePolicyViolation, wantReason: long[:122]},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			frame := AppendClose(nil, test.code, test.reason)
			header, size, err := ParseFrameHeader(frame)
			if err != nil || header.OpCode != OpClose || int(header.Length) != len(frame)-size {
				t.Fatalf("ParseFrameHeader(%x) = %+v, %d, %v; want a close frame", frame, header, size, err)
			}
			code, reason, err := ParseClosePayload(frame[size:])
			if err != nil || code != test.wantCode || string(reason) != test.wantReason {
				t.Errorf("ParseClosePayload(%x) = %d, %q, %v; want %d, %q", frame[size:], code, reason, err, test.wantCode, test.wantReason)
			}
		})
	}
}

func TestParseClosePayload(t *testing.T) {
	tests := []struct {
		name    string
		input   []byte
		code    StatusCode
		reason  string
		wantErr error
	}{
		{name: "empty", input: nil, code: CloseNoStatus},
		{name: "normal", input: []byte{0x03, 0xe8}, code: 1000},
		{name: "reason", input: []byte{0x03, 0xe9, 'b', 'y', 'e'}, code: 1001, reason: "bye"},
		{name: "application code", input: []byte{0x0f, 0xa0}, code: 4000},
		{name: "one byte", input: []byte{0x03}, wantErr: ErrInvalidClosePayload},
		{name: "code 999", input: []byte{0x03, 0xe7}, wantErr: ErrInvalidClosePayload},
		{name: "code 1005", input: []byte{0x03, 0xed}, wantErr: ErrInvalidClosePayload},
		{name: "code 1006", input: []byte{0x03, 0xee}, wantErr: ErrInvalidClosePayload},
		{name: "code 1015", input: []byte{0x03, 0xf7}, wantErr: ErrInvalidClosePayload},
		{name: "code 5000", input: []byte{0x13, 0x88}, wantErr: ErrInvalidClosePayload},
		{name: "code 1004", input: []byte{0x03, 0xec}, wantErr: ErrInvalidClosePayload},
		{name: "code 1010", input: []byte{0x03, 0xf2}, code: 1010},
		{name: "code 1012, registered later", input: []byte{0x03, 0xf4}, code: 1012},
		{name: "code 1014, registered later", input: []byte{0x03, 0xf6}, code: 1014},
		{name: "code 1016", input: []byte{0x03, 0xf8}, wantErr: ErrInvalidClosePayload},
		{name: "code 2999", input: []byte{0x0b, 0xb7}, wantErr: ErrInvalidClosePayload},
		{name: "code 3000", input: []byte{0x0b, 0xb8}, code: 3000},
		{name: "code 4999", input: []byte{0x13, 0x87}, code: 4999},
		{name: "code 65535", input: []byte{0xff, 0xff}, wantErr: ErrInvalidClosePayload},
		{name: "bad UTF-8 reason", input: []byte{0x03, 0xe8, 0xff}, wantErr: ErrCloseReasonNotUTF8},
		{name: "bad code and bad UTF-8 reason", input: []byte{0x03, 0xed, 0xff}, wantErr: ErrInvalidClosePayload},
	}
	for _, test := range tests {
		code, reason, err := ParseClosePayload(test.input)
		if !errors.Is(err, test.wantErr) || code != test.code || string(reason) != test.reason {
			t.Errorf("ParseClosePayload(%x) = %d, %q, %v; want %d, %q, %v", test.input, code, reason, err, test.code, test.reason, test.wantErr)
		}
	}
}

// closeCodeAllowed is RFC 6455 §7.4 with the IANA registrations 1012-1014,
// written out independently of the ws predicates ParseClosePayload uses.
func closeCodeAllowed(code uint16) bool {
	return code >= 1000 && code <= 1003 || code >= 1007 && code <= 1014 || code >= 3000 && code <= 4999
}

// FuzzParseClosePayload checks the close body parser against the RFC rules
// written out above, and that AppendClose builds what it accepts.
func FuzzParseClosePayload(f *testing.F) {
	for _, seed := range [][]byte{{}, {0x03}, {0x03, 0xe8}, {0x03, 0xe9, 'b', 'y', 'e'}, {0x03, 0xed}, {0x03, 0xe8, 0xff}, {0x0f, 0xa0, 0xc3, 0xa9}} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		// A reason of any bytes goes out as a valid close frame.
		goodbye := AppendClose(nil, CloseGoingAway, string(payload))
		if _, goodbyeSize, err := ParseFrameHeader(goodbye); err != nil {
			t.Fatalf("ParseFrameHeader(AppendClose(%q)) = %v", payload, err)
		} else if _, _, err := ParseClosePayload(goodbye[goodbyeSize:]); err != nil && utf8.Valid(payload) {
			t.Fatalf("ParseClosePayload(AppendClose(%q)) = %v", payload, err)
		}

		code, reason, err := ParseClosePayload(payload)
		switch {
		case len(payload) == 0:
			if code != CloseNoStatus || err != nil {
				t.Fatalf("ParseClosePayload(empty) = %d, %v; want %d", code, err, CloseNoStatus)
			}
			return
		case len(payload) == 1 || !closeCodeAllowed(uint16(payload[0])<<8|uint16(payload[1])):
			if !errors.Is(err, ErrInvalidClosePayload) {
				t.Fatalf("ParseClosePayload(%x) = %d, %v; want %v", payload, code, err, ErrInvalidClosePayload)
			}
			return
		case !utf8.Valid(payload[2:]):
			if !errors.Is(err, ErrCloseReasonNotUTF8) {
				t.Fatalf("ParseClosePayload(%x) = %d, %v; want %v", payload, code, err, ErrCloseReasonNotUTF8)
			}
			return
		}
		if err != nil || uint16(code) != uint16(payload[0])<<8|uint16(payload[1]) || !bytes.Equal(reason, payload[2:]) {
			t.Fatalf("ParseClosePayload(%x) = %d, %q, %v", payload, code, reason, err)
		}
		// Echoed as the engine does, the frame is valid and reads back the
		// same code, and the reason as much of it as fits.
		frame := AppendClose(nil, code, string(reason))
		header, size, err := ParseFrameHeader(frame)
		if err != nil || header.OpCode != OpClose || int(header.Length) != len(frame)-size {
			t.Fatalf("ParseFrameHeader(AppendClose(%d, %q)) = %+v, %v", code, reason, header, err)
		}
		again, againReason, err := ParseClosePayload(frame[size:])
		if err != nil || again != code || !bytes.HasPrefix(reason, againReason) {
			t.Fatalf("ParseClosePayload(AppendClose(%d, %q)) = %d, %q, %v", code, reason, again, againReason, err)
		}
	})
}

package wire

import (
	"encoding/binary"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// AppendClose appends a close frame with a status code and reason (RFC 6455
// §5.5.1). The reason is cut, on a UTF-8 boundary, to fit the 125-byte control
// frame limit. A code of 0 sends an empty body (no status).
//
// ws.NewCloseFrameBody allocates the body and ws.PutCloseFrameBody needs it
// sized beforehand; appending writes it straight after the header.
func AppendClose(dst []byte, code StatusCode, reason string) []byte {
	if code == 0 {
		return AppendFrameHeader(dst, OpClose, 0)
	}
	const maxReason = ws.MaxControlFramePayloadSize - 2
	if len(reason) > maxReason {
		cut := maxReason
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut]
	}
	dst = AppendFrameHeader(dst, OpClose, 2+len(reason))
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	return append(dst, reason...)
}

// ParseClosePayload parses the (unmasked) body of a close frame (RFC 6455
// §5.5.1): an empty body gives CloseNoStatus. A one-byte body, a code that
// must not be sent (§7.4.1, §7.4.2: below 1000, 1004-1006, 1015, 1016-2999
// except the registered 1007-1014, 5000 and up) gives ErrInvalidClosePayload;
// a valid code with a reason that is not UTF-8 (§5.5.1) gives
// ErrCloseReasonNotUTF8. reason aliases payload. It does not allocate
// (except in a purego build, where ws copies the reason to check it).
func ParseClosePayload(payload []byte) (code StatusCode, reason []byte, err error) {
	switch len(payload) {
	case 0:
		// ws.ParseCloseFrameData answers 0 here, on purpose (its comment):
		// the RFC's 1005 is what the connection's close code is considered.
		return CloseNoStatus, nil, nil
	case 1:
		// ws.ParseCloseFrameData reads one byte as no body at all.
		return 0, nil, ErrInvalidClosePayload
	}
	// The Unsafe variant aliases payload instead of copying the reason.
	code, reasonText := ws.ParseCloseFrameDataUnsafe(payload)
	if !validCloseCode(code) {
		return 0, nil, ErrInvalidClosePayload
	}
	if !utf8.ValidString(reasonText) {
		return 0, nil, ErrCloseReasonNotUTF8
	}
	return code, payload[2:], nil
}

// validCloseCode reports whether a peer may send code (RFC 6455 §7.4, and the
// IANA registry that added 1012-1014). ws.CheckCloseFrameData does not fit:
// it refuses 1012-1014, which it does not know, and accepts 5000 and up,
// which §7.4.2 does not define; its predicates are used instead.
func validCloseCode(code StatusCode) bool {
	switch {
	case code.IsApplicationSpec(), code.IsPrivateSpec():
		return true
	case !code.IsProtocolSpec():
		return false
	case code >= 1012 && code <= 1014: // Service Restart, Try Again Later, Bad Gateway
		return true
	}
	return code.IsProtocolDefined() && !code.IsProtocolReserved()
}

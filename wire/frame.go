package wire

import "github.com/gobwas/ws"

// The RFC 6455 vocabulary is gobwas/ws's, the library the engine does the
// WebSocket handshake with: aliases rather than copies, so a header or a
// status code passes between the two without conversion. What wire adds is
// parsing and building frames in the caller's buffers (frameread.go,
// framewrite.go, close.go), which ws only does through an io.Reader or
// io.Writer.

// OpCode is a WebSocket frame opcode (RFC 6455 §5.2).
type OpCode = ws.OpCode

// WebSocket opcodes (RFC 6455 §5.2, §11.8).
const (
	OpContinuation = ws.OpContinuation
	OpText         = ws.OpText
	OpBinary       = ws.OpBinary
	OpClose        = ws.OpClose
	OpPing         = ws.OpPing
	OpPong         = ws.OpPong
)

// FrameHeader is a parsed frame header (RFC 6455 §5.2); Rsv holds the three
// RSV bits in its low bits.
type FrameHeader = ws.Header

// StatusCode is a close frame status code (RFC 6455 §7.4).
type StatusCode = ws.StatusCode

// Close codes used by the server (RFC 6455 §7.4.1).
const (
	CloseNormal          = ws.StatusNormalClosure
	CloseGoingAway       = ws.StatusGoingAway
	CloseProtocolError   = ws.StatusProtocolError
	CloseUnsupportedData = ws.StatusUnsupportedData
	CloseNoStatus        = ws.StatusNoStatusRcvd // never sent: what an empty close body means
	CloseInvalidPayload  = ws.StatusInvalidFramePayloadData
	ClosePolicyViolation = ws.StatusPolicyViolation
	CloseMessageTooBig   = ws.StatusMessageTooBig
	CloseInternalError   = ws.StatusInternalServerError
)

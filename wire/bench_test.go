package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/bytedance/sonic"
	"github.com/gobwas/ws"
)

var (
	tick      = []byte(`{"symbol":"BTCUSD","price":50123.45,"volume":12.5,"high24h":51000,"low24h":49000,"change24h":120.5,"changePercent24h":0.24,"timestamp":1764057600000}`)
	sinkBytes []byte
)

func BenchmarkAppendFrame(b *testing.B) {
	for _, size := range []int{len(tick), 1024, 70000} {
		payload := make([]byte, size)
		b.Run(fmt.Sprintf("bytes=%d", size), func(b *testing.B) {
			dst := make([]byte, 0, ServerFrameSize(size))
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				dst = AppendFrame(dst[:0], OpText, payload)
			}
			sinkBytes = dst
		})
	}
}

// BenchmarkMarketDataFrame is the whole per-tick build of DESIGN.md step 2:
// header + `42["market:data",` + tick + `]` in one buffer.
func BenchmarkMarketDataFrame(b *testing.B) {
	dst := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		n := len(`42["market:data",]`) + len(tick)
		dst = AppendFrameHeader(dst[:0], OpText, n)
		dst = AppendEvent(dst, "/", "market:data", tick)
	}
	sinkBytes = dst
}

func BenchmarkAppendEvent(b *testing.B) {
	dst := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendEvent(dst[:0], "/", "market:data", tick)
	}
	sinkBytes = dst
}

func BenchmarkParseSocketPacket(b *testing.B) {
	inputs := []struct {
		name  string
		input string
	}{
		{name: "subscribe", input: `212["subscribe:market",{"symbols":["BTCUSD","ETHUSD","SOLUSD"]}]`},
		{name: "connect", input: `0{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTEiLCJleHAiOjE3NjQwNTc2MDB9.abc"}`},
		{name: "namespace", input: `2/admin,12["subscribe:orders"]`},
	}
	for _, input := range inputs {
		data := []byte(input.input)
		b.Run(input.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := ParseSocketPacket(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseEvent(b *testing.B) {
	data := []byte(`["subscribe:market",{"symbols":["BTCUSD","ETHUSD","SOLUSD"]}]`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseEvent(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseFrameHeader(b *testing.B) {
	header := []byte{0x81, 0xfe, 0x01, 0x00, 1, 2, 3, 4}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseFrameHeader(header); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadHeaderFromSlice is what ParseFrameHeader would cost done by
// gobwas/ws, which reads headers from an io.Reader (frameread.go).
func BenchmarkReadHeaderFromSlice(b *testing.B) {
	header := []byte{0x81, 0xfe, 0x01, 0x00, 1, 2, 3, 4}
	b.ReportAllocs()
	for b.Loop() {
		var scratch [ws.MaxHeaderSize - 2]byte
		if _, err := ws.ReadHeaderBuffer(bytes.NewReader(header), scratch[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendFrameHeader compares AppendFrameHeader with gobwas/ws's
// WriteHeaderBuffer writing into a buffer (framewrite.go).
func BenchmarkAppendFrameHeader(b *testing.B) {
	b.Run("wire", func(b *testing.B) {
		dst := make([]byte, 0, ws.MaxHeaderSize)
		b.ReportAllocs()
		for b.Loop() {
			dst = AppendFrameHeader(dst[:0], OpText, 300)
		}
		sinkBytes = dst
	})
	b.Run("ws.WriteHeaderBuffer", func(b *testing.B) {
		buffer := bytes.NewBuffer(make([]byte, 0, ws.MaxHeaderSize))
		b.ReportAllocs()
		for b.Loop() {
			buffer.Reset()
			var scratch [ws.MaxHeaderSize]byte
			if err := ws.WriteHeaderBuffer(buffer, ws.Header{Fin: true, OpCode: OpText, Length: 300}, scratch[:]); err != nil {
				b.Fatal(err)
			}
		}
		sinkBytes = buffer.Bytes()
	})
}

// BenchmarkUnmask measures ws.Cipher, which the engine unmasks client frames
// with; before it wire had its own Unmask, benchmarked under this name.
func BenchmarkUnmask(b *testing.B) {
	payload := make([]byte, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		ws.Cipher(payload, [4]byte{1, 2, 3, 4}, 1)
	}
}

// BenchmarkValidJSON compares the validators validJSON could use on client
// event payloads (json.go): encoding/json's and sonic's.
func BenchmarkValidJSON(b *testing.B) {
	inputs := []struct {
		name  string
		input string
	}{
		{name: "subscribe", input: `["subscribe:market",{"symbols":["BTCUSD","ETHUSD","SOLUSD"]}]`},
		{name: "symbols=100", input: `["subscribe:market",{"symbols":[` + strings.Repeat(`"BTCUSD.PERP",`, 99) + `"ETHUSD"]}]`},
	}
	validators := []struct {
		name  string
		valid func([]byte) bool
	}{
		{name: "encoding/json", valid: json.Valid},
		{name: "sonic", valid: sonic.Valid},
	}
	for _, input := range inputs {
		data := []byte(input.input)
		for _, validator := range validators {
			b.Run(input.name+"/"+validator.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					if !validator.valid(data) {
						b.Fatal("invalid")
					}
				}
			})
		}
	}
}

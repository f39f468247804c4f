package ingest

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/bytedance/sonic/ast"
	"github.com/protrader5/ws-gateway/engine/auth"
	"github.com/protrader5/ws-gateway/wire"
)

// Messages as the backends publish them (docs/protocol.md, the shapes of
// the server's events; the same as BenchmarkHandle).
var (
	benchmarkTick     = []byte(`{"symbol":"BTCUSD","price":50000.5,"volume":1000000,"high24h":51000,"low24h":49000,"change24h":500,"changePercent24h":1,"timestamp":1700000000000}`)
	benchmarkOrder    = []byte(`{"orderId":"o-1","userId":"user-42","symbol":"BTCUSD","type":"LIMIT","side":"BUY","quantity":0.1,"price":50000,"status":"FILLED","filledQuantity":0.1,"remainingQuantity":0,"averagePrice":50000,"timestamp":1700000000000}`)
	benchmarkPosition = []byte(`{"positionId":"p1","userId":"user-42","symbol":"BTCUSD","side":"LONG","quantity":0.1,"entryPrice":50000,"currentPrice":50000,"unrealizedPnL":0,"unrealizedPnLPercent":0,"realizedPnL":0,"timestamp":1700000000000}`)
	// benchmarkNotification has escapes, which send checkDocument through
	// its strict second pass.
	benchmarkNotification = []byte(`{"id":"n-1","userId":"user-42","type":"ORDER_FILLED","title":"Order filled","message":"Your order \"o-1\" was filled at 50000","priority":"HIGH","read":false,"timestamp":1700000000000,"metadata":{"orderId":"o-1","symbol":"BTCUSD"}}`)
)

// searchObject returns a lazily parsed sonic node of object (valid JSON).
func searchObject(object []byte) (ast.Node, error) {
	searcher := ast.NewSearcher(unsafe.String(unsafe.SliceData(object), len(object)))
	searcher.ValidateJSON = false // checkDocument did
	return searcher.GetByPath()
}

// decodeTickWithSonic is decodeTick done with sonic's ast throughout, for
// BenchmarkDecode to compare with the scanner (decode.go). ForEach hands
// over member names unescaped, so the duplicate rule holds too.
func decodeTickWithSonic(tick []byte) (symbol string, price float64, reason Reason, ok bool) {
	root, err := searchObject(tick)
	if err != nil || root.TypeSafe() != ast.V_OBJECT {
		return "", 0, ReasonNotObject, false
	}
	var symbolNode, priceNode *ast.Node
	symbolCount := 0
	err = root.ForEach(func(path ast.Sequence, node *ast.Node) bool {
		switch *path.Key {
		case "symbol":
			symbolNode = node
			symbolCount++
		case "price":
			priceNode = node
		}
		return true
	})
	switch {
	case err != nil:
		return "", 0, ReasonInvalidJSON, false
	case symbolCount == 0:
		return "", 0, ReasonMissingSymbol, false
	case symbolCount > 1:
		return "", 0, ReasonDuplicateKey, false
	}
	if symbolNode.TypeSafe() != ast.V_STRING {
		return "", 0, ReasonInvalidSymbol, false
	}
	symbol, err = symbolNode.String()
	if err != nil || !wire.ValidSymbol(symbol) {
		return "", 0, ReasonInvalidSymbol, false
	}
	if priceNode == nil {
		return symbol, 0, 0, true
	}
	if priceNode.TypeSafe() != ast.V_NUMBER {
		return "", 0, ReasonInvalidPrice, false
	}
	raw, err := priceNode.Raw()
	if err != nil {
		return "", 0, ReasonInvalidPrice, false
	}
	price, err = strconv.ParseFloat(raw, 64)
	if err != nil || math.IsInf(price, 0) {
		return "", 0, ReasonInvalidPrice, false
	}
	return symbol, price, 0, true
}

// decodeUserWithSonic is decodeUser done with sonic's ast throughout.
func decodeUserWithSonic(payload []byte) (string, Reason, bool) {
	root, err := searchObject(payload)
	if err != nil || root.TypeSafe() != ast.V_OBJECT {
		return "", ReasonNotObject, false
	}
	var userNode *ast.Node
	userCount := 0
	err = root.ForEach(func(path ast.Sequence, node *ast.Node) bool {
		if *path.Key == "userId" {
			userNode = node
			userCount++
		}
		return true
	})
	switch {
	case err != nil:
		return "", ReasonInvalidJSON, false
	case userCount == 0:
		return "", ReasonMissingUser, false
	case userCount > 1:
		return "", ReasonDuplicateKey, false
	}
	if userNode.TypeSafe() != ast.V_STRING {
		return "", ReasonInvalidUser, false
	}
	userID, err := userNode.String()
	if err != nil || !auth.ValidUserID(userID) {
		return "", ReasonInvalidUser, false
	}
	return strings.Clone(userID), 0, true
}

// The sonic variant must read what the scanner reads, or the comparison
// means nothing.
func TestDecodeWithSonicAgrees(t *testing.T) {
	router := NewRouter(nopPublisher{}, RouterOptions{Logger: quietLogger()})
	for _, tick := range [][]byte{benchmarkTick, []byte(`{"\u0073ymbol":"A","symbol":"B"}`), []byte(`{"symbol":"A","price":"1"}`), []byte(`{"sym\u0062ol":"ETHUSD"}`)} {
		fields, reason, ok := router.decodeTick(tick)
		symbol, price, sonicReason, sonicOK := decodeTickWithSonic(tick)
		if ok != sonicOK || reason != sonicReason || ok && (symbol != fields.symbol || price != fields.price) {
			t.Errorf("tick %s: scanner %+v, %v, %v; sonic %q, %v, %v, %v", tick, fields, reason, ok, symbol, price, sonicReason, sonicOK)
		}
	}
	for _, message := range [][]byte{benchmarkOrder, benchmarkPosition, benchmarkNotification, []byte(`{"user\u0049d":"bob","userId":"alice"}`), []byte(`{"userId":7}`)} {
		userID, reason, ok := decodeUser(message)
		sonicUserID, sonicReason, sonicOK := decodeUserWithSonic(message)
		if userID != sonicUserID || reason != sonicReason || ok != sonicOK {
			t.Errorf("user message %s: scanner %q, %v, %v; sonic %q, %v, %v", message, userID, reason, ok, sonicUserID, sonicReason, sonicOK)
		}
	}
}

// BenchmarkDecode compares the two ways decode.go could find the members
// it routes on, after the same validation (checkDocument): its scanner and
// sonic's ast. The results are in bench/RESULTS.md.
func BenchmarkDecode(b *testing.B) {
	router := NewRouter(nopPublisher{}, RouterOptions{Logger: quietLogger()})
	router.decodeTick(benchmarkTick) // intern the symbol
	b.Run("tick/scanner", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchmarkTick)))
		for b.Loop() {
			if _, ok := checkDocument(benchmarkTick); !ok {
				b.Fatal("invalid")
			}
			if _, _, ok := router.decodeTick(benchmarkTick); !ok {
				b.Fatal("rejected")
			}
		}
	})
	b.Run("tick/sonic", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchmarkTick)))
		for b.Loop() {
			if _, ok := checkDocument(benchmarkTick); !ok {
				b.Fatal("invalid")
			}
			if _, _, _, ok := decodeTickWithSonic(benchmarkTick); !ok {
				b.Fatal("rejected")
			}
		}
	})
	for _, message := range []struct {
		name    string
		payload []byte
	}{{"order", benchmarkOrder}, {"position", benchmarkPosition}, {"notification", benchmarkNotification}} {
		b.Run(message.name+"/scanner", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(message.payload)))
			for b.Loop() {
				if _, ok := checkDocument(message.payload); !ok {
					b.Fatal("invalid")
				}
				if _, _, ok := decodeUser(message.payload); !ok {
					b.Fatal("rejected")
				}
			}
		})
		b.Run(message.name+"/sonic", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(message.payload)))
			for b.Loop() {
				if _, ok := checkDocument(message.payload); !ok {
					b.Fatal("invalid")
				}
				if _, _, ok := decodeUserWithSonic(message.payload); !ok {
					b.Fatal("rejected")
				}
			}
		})
	}
}

// BenchmarkCheckDocument compares checkDocument (sonic.Valid, then
// encoding/json.Valid when a string may hold what sonic lets through) with
// encoding/json.Valid alone, which would make ingest sonic-free.
func BenchmarkCheckDocument(b *testing.B) {
	for _, message := range []struct {
		name    string
		payload []byte
	}{{"tick", benchmarkTick}, {"order", benchmarkOrder}, {"notification", benchmarkNotification}} {
		b.Run(message.name+"/checkDocument", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(message.payload)))
			for b.Loop() {
				if _, ok := checkDocument(message.payload); !ok {
					b.Fatal("invalid")
				}
			}
		})
		b.Run(message.name+"/encoding-json", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(message.payload)))
			for b.Loop() {
				if !json.Valid(message.payload) {
					b.Fatal("invalid")
				}
			}
		})
	}
}

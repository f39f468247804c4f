//go:build !race

package engine

import (
	"fmt"
	"testing"
)

// TestMsgpackFanoutAllocatesOnlyTheTranslation is the allocation gate of
// mixed populations: a tick to 500 JSON and 500 msgpack sockets allocates
// its one msgpack translation and nothing per delivery; a user message to
// a user's JSON and msgpack sockets likewise.
func TestMsgpackFanoutAllocatesOnlyTheTranslation(t *testing.T) {
	e := newTestEngine(t, Config{Shards: 1})
	for i := 0; i < 1000; i++ {
		parser := parserJSON
		if i%2 == 1 {
			parser = parserMsgpack
		}
		subscribe(t, e, attachParserConn(t, e, fmt.Sprintf("user%d", i), parser, newMemorySink(false)), "AAA")
	}
	deliver := tickDeliverer(e, "AAA")
	if allocs := testing.AllocsPerRun(100, deliver); allocs != 1 {
		t.Fatalf("fanning one tick out to 500 JSON and 500 msgpack sockets allocates %.1f times; want 1 (the translation)", allocs)
	}

	for i := 0; i < 4; i++ {
		c := attachParserConn(t, e, "both", parserJSON+clientParser(i%2), newMemorySink(false))
		if !e.setStream(c, StreamOrders, true) {
			t.Fatal("setStream failed")
		}
	}
	order := newEventFrame(StreamOrders.EventName(), []byte(`{"userId":"both","orderId":"o"}`))
	order.stream = StreamOrders
	userEvents := []shardEvent{{frame: order, userID: "both", stream: StreamOrders}}
	s := e.shards[0]
	s.deliver(userEvents) // warm the pools
	if allocs := testing.AllocsPerRun(100, func() { s.deliver(userEvents) }); allocs != 1 {
		t.Fatalf("a user message to two JSON and two msgpack sockets allocates %.1f times; want 1 (the translation)", allocs)
	}
}

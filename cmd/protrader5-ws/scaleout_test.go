package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/protrader5/ws-gateway/ingest/redistest"
	"github.com/redis/rueidis"
)

// Gateway processes sharing one Redis (docs/ingest.md) deliver a message
// published once to every subscribed socket on every node exactly once.

const (
	scaleNodes   = 3
	scaleUsers   = 300
	scaleOrders  = 10000
	scaleSymbols = 10
)

func scaleUser(i int) string    { return fmt.Sprintf("u%03d", i) }
func scaleOrderID(k int) string { return fmt.Sprintf("o%05d", k) }
func scaleSymbol(i int) string  { return fmt.Sprintf("ZZS%d", i%scaleSymbols) }
func scaleOrderUser(k int) int  { return k % scaleUsers }
func scaleOrder(k int) string {
	return fmt.Sprintf(`{"orderId":%q,"userId":%q,"symbol":"BTCUSD","type":"LIMIT","side":"BUY","quantity":1,"price":50000,"status":"NEW","filledQuantity":0,"remainingQuantity":1,"averagePrice":0,"timestamp":"2026-11-25T08:00:00.000Z"}`,
		scaleOrderID(k), scaleUser(scaleOrderUser(k)))
}

// publishAll pipelines messages on channel (prefix included) and checks
// that Redis handed each one to every node.
func publishAll(t *testing.T, client rueidis.Client, channel string, messages []string, receivers int64) {
	t.Helper()
	commands := make(rueidis.Commands, len(messages))
	for i, message := range messages {
		commands[i] = client.B().Publish().Channel(channel).Message(message).Build()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wrong := 0
	for i, result := range client.DoMulti(ctx, commands...) {
		n, err := result.AsInt64()
		if err != nil {
			t.Fatalf("PUBLISH %s #%d: %v", channel, i, err)
		}
		if n != receivers && wrong < 5 {
			wrong++
			t.Errorf("PUBLISH %s #%d reached %d subscribers; want %d (one per node)", channel, i, n, receivers)
		}
	}
}

// drain polls count until it reaches want and holds for settle (to let
// duplicates show), or stops growing for idle, or the deadline passes.
func drain(count func() int, want int, settle, idle, deadline time.Duration) int {
	end := time.Now().Add(deadline)
	last, since := -1, time.Now()
	for {
		n := count()
		if n != last {
			last, since = n, time.Now()
		}
		switch {
		case n >= want && time.Since(since) >= settle:
			return n
		case n < want && time.Since(since) >= idle:
			return n
		case time.Now().After(end):
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// offenders keeps the first few examples of one kind of failure.
type offenders struct {
	count    int
	examples []string
}

func (o *offenders) add(format string, arguments ...any) {
	o.count++
	if len(o.examples) < 5 {
		o.examples = append(o.examples, fmt.Sprintf(format, arguments...))
	}
}

func (o *offenders) report(t *testing.T, what string) {
	t.Helper()
	if o.count > 0 {
		t.Errorf("%d %s; first: %s", o.count, what, strings.Join(o.examples, "; "))
	}
}

func TestRedisScaleOutExactlyOnce(t *testing.T) {
	url, prefix := redistest.URL(t), e2ePrefix(t)
	nodes := make([]*gateway, scaleNodes)
	for i := range nodes {
		nodes[i] = startGateway(t, 0, redisEnv(url, prefix)...)
	}
	for _, node := range nodes {
		node.waitReady(200, 10*time.Second)
	}

	// User i on node i%3, subscribed to its orders and to one symbol.
	clients := make([]*sioClient, scaleUsers)
	errs := make([]error, scaleUsers)
	var wg sync.WaitGroup
	work := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range work {
				client, err := dialSIO(t, nodes[i%scaleNodes].port, scaleUser(i), interopToken(t, scaleUser(i), time.Hour))
				if err != nil {
					errs[i] = err
					continue
				}
				clients[i] = client
				if ack, err := client.emitAck(1, "subscribe:orders", ""); err != nil || ack != `{"ok":true}` {
					errs[i] = fmt.Errorf("user %s subscribe:orders ack %q, %v", scaleUser(i), ack, err)
					continue
				}
				want := fmt.Sprintf(`{"ok":true,"symbols":[%q]}`, scaleSymbol(i))
				if ack, err := client.emitAck(2, "subscribe:market", fmt.Sprintf(`{"symbols":[%q]}`, scaleSymbol(i))); err != nil || ack != want {
					errs[i] = fmt.Errorf("user %s subscribe:market ack %q, %v; want %s", scaleUser(i), ack, err, want)
				}
			}
		})
	}
	for i := range scaleUsers {
		work <- i
	}
	close(work)
	wg.Wait()
	t.Cleanup(func() {
		for _, client := range clients {
			if client != nil {
				client.close()
			}
		}
	})
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	backend := newBackend(t, url, prefix)
	messages := make([]string, scaleOrders)
	for k := range messages {
		messages[k] = scaleOrder(k)
	}
	started := time.Now()
	publishAll(t, backend.client, prefix+"order:updates", messages, scaleNodes)
	totalOrders := func() int {
		n := 0
		for _, client := range clients {
			orders, _, _ := client.received()
			n += len(orders)
		}
		return n
	}
	got := drain(totalOrders, scaleOrders, 500*time.Millisecond, 5*time.Second, 30*time.Second)
	t.Logf("%d order updates over %d nodes: %d delivered in %v", scaleOrders, scaleNodes, got, time.Since(started).Round(time.Millisecond))

	var lost, duplicated, misrouted, reordered, strays offenders
	seen := make(map[string][]string, scaleOrders) // orderId → users whose socket got it
	for _, client := range clients {
		orders, _, other := client.received()
		var inOrder []string
		for _, order := range orders {
			seen[order.OrderID] = append(seen[order.OrderID], client.user)
			var k int
			if _, err := fmt.Sscanf(order.OrderID, "o%05d", &k); err != nil || order.UserID != client.user || scaleUser(scaleOrderUser(k)) != client.user {
				misrouted.add("%s (userId %q) on the socket of %s", order.OrderID, order.UserID, client.user)
				continue
			}
			inOrder = append(inOrder, order.OrderID)
		}
		// Losses and duplicates are reported below; what arrived must be
		// in publish order (zero-padded ids sort as published).
		if !slices.IsSorted(inOrder) {
			reordered.add("%s got %v", client.user, inOrder[:min(len(inOrder), 8)])
		}
		for _, text := range other {
			strays.add("%s got %.120s", client.user, text)
		}
		if gone, err := client.disconnected(); gone {
			t.Errorf("user %s was disconnected: %v", client.user, err)
		}
	}
	for k := range scaleOrders {
		id := scaleOrderID(k)
		switch users := seen[id]; {
		case len(users) == 0:
			lost.add("%s for %s", id, scaleUser(scaleOrderUser(k)))
		case len(users) > 1:
			duplicated.add("%s delivered %d times (%v)", id, len(users), users)
		}
	}
	lost.report(t, "order updates lost")
	duplicated.report(t, "order updates duplicated")
	misrouted.report(t, "order updates misrouted")
	reordered.report(t, "users got their order updates out of publish order")
	strays.report(t, "unexpected packets")
	if t.Failed() {
		return
	}

	// One tick per symbol, published once: every subscriber on every node
	// gets exactly its symbol's tick.
	ticks := make([]string, scaleSymbols)
	for s := range ticks {
		ticks[s] = fmt.Sprintf(`{"symbol":"ZZS%d","price":%d,"seq":%d}`, s, 100+s, s)
	}
	publishAll(t, backend.client, prefix+"market:ticks", ticks, scaleNodes)
	totalTicks := func() int {
		n := 0
		for _, client := range clients {
			_, ticks, _ := client.received()
			n += len(ticks)
		}
		return n
	}
	got = drain(totalTicks, scaleUsers, 500*time.Millisecond, 5*time.Second, 20*time.Second)
	var wrongTicks offenders
	for i, client := range clients {
		_, ticks, _ := client.received()
		want := []sioTick{{Symbol: scaleSymbol(i), Seq: i % scaleSymbols}}
		if !slices.Equal(ticks, want) {
			wrongTicks.add("%s (node %d) got %v; want %v", client.user, i%scaleNodes, ticks, want)
		}
	}
	wrongTicks.report(t, fmt.Sprintf("sockets did not get exactly their symbol's tick once (%d ticks delivered, want %d)", got, scaleUsers))
}

package main

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// feeder publishes ticks and order updates to Redis at steady rates. Tick
// number n goes to symbol n%Symbols with seq n/Symbols+1, so the highest seq
// of every symbol follows from the count alone; order number n goes to user
// orderTarget(n).
type feeder struct {
	config *config
	redis  rueidis.Client

	ticks  atomic.Uint64 // published so far
	orders atomic.Uint64
}

func newFeeder(c *config) (*feeder, error) {
	options, err := rueidis.ParseURL(c.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("loadgen: -redis-url: %w", err)
	}
	options.DisableCache = true
	// Longer than rueidis's 10 s: a server under test can stall Redis for
	// seconds (the Node streams adapter reads whole stream tails when it
	// restores sessions), which should delay the feed, not end the run.
	options.ConnWriteTimeout = time.Minute
	client, err := rueidis.NewClient(options)
	if err != nil {
		return nil, fmt.Errorf("loadgen: redis: %w", err)
	}
	return &feeder{config: c, redis: client}, nil
}

func (f *feeder) close() { f.redis.Close() }

// appendTick writes tick number n. The fields the load generator checks come
// first and without spaces (see jsonIntField); the rest is the tick shape of
// the service this gateway replaces.
func (f *feeder) appendTick(buffer []byte, n uint64, sentAt int64) []byte {
	symbol := n % uint64(f.config.Symbols)
	seq := n/uint64(f.config.Symbols) + 1
	price := 100 + float64(symbol) + float64(seq%100)/100
	buffer = append(buffer, `{"symbol":"`...)
	buffer = append(buffer, f.config.SymbolPrefix...)
	buffer = strconv.AppendUint(buffer, symbol, 10)
	buffer = append(buffer, `","run":`...)
	buffer = strconv.AppendInt(buffer, f.config.RunID, 10)
	buffer = append(buffer, `,"seq":`...)
	buffer = strconv.AppendUint(buffer, seq, 10)
	buffer = append(buffer, `,"sentAt":`...)
	buffer = strconv.AppendInt(buffer, sentAt, 10)
	buffer = append(buffer, `,"price":`...)
	buffer = strconv.AppendFloat(buffer, price, 'f', 2, 64)
	buffer = append(buffer, `,"volume":1000000,"high24h":`...)
	buffer = strconv.AppendFloat(buffer, price*1.02, 'f', 2, 64)
	buffer = append(buffer, `,"low24h":`...)
	buffer = strconv.AppendFloat(buffer, price*0.98, 'f', 2, 64)
	buffer = append(buffer, `,"change24h":1.5,"changePercent24h":0.75,"timestamp":`...)
	buffer = strconv.AppendInt(buffer, sentAt/int64(time.Millisecond), 10)
	return append(buffer, '}')
}

// appendOrder writes order update number n.
func (f *feeder) appendOrder(buffer []byte, n uint64, sentAt int64) []byte {
	buffer = append(buffer, `{"orderId":"o`...)
	buffer = strconv.AppendInt(buffer, f.config.RunID, 10)
	buffer = append(buffer, '-')
	buffer = strconv.AppendUint(buffer, n, 10)
	buffer = append(buffer, `","userId":"`...)
	buffer = append(buffer, userID(orderTarget(n, f.config.orderUsers()))...)
	buffer = append(buffer, `","run":`...)
	buffer = strconv.AppendInt(buffer, f.config.RunID, 10)
	buffer = append(buffer, `,"seq":`...)
	buffer = strconv.AppendUint(buffer, n, 10)
	buffer = append(buffer, `,"sentAt":`...)
	buffer = strconv.AppendInt(buffer, sentAt, 10)
	buffer = append(buffer, `,"symbol":"BTCUSD","type":"LIMIT","side":"BUY","quantity":1,"price":50000,"status":"FILLED","filledQuantity":1,"remainingQuantity":0,"averagePrice":50000,"timestamp":`...)
	buffer = strconv.AppendInt(buffer, sentAt/int64(time.Millisecond), 10)
	return append(buffer, '}')
}

// ordersStreamLength bounds the order:updates stream: far more than a run
// appends (5,000/s for a few minutes), so that nothing a server may still
// replay is trimmed, and still a bound on what a series of runs leaves.
const ordersStreamLength = "2000000"

// orderCommand publishes one order update, on the channel or, with
// OrdersStream, as the data field of a stream entry.
func (f *feeder) orderCommand(order string) rueidis.Completed {
	if f.config.OrdersStream {
		return f.redis.B().Xadd().Key("order:updates").Maxlen().Almost().Threshold(ordersStreamLength).
			Id("*").FieldValue().FieldValue("data", order).Build()
	}
	return f.redis.B().Publish().Channel("order:updates").Message(order).Build()
}

// run publishes until length has passed since start or ctx ends (then it
// returns ctx.Err()). Every millisecond or
// so it sends, in one pipelined round trip, whatever is due by then, so the
// rates hold even when one publish costs more than its share of a second.
func (f *feeder) run(ctx context.Context, start time.Time, length time.Duration) error {
	tickRate := f.config.Rate * float64(f.config.Symbols)
	orderRate := f.config.OrdersRate
	end := start.Add(length)
	commands := make(rueidis.Commands, 0, 256)
	var buffer []byte
	for {
		now := time.Now()
		if now.After(end) {
			now = end
		}
		elapsed := now.Sub(start).Seconds()
		dueTicks := uint64(elapsed * tickRate)
		dueOrders := uint64(elapsed * orderRate)
		commands = commands[:0]
		sentAt := time.Now().UnixNano()
		for n := f.ticks.Load(); n < dueTicks; n++ {
			buffer = f.appendTick(buffer[:0], n, sentAt)
			commands = append(commands, f.redis.B().Publish().Channel("market:ticks").Message(string(buffer)).Build())
		}
		for n := f.orders.Load(); n < dueOrders; n++ {
			buffer = f.appendOrder(buffer[:0], n, sentAt)
			commands = append(commands, f.orderCommand(string(buffer)))
		}
		if len(commands) > 0 {
			// A batch is never cut short by ctx: stopping between batches
			// keeps the counters equal to what reached Redis, so a run
			// stopped early (loadgen soak stops the feed this way) still
			// knows exactly what its clients must have received.
			for _, response := range f.redis.DoMulti(context.WithoutCancel(ctx), commands...) {
				if err := response.Error(); err != nil {
					return fmt.Errorf("loadgen: publish: %w", err)
				}
			}
		}
		f.ticks.Store(max(f.ticks.Load(), dueTicks))
		f.orders.Store(max(f.orders.Load(), dueOrders))
		if !now.Before(end) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

// publication returns what has been published so far.
func (f *feeder) publication() *publication {
	ticks := f.ticks.Load()
	symbols := uint64(f.config.Symbols)
	published := &publication{TickSeq: make([]uint32, symbols), Orders: f.orders.Load()}
	for symbol := range published.TickSeq {
		// Ticks 0..ticks-1: symbol s got seq 1..ceil((ticks-s)/symbols).
		if uint64(symbol) < ticks {
			published.TickSeq[symbol] = uint32((ticks - uint64(symbol) + symbols - 1) / symbols)
		}
	}
	return published
}

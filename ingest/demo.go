package ingest

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/bytedance/sonic"
	"github.com/protrader5/ws-gateway/engine/auth"
)

const (
	// DefaultDemoUserID is the user the demo feed sends orders, positions and
	// notifications to.
	DefaultDemoUserID = "demo"
	// DefaultDemoTickInterval is the time between two ticks of each demo
	// symbol (4 ticks per second per symbol).
	DefaultDemoTickInterval = 250 * time.Millisecond
	// DefaultDemoEventInterval is the time between two rounds of demo order,
	// position and notification messages.
	DefaultDemoEventInterval = 3 * time.Second
)

// DemoOptions configures a DemoFeed. The zero value works.
type DemoOptions struct {
	// UserID receives the demo user messages. Empty means DefaultDemoUserID.
	UserID string
	// UserIDs are more users that receive the same kind of messages, e.g.
	// the subjects of development tokens.
	UserIDs []string
	// TickInterval is the time between two ticks of each symbol. Zero means
	// DefaultDemoTickInterval (250ms).
	TickInterval time.Duration
	// EventInterval is the time between two rounds of user messages. Zero
	// means DefaultDemoEventInterval (3s).
	EventInterval time.Duration
	// Seed makes the walk reproducible. Zero means a seed from the clock.
	Seed uint64
	// Now stamps messages. Nil means time.Now.
	Now func() time.Time
}

// demoAsset is one symbol of the demo walk. open is fixed at start, so the
// 24h fields stay consistent with the walk.
type demoAsset struct {
	symbol     string
	decimals   int
	volatility float64 // standard deviation of one step, relative
	baseVolume float64 // volume added per tick, on average

	open, price, high, low, volume float64
}

// demoPosition is an open position of every demo user.
type demoPosition struct {
	asset      int
	short      bool
	quantity   float64
	entryPrice float64
}

// DemoFeed moves a few symbols by a random walk and now and then sends the
// demo users an order update, a position update and a notification, all
// through a Bus. Not safe for concurrent use: Run owns it.
type DemoFeed struct {
	bus           *Bus
	users         []string
	tickInterval  time.Duration
	eventInterval time.Duration
	now           func() time.Time
	random        *rand.Rand

	assets    []demoAsset
	positions []demoPosition
	sequence  int
}

// NewDemoFeed returns a feed publishing on bus.
func NewDemoFeed(bus *Bus, options DemoOptions) *DemoFeed {
	f := &DemoFeed{
		bus:           bus,
		tickInterval:  options.TickInterval,
		eventInterval: options.EventInterval,
		now:           options.Now,
	}
	if f.tickInterval <= 0 {
		f.tickInterval = DefaultDemoTickInterval
	}
	if f.eventInterval <= 0 {
		f.eventInterval = DefaultDemoEventInterval
	}
	if f.now == nil {
		f.now = time.Now
	}
	seed := options.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	f.random = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	main := options.UserID
	if main == "" {
		main = DefaultDemoUserID
	}
	f.users = append(f.users, main)
	for _, u := range options.UserIDs {
		if auth.ValidUserID(u) && u != main {
			f.users = append(f.users, u)
		}
	}
	f.assets = []demoAsset{
		{symbol: "BTCUSD", decimals: 2, volatility: 0.0006, baseVolume: 2, open: 50000},
		{symbol: "ETHUSD", decimals: 2, volatility: 0.0008, baseVolume: 20, open: 3000},
		{symbol: "SOLUSD", decimals: 3, volatility: 0.0012, baseVolume: 300, open: 150},
		{symbol: "AAPL", decimals: 2, volatility: 0.0003, baseVolume: 500, open: 190},
		{symbol: "TSLA", decimals: 2, volatility: 0.0007, baseVolume: 400, open: 250},
	}
	for i := range f.assets {
		a := &f.assets[i]
		a.price, a.high, a.low = a.open, a.open, a.open
		a.volume = a.baseVolume * 1000
	}
	f.positions = []demoPosition{
		{asset: 0, quantity: 0.5, entryPrice: 50000},
		{asset: 4, short: true, quantity: 10, entryPrice: 250},
	}
	return f
}

// Run publishes until ctx is done; it returns nil.
func (f *DemoFeed) Run(ctx context.Context) error {
	ticks := time.NewTicker(f.tickInterval)
	defer ticks.Stop()
	events := time.NewTicker(f.eventInterval)
	defer events.Stop()
	f.publishTicks()
	// Positions first, so that live P&L moves from the first ticks on.
	for _, user := range f.users {
		for i := range f.positions {
			f.bus.Publish(ChannelPositions, f.positionMessage(user, i))
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticks.C:
			f.step()
			f.publishTicks()
		case <-events.C:
			f.publishEvents()
		}
	}
}

// step moves every asset one step of the walk.
func (f *DemoFeed) step() {
	for i := range f.assets {
		a := &f.assets[i]
		next := roundTo(a.price*(1+a.volatility*f.random.NormFloat64()), a.decimals)
		// Keep the walk near its open so a long-running demo stays plausible.
		if next <= a.open*0.5 || next >= a.open*1.5 {
			next = a.price
		}
		a.price = next
		a.high, a.low = math.Max(a.high, next), math.Min(a.low, next)
		a.volume += roundTo(a.baseVolume*f.random.ExpFloat64(), 4)
	}
}

func (f *DemoFeed) publishTicks() {
	for i := range f.assets {
		f.bus.Publish(ChannelTicks, f.tickMessage(i))
	}
}

// publishEvents sends every user one order update, one position update and
// one notification.
func (f *DemoFeed) publishEvents() {
	for _, user := range f.users {
		f.sequence++
		asset := &f.assets[f.random.IntN(len(f.assets))]
		side := "BUY"
		if f.random.IntN(2) == 1 {
			side = "SELL"
		}
		quantity := roundTo(1+f.random.Float64()*9, 0)
		if asset.open > 1000 {
			quantity = roundTo(0.01+f.random.Float64()*0.5, 2)
		}
		orderID := "demo-order-" + strconv.Itoa(f.sequence)
		f.bus.Publish(ChannelOrders, f.orderMessage(user, orderID, asset, side, quantity))
		f.bus.Publish(ChannelPositions, f.positionMessage(user, f.sequence%len(f.positions)))
		f.bus.Publish(ChannelNotifications, f.notificationMessage(user, orderID, asset, side, quantity))
	}
}

func (f *DemoFeed) timestamp() int64 { return f.now().UnixMilli() }

func (f *DemoFeed) tickMessage(i int) []byte {
	a := &f.assets[i]
	change := roundTo(a.price-a.open, a.decimals)
	out := make([]byte, 0, 192)
	out = append(out, `{"symbol":"`...)
	out = append(out, a.symbol...)
	out = append(out, `","price":`...)
	out = appendNumber(out, a.price)
	out = append(out, `,"volume":`...)
	out = appendNumber(out, roundTo(a.volume, 4))
	out = append(out, `,"high24h":`...)
	out = appendNumber(out, a.high)
	out = append(out, `,"low24h":`...)
	out = appendNumber(out, a.low)
	out = append(out, `,"change24h":`...)
	out = appendNumber(out, change)
	out = append(out, `,"changePercent24h":`...)
	out = appendNumber(out, roundTo((a.price-a.open)/a.open*100, 4))
	out = append(out, `,"timestamp":`...)
	out = strconv.AppendInt(out, f.timestamp(), 10)
	return append(out, '}')
}

func (f *DemoFeed) orderMessage(user, orderID string, a *demoAsset, side string, quantity float64) []byte {
	out := make([]byte, 0, 320)
	out = append(out, `{"orderId":"`...)
	out = append(out, orderID...)
	out = append(out, `","userId":`...)
	out = appendJSONString(out, user)
	out = append(out, `,"symbol":"`...)
	out = append(out, a.symbol...)
	out = append(out, `","type":"MARKET","side":"`...)
	out = append(out, side...)
	out = append(out, `","quantity":`...)
	out = appendNumber(out, quantity)
	out = append(out, `,"price":`...)
	out = appendNumber(out, a.price)
	out = append(out, `,"status":"FILLED","filledQuantity":`...)
	out = appendNumber(out, quantity)
	out = append(out, `,"remainingQuantity":0,"averagePrice":`...)
	out = appendNumber(out, a.price)
	out = append(out, `,"timestamp":`...)
	out = strconv.AppendInt(out, f.timestamp(), 10)
	return append(out, '}')
}

func (f *DemoFeed) positionMessage(user string, i int) []byte {
	p := f.positions[i]
	a := &f.assets[p.asset]
	pnl, percent := unrealized(p.short, p.entryPrice, p.quantity, a.price)
	side := "LONG"
	if p.short {
		side = "SHORT"
	}
	out := make([]byte, 0, 320)
	out = append(out, `{"positionId":"demo-`...)
	out = append(out, a.symbol...)
	out = append(out, `-`...)
	out = append(out, side...)
	out = append(out, `","userId":`...)
	out = appendJSONString(out, user)
	out = append(out, `,"symbol":"`...)
	out = append(out, a.symbol...)
	out = append(out, `","side":"`...)
	out = append(out, side...)
	out = append(out, `","quantity":`...)
	out = appendNumber(out, p.quantity)
	out = append(out, `,"entryPrice":`...)
	out = appendNumber(out, p.entryPrice)
	out = append(out, `,"currentPrice":`...)
	out = appendNumber(out, a.price)
	out = append(out, `,"unrealizedPnL":`...)
	out = appendNumber(out, pnl)
	out = append(out, `,"unrealizedPnLPercent":`...)
	out = appendNumber(out, percent)
	out = append(out, `,"realizedPnL":0,"timestamp":`...)
	out = strconv.AppendInt(out, f.timestamp(), 10)
	return append(out, '}')
}

func (f *DemoFeed) notificationMessage(user, orderID string, a *demoAsset, side string, quantity float64) []byte {
	text := "Your " + side + " order for " + strconv.FormatFloat(quantity, 'f', -1, 64) + " " + a.symbol + " has been filled"
	out := make([]byte, 0, 320)
	out = append(out, `{"id":"demo-notification-`...)
	out = strconv.AppendInt(out, int64(f.sequence), 10)
	out = append(out, `","userId":`...)
	out = appendJSONString(out, user)
	out = append(out, `,"type":"ORDER_FILLED","title":"Order Filled","message":`...)
	out = appendJSONString(out, text)
	out = append(out, `,"priority":"MEDIUM","read":false,"timestamp":`...)
	out = strconv.AppendInt(out, f.timestamp(), 10)
	out = append(out, `,"metadata":{"orderId":"`...)
	out = append(out, orderID...)
	return append(out, `"}}`...)
}

// appendJSONString appends s as a JSON string; user ids come from options
// and may hold anything.
func appendJSONString(out []byte, s string) []byte {
	quoted, err := sonic.Marshal(s)
	if err != nil {
		return append(out, `""`...)
	}
	return append(out, quoted...)
}

// roundTo rounds x to the given number of decimals.
func roundTo(x float64, decimals int) float64 {
	scale := math.Pow10(decimals)
	return math.Round(x*scale) / scale
}

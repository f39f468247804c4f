package ingest

import (
	"context"
	"sync/atomic"

	"github.com/protrader5/ws-gateway/engine"
)

// Bus states.
const (
	busIdle int32 = iota
	busRunning
	busStopped
)

// Bus is the in-process pub/sub used when REDIS_URL is empty. Publish goes
// through the same Router as Redis messages, so validation, live P&L and
// metrics behave the same. It answers snapshots from what the Router has
// seen, since nothing outlives the process. Safe for concurrent use.
type Bus struct {
	router *Router
	state  atomic.Int32
}

var _ engine.SnapshotSource = (*Bus)(nil)

// NewBus returns a bus delivering to router.
func NewBus(router *Router) *Bus {
	if router == nil {
		panic("ingest: NewBus with nil router")
	}
	return &Bus{router: router}
}

// Publish routes payload as a message of channel, synchronously. The bus
// owns payload afterwards. Publishing works before Run too (tests, start-up).
func (b *Bus) Publish(channel Channel, payload []byte) {
	b.router.Handle(channel, payload)
}

// Run marks the bus attached until ctx is done.
func (b *Bus) Run(ctx context.Context) error {
	b.state.Store(busRunning)
	<-ctx.Done()
	b.state.Store(busStopped)
	return nil
}

// Ready reports true while Run is running.
func (b *Bus) Ready() (bool, string) {
	switch b.state.Load() {
	case busRunning:
		return true, ""
	case busStopped:
		return false, "bus_stopped"
	}
	return false, "bus_not_running"
}

// LastTick returns nil: the engine already holds the latest tick of every
// symbol published on this process, and there is nothing older.
func (b *Bus) LastTick(string) ([]byte, error) { return nil, nil }

// Positions returns the open positions of userID the router tracks.
func (b *Bus) Positions(userID string) ([][]byte, error) {
	return b.router.OpenPositions(userID), nil
}

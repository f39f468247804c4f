package engine

import (
	"context"
	"log/slog"
)

// snapshotConcurrency bounds the snapshot reads in flight, so that a storm
// of subscriptions cannot open unbounded goroutines against Redis.
const snapshotConcurrency = 64

// fetchLastTicks reads the latest tick of symbols this node has none of
// and seeds their rings; every subscriber then gets it through the ring.
func (e *Engine) fetchLastTicks(symbols []string) {
	for _, symbol := range symbols {
		select {
		case e.snapshotSlots <- struct{}{}:
		default:
			e.metrics.snapshotsSkipped.Add(1)
			continue
		}
		go func() {
			defer func() { <-e.snapshotSlots }()
			tick, err := e.config.Snapshots.LastTick(symbol)
			if err != nil {
				e.logger.LogAttrs(context.Background(), slog.LevelWarn, "last tick read failed", slog.String("symbol", symbol), slog.Any("error", err))
				return
			}
			if tick != nil {
				e.SeedTick(symbol, tick)
			}
		}()
	}
}

// sendPositions sends the user's current open positions to c alone, as the
// answer to subscribe:positions (docs/protocol.md).
func (e *Engine) sendPositions(c *clientConn) {
	if e.config.Snapshots == nil {
		return
	}
	c.mu.Lock()
	userID := c.userID
	c.mu.Unlock()
	e.snapshotSlots <- struct{}{}
	go func() {
		defer func() { <-e.snapshotSlots }()
		positions, err := e.config.Snapshots.Positions(userID)
		if err != nil {
			e.logger.LogAttrs(context.Background(), slog.LevelWarn, "positions read failed", slog.String("user_id", userID), slog.Any("error", err))
			return
		}
		for _, position := range positions {
			frame := newEventFrame(StreamPositions.EventName(), position)
			frame.stream = StreamPositions
			if !c.enqueueUser(frame, 0) {
				c.closeWith(reasonSlowConsumer)
				return
			}
		}
		c.flush()
	}()
}

package engine

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/protrader5/ws-gateway/engine/auth"
)

// logLimiter lets through at most logBurst per-peer warnings a second, so
// that a misbehaving crowd cannot flood the logs; the number held back is
// reported with the next one let through.
type logLimiter struct {
	second     atomic.Int64
	count      atomic.Int64
	suppressed atomic.Int64
}

const logBurst = 20

func (l *logLimiter) allow() (bool, int64) {
	now := time.Now().Unix()
	if l.second.Swap(now) != now {
		l.count.Store(0)
	}
	if l.count.Add(1) > logBurst {
		l.suppressed.Add(1)
		return false, 0
	}
	return true, l.suppressed.Swap(0)
}

func (e *Engine) logCloseReason(c *Conn, reason CloseReason) {
	level := slog.LevelInfo
	if reason == ReasonSlowConsumer || reason == ReasonWriteTimeout || reason == ReasonEventFlood {
		level = slog.LevelWarn
	}
	if !e.logger.Enabled(context.Background(), level) {
		return
	}
	ok, suppressed := e.logLimiter.allow()
	if !ok {
		return
	}
	c.mu.Lock()
	userID := c.userID
	c.mu.Unlock()
	e.logger.LogAttrs(context.Background(), level, "connection closed",
		slog.String("conn_id", c.sid), slog.String("user_id", userID),
		slog.String("reason", reason.String()), slog.Int64("suppressed", suppressed))
}

func (e *Engine) logAuthFailure(c *Conn, code auth.Code) {
	if !e.logger.Enabled(context.Background(), slog.LevelInfo) {
		return
	}
	ok, suppressed := e.logLimiter.allow()
	if !ok {
		return
	}
	e.logger.LogAttrs(context.Background(), slog.LevelInfo, "authentication failed",
		slog.String("conn_id", c.sid), slog.String("reason", string(code)), slog.Int64("suppressed", suppressed))
}

func jsonString(text string) (string, error) {
	encoded, err := json.Marshal(text)
	return string(encoded), err
}

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

// logCloseReason logs the end of an open session: at debug when the client
// left (every disconnect, for following one user or address), at info when
// the server closed it, at warn when the client could not keep up or
// flooded. Warnings and info are rate-limited across peers; debug is asked
// for by the operator and is not.
func (e *Engine) logCloseReason(c *clientConn, reason closeReason) {
	level := slog.LevelInfo
	switch reason {
	case reasonClientClosed:
		level = slog.LevelDebug
	case reasonSlowConsumer, reasonWriteTimeout, reasonEventFlood:
		level = slog.LevelWarn
	}
	if !e.logger.Enabled(context.Background(), level) {
		return
	}
	suppressed := int64(0)
	if level > slog.LevelDebug {
		var ok bool
		if ok, suppressed = e.logLimiter.allow(); !ok {
			return
		}
	}
	c.mu.Lock()
	userID, transport := c.userID, c.transportLocked()
	c.mu.Unlock()
	e.logger.LogAttrs(context.Background(), level, "connection closed",
		slog.String("conn_id", c.sid), slog.String("user_id", userID), slog.String("transport", transport),
		slog.String("address", c.remoteIP), slog.String("reason", reason.String()), slog.Int64("suppressed", suppressed))
}

// logConnected logs, at debug, a socket that joined the namespace:
// recovered says it got its old session back (docs/delivery.md).
func (e *Engine) logConnected(c *clientConn, recovered bool) {
	if !e.logger.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	c.mu.Lock()
	userID, socketID, transport := c.userID, c.socketID, c.transportLocked()
	c.mu.Unlock()
	e.logger.LogAttrs(context.Background(), slog.LevelDebug, "socket connected",
		slog.String("conn_id", c.sid), slog.String("user_id", userID), slog.String("socket_id", socketID),
		slog.String("transport", transport), slog.String("address", c.remoteIP), slog.Bool("recovered", recovered))
}

func (e *Engine) logAuthFailure(c *clientConn, code auth.Code) {
	if !e.logger.Enabled(context.Background(), slog.LevelInfo) {
		return
	}
	ok, suppressed := e.logLimiter.allow()
	if !ok {
		return
	}
	c.mu.Lock()
	transport := c.transportLocked()
	c.mu.Unlock()
	e.logger.LogAttrs(context.Background(), slog.LevelInfo, "authentication failed",
		slog.String("conn_id", c.sid), slog.String("transport", transport), slog.String("address", c.remoteIP),
		slog.String("reason", string(code)), slog.Int64("suppressed", suppressed))
}

// transportLocked names the transport the session's frames go out on now:
// a polling session that upgraded is a WebSocket one.
func (c *clientConn) transportLocked() string {
	if c.polling == nil || c.polling.upgraded {
		return "websocket"
	}
	return "polling"
}

func jsonString(text string) (string, error) {
	encoded, err := json.Marshal(text)
	return string(encoded), err
}

package ingest

import (
	"context"
	"time"
)

// pingInterval is how often the read client's round trip to Redis is
// measured: often enough for a dashboard, rare enough to cost Redis nothing.
const pingInterval = 5 * time.Second

// pingPeriodically times a PING on the read client every pingInterval,
// starting as soon as the client is connected, until ctx ends. The read
// client is the one snapshot reads wait on, so its round trip is the one
// clients feel; Pub/Sub and stream readers hold connections of their own.
func (r *Redis) pingPeriodically(ctx context.Context) {
	ticker := time.NewTicker(pingInterval)
	defer ticker.Stop()
	// Until the client exists, look again soon rather than a whole
	// interval later.
	wait := time.NewTimer(minReconnectDelay)
	defer wait.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wait.C:
			if !r.ping(ctx) {
				wait.Reset(minReconnectDelay * 10)
			}
		case <-ticker.C:
			r.ping(ctx)
		}
	}
}

// ping times one PING; it reports false when there is no client yet.
func (r *Redis) ping(ctx context.Context) bool {
	cache := r.cache.Load()
	if cache == nil {
		return false
	}
	client := *cache
	pingContext, cancel := context.WithTimeout(ctx, r.options.ReadTimeout)
	defer cancel()
	start := time.Now()
	err := client.Do(pingContext, client.B().Ping().Build()).Error()
	if err != nil {
		if ctx.Err() == nil {
			r.pingFailures.Add(1)
		}
		return true
	}
	r.roundTrip.Store(int64(time.Since(start)))
	return true
}

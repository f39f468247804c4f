package main

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/protrader5/ws-gateway/ingest"
)

// ingestCollector exposes the router's counters at scrape time; ingest
// keeps plain atomics and knows nothing of Prometheus.
type ingestCollector struct{ router *ingest.Router }

func newIngestCollector(router *ingest.Router) prometheus.Collector {
	return ingestCollector{router: router}
}

var (
	descIngestAccepted = prometheus.NewDesc("protrader5_ingest_messages_total",
		"Ingest messages handed to the engine, by channel.", []string{"channel"}, nil)
	descIngestRejected = prometheus.NewDesc("protrader5_ingest_rejects_total",
		"Ingest messages dropped, by channel and reason.", []string{"channel", "reason"}, nil)
	descPositionRefreshes = prometheus.NewDesc("protrader5_position_refreshes_total",
		"Live P&L position:update messages published.", nil, nil)
	descOpenPositions = prometheus.NewDesc("protrader5_open_positions",
		"Positions tracked for live P&L.", nil, nil)
)

func (c ingestCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descIngestAccepted
	ch <- descIngestRejected
	ch <- descPositionRefreshes
	ch <- descOpenPositions
}

func (c ingestCollector) Collect(ch chan<- prometheus.Metric) {
	stats := c.router.Stats()
	for _, channel := range ingest.Channels {
		ch <- prometheus.MustNewConstMetric(descIngestAccepted, prometheus.CounterValue, float64(stats.Accepted[channel]), channel.String())
		for _, reason := range ingest.Reasons {
			ch <- prometheus.MustNewConstMetric(descIngestRejected, prometheus.CounterValue,
				float64(stats.Rejected[channel][reason]), channel.String(), reason.String())
		}
	}
	ch <- prometheus.MustNewConstMetric(descPositionRefreshes, prometheus.CounterValue, float64(stats.PositionRefreshes))
	ch <- prometheus.MustNewConstMetric(descOpenPositions, prometheus.GaugeValue, float64(stats.OpenPositions))
}

// redisCollector exposes the Redis source's state and cache counters.
type redisCollector struct{ redis *ingest.Redis }

func newRedisCollector(redis *ingest.Redis) prometheus.Collector { return redisCollector{redis: redis} }

var (
	descRedisUp = prometheus.NewDesc("protrader5_redis_subscribed",
		"1 while Redis is attached: Pub/Sub subscribed and, with USER_STREAMS=streams, every stream read up to its end.", nil, nil)
	descRedisOutages  = prometheus.NewDesc("protrader5_redis_outages_total", "Redis outages seen (Pub/Sub or streams).", nil, nil)
	descRedisReceived = prometheus.NewDesc("protrader5_redis_received_total", "Messages received from Redis Pub/Sub.", nil, nil)
	descCacheHits     = prometheus.NewDesc("protrader5_redis_cache_hits_total", "Snapshot reads served by the client-side cache.", nil, nil)
	descCacheMisses   = prometheus.NewDesc("protrader5_redis_cache_misses_total", "Snapshot reads that went to Redis.", nil, nil)
	descQueueWaits    = prometheus.NewDesc("protrader5_redis_queue_waits_total",
		"Pub/Sub messages that found the router queue full and made the subscriber wait.", nil, nil)
	descRoundTrip = prometheus.NewDesc("protrader5_redis_round_trip_seconds",
		"Round trip of the last PING on the read client (one every 5 s); 0 before the first.", nil, nil)
	descPingFailures = prometheus.NewDesc("protrader5_redis_ping_failures_total", "PINGs to Redis that failed or timed out.", nil, nil)

	descStreamEntries = prometheus.NewDesc("protrader5_redis_stream_entries_total",
		"Redis stream entries read, valid or not, by channel (USER_STREAMS=streams).", []string{"channel"}, nil)
	descStreamGaps = prometheus.NewDesc("protrader5_redis_stream_gaps_total",
		"Times stream entries were removed before being read, by channel (USER_STREAMS=streams).", []string{"channel"}, nil)
	descStreamLag = prometheus.NewDesc("protrader5_redis_stream_lag_seconds",
		"How far the last entry processed is behind the newest in the stream, by entry ID time, by channel (USER_STREAMS=streams).", []string{"channel"}, nil)
	descStreamReadDelay = prometheus.NewDesc("protrader5_redis_stream_read_delay_seconds",
		"How old the last entry read was when read, by its ID time (Redis's clock), by channel (USER_STREAMS=streams).", []string{"channel"}, nil)
)

func (c redisCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, desc := range []*prometheus.Desc{descRedisUp, descRedisOutages, descRedisReceived, descCacheHits, descCacheMisses,
		descQueueWaits, descRoundTrip, descPingFailures, descStreamEntries, descStreamGaps, descStreamLag, descStreamReadDelay} {
		ch <- desc
	}
}

func (c redisCollector) Collect(ch chan<- prometheus.Metric) {
	stats := c.redis.Stats()
	up := 0.0
	if stats.Subscribed {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(descRedisUp, prometheus.GaugeValue, up)
	ch <- prometheus.MustNewConstMetric(descRedisOutages, prometheus.CounterValue, float64(stats.Outages))
	ch <- prometheus.MustNewConstMetric(descRedisReceived, prometheus.CounterValue, float64(stats.Received))
	ch <- prometheus.MustNewConstMetric(descCacheHits, prometheus.CounterValue, float64(stats.CacheHits))
	ch <- prometheus.MustNewConstMetric(descCacheMisses, prometheus.CounterValue, float64(stats.CacheMisses))
	ch <- prometheus.MustNewConstMetric(descQueueWaits, prometheus.CounterValue, float64(stats.QueueWaits))
	ch <- prometheus.MustNewConstMetric(descRoundTrip, prometheus.GaugeValue, stats.RoundTrip.Seconds())
	ch <- prometheus.MustNewConstMetric(descPingFailures, prometheus.CounterValue, float64(stats.PingFailures))
	if stats.UserStreams != ingest.Streams {
		return
	}
	for _, channel := range []ingest.Channel{ingest.ChannelOrders, ingest.ChannelPositions, ingest.ChannelNotifications} {
		ch <- prometheus.MustNewConstMetric(descStreamEntries, prometheus.CounterValue, float64(stats.StreamEntries[channel]), channel.String())
		ch <- prometheus.MustNewConstMetric(descStreamGaps, prometheus.CounterValue, float64(stats.StreamGaps[channel]), channel.String())
		ch <- prometheus.MustNewConstMetric(descStreamLag, prometheus.GaugeValue, stats.StreamLag[channel].Seconds(), channel.String())
		ch <- prometheus.MustNewConstMetric(descStreamReadDelay, prometheus.GaugeValue, stats.StreamReadDelay[channel].Seconds(), channel.String())
	}
}

// newBuildInfo returns protrader5_build_info, 1 with the build's version,
// commit and Go version as labels: a dashboard joins on it to tell which
// pods run which build.
func newBuildInfo() prometheus.Collector {
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "protrader5_build_info",
		Help: "Always 1; the labels name the build: version, commit, goversion.",
	}, []string{"version", "commit", "goversion"})
	info.WithLabelValues(version, buildRevision(), runtime.Version()).Set(1)
	return info
}

package main

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/protrader5/ws-gateway/engine"
	"github.com/protrader5/ws-gateway/ingest"
)

// emitterIfEnabled returns the emitter input with EMITTER=true, else nil.
func (s *server) emitterIfEnabled() *ingest.Emitter {
	if !s.config.Emitter {
		return nil
	}
	s.logger.Info("emitter input on", slog.String("pattern", s.emitter.BroadcastPattern()),
		slog.String("request_channel", s.emitter.RequestChannel()))
	return s.emitter
}

// emitterCollector exposes what became of @socket.io/redis-emitter
// messages and requests, and what the engine did with the emissions.
type emitterCollector struct {
	emitter *ingest.Emitter
	engine  *engine.Engine
}

func newEmitterCollector(emitter *ingest.Emitter, e *engine.Engine) prometheus.Collector {
	return emitterCollector{emitter: emitter, engine: e}
}

var (
	descEmitterMessages = prometheus.NewDesc("protrader5_emitter_messages_total",
		"@socket.io/redis-emitter broadcasts received, by outcome (user_message, tick and emitted were delivered).", []string{"outcome"}, nil)
	descEmitterRequests = prometheus.NewDesc("protrader5_emitter_requests_total",
		"@socket.io/redis-emitter requests received, by request (only disconnect_sockets is answered).", []string{"request"}, nil)
	descEmitterQueued = prometheus.NewDesc("protrader5_emitter_sockets_queued_total",
		"Sockets an emitted event was queued to.", nil, nil)
	descEmitterVolatileDropped = prometheus.NewDesc("protrader5_emitter_volatile_dropped_total",
		"Sockets a volatile emitted event skipped because they could not take it at once.", nil, nil)
	descEmitterDisconnected = prometheus.NewDesc("protrader5_emitter_disconnected_sockets_total",
		"Sockets disconnected by disconnectSockets requests.", nil, nil)
)

func (c emitterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descEmitterMessages
	ch <- descEmitterRequests
	ch <- descEmitterQueued
	ch <- descEmitterVolatileDropped
	ch <- descEmitterDisconnected
}

func (c emitterCollector) Collect(ch chan<- prometheus.Metric) {
	outcomes := c.emitter.Outcomes()
	for _, outcome := range ingest.EmitterOutcomes {
		ch <- prometheus.MustNewConstMetric(descEmitterMessages, prometheus.CounterValue, float64(outcomes[outcome]), outcome.String())
	}
	requests := c.emitter.Requests()
	for _, request := range ingest.EmitterRequests {
		ch <- prometheus.MustNewConstMetric(descEmitterRequests, prometheus.CounterValue, float64(requests[request]), request.String())
	}
	stats := c.engine.EmitStats()
	ch <- prometheus.MustNewConstMetric(descEmitterQueued, prometheus.CounterValue, float64(stats.Queued))
	ch <- prometheus.MustNewConstMetric(descEmitterVolatileDropped, prometheus.CounterValue, float64(stats.VolatileDropped))
	ch <- prometheus.MustNewConstMetric(descEmitterDisconnected, prometheus.CounterValue, float64(stats.Disconnected))
}

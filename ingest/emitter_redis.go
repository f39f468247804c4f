package ingest

import (
	"context"
	"log/slog"
	"time"

	"github.com/redis/rueidis"

	"github.com/protrader5/ws-gateway/engine"
)

// emitterInput tells the Redis drain goroutine what an emitter message is.
type emitterInput uint8

const (
	emitterNone emitterInput = iota
	// emitterBroadcast: a message matching Emitter.BroadcastPattern.
	emitterBroadcast
	// emitterRequest: a message of Emitter.RequestChannel.
	emitterRequest
)

// emitterAllSubscribed is the emitterSubscribed mask with both up.
const emitterAllSubscribed = 1<<emitterBroadcast | 1<<emitterRequest

// receiveEmitter keeps one emitter subscription up until ctx ends. The
// emitter publishes with PUBLISH only, never SPUBLISH, so these use
// PSUBSCRIBE and SUBSCRIBE whatever RedisOptions.Sharded says: in a Redis
// Cluster, PUBLISH reaches the subscribers of every node.
func (r *Redis) receiveEmitter(ctx context.Context, client rueidis.Client, input emitterInput) {
	emitter := r.options.Emitter
	bit := uint32(1) << input
	hooked := rueidis.WithOnSubscriptionHook(ctx, func(s rueidis.PubSubSubscription) {
		switch s.Kind {
		case "subscribe", "psubscribe":
			if input == emitterBroadcast {
				r.queueItem(ctx, queuedMessage{emitter: input, resubscribed: true})
			}
			r.markEmitter(bit, true)
		case "unsubscribe", "punsubscribe":
			r.markEmitter(bit, false)
		}
	})
	hooked = rueidis.WithOnReceiveReturnHook(hooked, func(err error, _ rueidis.CommandClient) error {
		if err != nil && ctx.Err() == nil {
			r.markEmitter(bit, false)
		}
		return err
	})
	onMessage := func(message rueidis.PubSubMessage) {
		r.received.Add(1)
		r.queueItem(ctx, queuedMessage{emitter: input, payload: []byte(message.Message), received: time.Now()})
	}
	for {
		command := client.B().Subscribe().Channel(emitter.RequestChannel()).Build()
		if input == emitterBroadcast {
			command = client.B().Psubscribe().Pattern(emitter.BroadcastPattern()).Build()
		}
		err := client.Receive(hooked, command, onMessage)
		if ctx.Err() != nil {
			return
		}
		r.markEmitter(bit, false)
		if err != nil {
			r.logger.LogAttrs(ctx, slog.LevelWarn, "ingest: emitter subscription ended, resubscribing", slog.String("error", err.Error()))
		}
		if !sleep(ctx, r.nextDelay()) {
			return
		}
	}
}

func (r *Redis) markEmitter(bit uint32, up bool) {
	for {
		old := r.emitterSubscribed.Load()
		next := old &^ bit
		if up {
			next = old | bit
		}
		if old == next || r.emitterSubscribed.CompareAndSwap(old, next) {
			return
		}
	}
}

// handleEmitter runs on the drain goroutine, in order with the channels'
// messages.
func (r *Redis) handleEmitter(ctx context.Context, item queuedMessage) {
	emitter := r.options.Emitter
	switch {
	case item.resubscribed:
		if emitter.options.Recoverable {
			// What was published while unsubscribed is lost (Pub/Sub):
			// recovery must not claim to replay across it.
			for _, stream := range []engine.Stream{engine.StreamOrders, engine.StreamPositions, engine.StreamNotifications} {
				r.router.publisher.HistoryFrom(stream, engine.EntryID{})
			}
		}
	case item.emitter == emitterBroadcast:
		emitter.HandleMessage(item.payload, item.received)
	default:
		emitter.HandleRequest(ctx, item.payload)
	}
}

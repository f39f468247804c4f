// Command floor is the syscall floor: the least a relay can do to deliver
// Redis ticks to Socket.IO clients. For each tick it builds one server frame
// `42["market:data",<tick>]` and writes it to each subscriber with one plain
// write(2) from the fanout loop: no queue, no batching, no conflation. Every
// benchmark result is read against what this spends per delivery.
//
// It speaks just enough Engine.IO v4 / Socket.IO v5 over WebSocket for the
// load generator: the open packet, CONNECT (the token is not verified), acks,
// subscribe:market and pings. A frame that does not fit the client's socket
// buffer is dropped and counted (queueing it would no longer be the floor).
//
// Environment: PORT (4000), REDIS_URL (redis://127.0.0.1:6379),
// PING_INTERVAL (25000 ms), PING_TIMEOUT (20000 ms).
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/redis/rueidis"
)

func environment(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

func main() {
	port := environment("PORT", "4000")
	redisURL := environment("REDIS_URL", "redis://127.0.0.1:6379")
	pingInterval, err := strconv.Atoi(environment("PING_INTERVAL", "25000"))
	if err != nil || pingInterval <= 0 {
		log.Fatalf("floor: bad PING_INTERVAL")
	}
	pingTimeout, err := strconv.Atoi(environment("PING_TIMEOUT", "20000"))
	if err != nil || pingTimeout <= 0 {
		log.Fatalf("floor: bad PING_TIMEOUT")
	}

	h := newHub(time.Duration(pingInterval)*time.Millisecond, time.Duration(pingTimeout)*time.Millisecond)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	options, err := rueidis.ParseURL(redisURL)
	if err != nil {
		log.Fatalf("floor: REDIS_URL: %v", err)
	}
	options.DisableCache = true
	redis, err := rueidis.NewClient(options)
	if err != nil {
		log.Fatalf("floor: redis: %v", err)
	}
	defer redis.Close()
	subscribed := make(chan struct{})
	go func() {
		// The callback is the fanout loop: rueidis calls it once per
		// message, in order, on its reading goroutine.
		err := redis.Receive(rueidis.WithOnSubscriptionHook(ctx, func(rueidis.PubSubSubscription) {
			select {
			case <-subscribed:
			default:
				close(subscribed)
			}
		}), redis.B().Subscribe().Channel("market:ticks").Build(), func(message rueidis.PubSubMessage) {
			h.publish([]byte(message.Message))
		})
		if err != nil && ctx.Err() == nil {
			log.Fatalf("floor: subscribe: %v", err)
		}
	}()
	select {
	case <-subscribed:
	case <-time.After(10 * time.Second):
		log.Fatalf("floor: no Redis subscription after 10s")
	}
	go h.pingLoop(ctx)

	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"ok","timestamp":%q}`, time.Now().UTC().Format("2006-01-02T15:04:05.000Z"))
	})
	mux.HandleFunc("/socket.io/", h.serveWebSocket)
	server := &http.Server{Addr: ":" + port, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		server.Close()
		h.closeAll()
	}()
	log.Printf("floor: listening on %s", port)
	if err := server.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Fatalf("floor: %v", err)
	}
	deliveries, drops, closes := h.counters()
	log.Printf("floor: deliveries %d, dropped (socket full) %d, closed on partial write %d", deliveries, drops, closes)
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/protrader5/ws-gateway/engine/enginetest"
)

// sioClient is an enginetest.Client for the heavier end-to-end tests,
// where hundreds of node processes would not fit on the test machine. A
// goroutine reads every packet, answers pings and records order:update and
// market:data events.
type sioClient struct {
	t      *testing.T
	user   string
	client *enginetest.Client

	mu     sync.Mutex
	acks   map[int]chan string // guarded by mu
	orders []sioOrder          // guarded by mu
	ticks  []sioTick           // guarded by mu
	other  []string            // guarded by mu: packets of no known kind

	stopped chan struct{} // closed when the reader returns
	readErr error         // set before stopped is closed
}

// sioOrder is the part of an order:update the tests check.
type sioOrder struct {
	OrderID string `json:"orderId"`
	UserID  string `json:"userId"`
}

// sioTick is the part of a market:data the tests check.
type sioTick struct {
	Symbol string `json:"symbol"`
	Seq    int    `json:"seq"`
}

// dialSIO opens a WebSocket Socket.IO session to port as the bearer of
// token, and returns once the namespace is connected.
func dialSIO(t *testing.T, port int, user, token string) (*sioClient, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := enginetest.Dial(ctx, fmt.Sprintf("127.0.0.1:%d", port), nil)
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", user, err)
	}
	connected, err := client.Connect(token, 10*time.Second)
	if err != nil || !strings.HasPrefix(connected, `40{"sid":`) {
		client.Close()
		return nil, fmt.Errorf("user %s: CONNECT answer %q, %v", user, connected, err)
	}
	c := &sioClient{t: t, user: user, client: client, acks: make(map[int]chan string), stopped: make(chan struct{})}
	go c.read()
	return c, nil
}

// read runs until the connection ends; the client answers pings itself.
func (c *sioClient) read() {
	defer close(c.stopped)
	for {
		text, err := c.client.Next(0)
		if err != nil {
			c.readErr = err
			return
		}
		switch {
		case strings.HasPrefix(text, "43"):
			c.ack(text[2:])
		case strings.HasPrefix(text, `42["order:update",`):
			var order sioOrder
			_, payload, _, _ := enginetest.ParseEvent(text)
			if err := json.Unmarshal([]byte(payload), &order); err != nil {
				c.record(text)
				continue
			}
			c.mu.Lock()
			c.orders = append(c.orders, order)
			c.mu.Unlock()
		case strings.HasPrefix(text, `42["market:data",`):
			var tick sioTick
			if err := json.Unmarshal([]byte(text[len(`42["market:data",`):len(text)-1]), &tick); err != nil {
				c.record(text)
				continue
			}
			c.mu.Lock()
			c.ticks = append(c.ticks, tick)
			c.mu.Unlock()
		default:
			c.record(text)
		}
	}
}

func (c *sioClient) record(text string) {
	c.mu.Lock()
	c.other = append(c.other, text)
	c.mu.Unlock()
}

// ack hands "N[...]" to the emitAck waiting for id N.
func (c *sioClient) ack(rest string) {
	digits := strings.IndexByte(rest, '[')
	id, err := strconv.Atoi(rest[:max(digits, 0)])
	c.mu.Lock()
	answer := c.acks[id]
	delete(c.acks, id)
	c.mu.Unlock()
	if err != nil || answer == nil {
		c.record("43" + rest)
		return
	}
	answer <- strings.TrimSuffix(rest[digits+1:], "]")
}

// emitAck sends event name with payload (JSON, or "" for none) and ack id,
// and returns the ack's argument.
func (c *sioClient) emitAck(id int, name, payload string) (string, error) {
	answer := make(chan string, 1)
	c.mu.Lock()
	c.acks[id] = answer
	c.mu.Unlock()
	packet := fmt.Sprintf(`42%d["%s"]`, id, name)
	if payload != "" {
		packet = fmt.Sprintf(`42%d["%s",%s]`, id, name, payload)
	}
	if err := c.client.Send(packet); err != nil {
		return "", err
	}
	select {
	case text := <-answer:
		return text, nil
	case <-c.stopped:
		return "", fmt.Errorf("user %s: connection ended waiting for the ack of %s: %v", c.user, name, c.readErr)
	case <-time.After(10 * time.Second):
		return "", fmt.Errorf("user %s: no ack of %s within 10s", c.user, name)
	}
}

// close ends the connection and waits for the reader.
func (c *sioClient) close() {
	c.client.Close()
	<-c.stopped
}

// received returns copies of what the client recorded so far.
func (c *sioClient) received() (orders []sioOrder, ticks []sioTick, other []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]sioOrder(nil), c.orders...), append([]sioTick(nil), c.ticks...), append([]string(nil), c.other...)
}

// disconnected reports whether the reader has stopped, and why.
func (c *sioClient) disconnected() (bool, error) {
	select {
	case <-c.stopped:
		return true, c.readErr
	default:
		return false, nil
	}
}

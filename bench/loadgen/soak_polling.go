package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// pollingClient is a minimal Engine.IO v4 long-polling client: enough for a
// Socket.IO session that connects, subscribes and closes, as a browser's
// first transport does before (or instead of) upgrading to WebSocket.
// Packets in one HTTP body are separated by 0x1e (engine.io-protocol v4
// "payload"). Not safe for concurrent use: one session at a time.
type pollingClient struct {
	http *http.Client
	base string // http://host:port/socket.io/?EIO=4&transport=polling
	sid  string
	// pending holds packets a poll returned beyond the one asked for.
	pending []string
}

// errPollingClosed reports that the server ended the session.
var errPollingClosed = errors.New("soak: polling session closed by the server")

func newPollingClient(httpClient *http.Client, address, path string) *pollingClient {
	return &pollingClient{http: httpClient, base: "http://" + address + path + "?EIO=4&transport=polling"}
}

// open runs the handshake GET and keeps the session id.
func (p *pollingClient) open(ctx context.Context) error {
	p.sid, p.pending = "", nil
	body, err := p.request(ctx, http.MethodGet, p.base, nil)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	sid, ok := jsonStringField(body, "sid")
	if len(body) == 0 || body[0] != '0' || !ok {
		return fmt.Errorf("open: not an open packet: %.80q", body)
	}
	p.sid = string(sid)
	return nil
}

// send POSTs packets in one payload.
func (p *pollingClient) send(ctx context.Context, packets ...string) error {
	body, err := p.request(ctx, http.MethodPost, p.sessionURL(), []byte(strings.Join(packets, "\x1e")))
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if string(body) != "ok" {
		return fmt.Errorf("send: answer %.80q", body)
	}
	return nil
}

// next returns the next packet from the server, polling when none is
// pending and answering Engine.IO pings on the way.
func (p *pollingClient) next(ctx context.Context) (string, error) {
	for len(p.pending) == 0 {
		body, err := p.request(ctx, http.MethodGet, p.sessionURL(), nil)
		if err != nil {
			return "", fmt.Errorf("poll: %w", err)
		}
		for packet := range strings.SplitSeq(string(body), "\x1e") {
			switch packet {
			case "2":
				if err := p.send(ctx, "3"); err != nil {
					return "", err
				}
			case "1":
				return "", errPollingClosed
			case "6", "":
			default:
				p.pending = append(p.pending, packet)
			}
		}
	}
	packet := p.pending[0]
	p.pending = p.pending[1:]
	return packet, nil
}

// connect joins the "/" namespace with token and waits for the answer.
func (p *pollingClient) connect(ctx context.Context, token string) error {
	if err := p.send(ctx, `40{"token":"`+token+`"}`); err != nil {
		return err
	}
	for {
		packet, err := p.next(ctx)
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(packet, "40"):
			return nil
		case strings.HasPrefix(packet, "44"):
			return fmt.Errorf("connect refused: %.120s", packet[2:])
		}
	}
}

// emitWithAck sends event with a JSON argument (empty for none) under
// ackID and waits for its acknowledgement, which it returns. Events that
// arrive meanwhile (ticks of a new subscription) are skipped.
func (p *pollingClient) emitWithAck(ctx context.Context, ackID int, event, argument string) (string, error) {
	packet := fmt.Sprintf(`42%d["%s"`, ackID, event)
	if argument != "" {
		packet += "," + argument
	}
	if err := p.send(ctx, packet+"]"); err != nil {
		return "", err
	}
	prefix := fmt.Sprintf("43%d[", ackID)
	for {
		answer, err := p.next(ctx)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(answer, prefix) {
			return answer[len(prefix) : len(answer)-1], nil
		}
	}
}

// close sends the Engine.IO close packet, which ends the session at once.
func (p *pollingClient) close(ctx context.Context) error {
	err := p.send(ctx, "1")
	p.sid, p.pending = "", nil
	return err
}

func (p *pollingClient) sessionURL() string { return p.base + "&sid=" + p.sid }

func (p *pollingClient) request(ctx context.Context, method, url string, body []byte) ([]byte, error) {
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	request, err := http.NewRequestWithContext(ctx, method, url, reader)
	if err != nil {
		return nil, err
	}
	if body != nil {
		request.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	response, err := p.http.Do(request)
	if err != nil {
		return nil, err
	}
	defer response.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(response.Body, maxFramePayload))
	if err != nil {
		return nil, err
	}
	if response.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %.120s", response.Status, answer)
	}
	return answer, nil
}

// pollingSession is one churn session: open, connect with token, subscribe
// to symbol and to the user's orders, close.
func pollingSession(ctx context.Context, p *pollingClient, token, symbol string, timeout time.Duration) (err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	defer func() {
		if err != nil && p.sid != "" {
			// Close what a failure left open, or it lingers until its
			// heartbeat times out and shows up in the soak's figures.
			closing, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
			defer cancel()
			_ = p.close(closing)
		}
	}()
	if err := p.open(ctx); err != nil {
		return err
	}
	if err := p.connect(ctx, token); err != nil {
		return err
	}
	answer, err := p.emitWithAck(ctx, 1, "subscribe:market", `{"symbols":["`+symbol+`"]}`)
	if err == nil && !strings.Contains(answer, `"ok":true`) {
		err = fmt.Errorf("subscribe refused: %.120s", answer)
	}
	if err != nil {
		return err
	}
	if answer, err = p.emitWithAck(ctx, 2, "subscribe:orders", ""); err == nil && !strings.Contains(answer, `"ok":true`) {
		err = fmt.Errorf("subscribe:orders refused: %.120s", answer)
	}
	if err != nil {
		return err
	}
	return p.close(ctx)
}

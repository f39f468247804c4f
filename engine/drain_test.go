package engine

import (
	"context"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

func TestDrainClosesEverySession(t *testing.T) {
	e := startEngine(t, Config{})
	base := "http://" + e.Addr().String()
	socket := dialClient(t, e, nil)
	polling := openPolling(t, e, "")
	pending := make(chan string, 1)
	go func() {
		_, body := polling.get()
		pending <- body
	}()
	waitForWaiter(t, e, polling.sid)

	e.StartDrain()
	if status, body := get(t, base+"/ready", nil); status != 503 || body != `{"status":"unavailable","reason":"draining"}` {
		t.Fatalf("/ready while draining = %d %s", status, body)
	}
	if status, _ := pollingStatus(t, e, ""); status != 503 {
		t.Fatalf("new session while draining = %d; want 503", status)
	}
	// Connected clients are still served until Shutdown.
	if answer := socket.connect(testToken(t, "u1", time.Hour)); answer[:2] != "40" {
		t.Fatalf("CONNECT while draining = %q", answer)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if body := <-pending; body != "1" {
		t.Fatalf("pending GET at shutdown = %q; want the close packet", body)
	}
	_ = socket.Conn().SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		frame, err := ws.ReadFrame(socket.ReadWriter())
		if err != nil {
			t.Fatalf("no close frame before the socket ended: %v", err)
		}
		if frame.Header.OpCode == ws.OpClose {
			code, _ := ws.ParseCloseFrameData(frame.Payload)
			if code != ws.StatusGoingAway {
				t.Fatalf("close code = %d; want 1001", code)
			}
			break
		}
	}
}

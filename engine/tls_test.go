package engine

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/protrader5/ws-gateway/engine/enginetest"
)

// testCertificates makes a throwaway CA and a server certificate for
// 127.0.0.1 signed by it.
func testCertificates(t *testing.T) (server tls.Certificate, roots *x509.CertPool) {
	t.Helper()
	pki := enginetest.NewPKI(t)
	return pki.Certificate(), pki.Roots()
}

func startTLSEngine(t *testing.T) (*Engine, *x509.CertPool) {
	t.Helper()
	certificate, roots := testCertificates(t)
	e := startEngine(t, Config{TLS: &tls.Config{Certificates: []tls.Certificate{certificate}, MinVersion: tls.VersionTLS12}})
	return e, roots
}

func dialTLSClient(t *testing.T, e *Engine, roots *x509.CertPool, query string) *testClient {
	t.Helper()
	dialer := ws.Dialer{Timeout: 5 * time.Second, TLSConfig: &tls.Config{RootCAs: roots}}
	return dialURL(t, dialer, "wss://"+e.Addr().String()+"/socket.io/?EIO=4&transport=websocket"+query)
}

func TestTLSWebSocketAndHTTPS(t *testing.T) {
	e, roots := startTLSEngine(t)
	client := dialTLSClient(t, e, roots, "")
	if open := client.next(); !strings.HasPrefix(open, `0{"sid":`) {
		t.Fatalf("open = %q", open)
	}
	if answer := client.connect(testToken(t, "u1", time.Hour)); !strings.HasPrefix(answer, `40{"sid":"`) {
		t.Fatalf("CONNECT answer = %q", answer)
	}
	if ack := client.emitAck(1, "subscribe:market", `{"symbols":["BTCUSD"]}`); ack != `{"ok":true,"symbols":["BTCUSD"]}` {
		t.Fatalf("ack = %s", ack)
	}
	e.PublishTick("BTCUSD", []byte(`{"symbol":"BTCUSD","price":5}`))
	if got := client.expectEvent("market:data"); got != `{"symbol":"BTCUSD","price":5}` {
		t.Fatalf("tick over wss = %s", got)
	}

	httpsClient := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	response, err := httpsClient.Get("https://" + e.Addr().String() + "/health")
	if err != nil {
		t.Fatalf("https /health: %v", err)
	}
	body, _ := io.ReadAll(response.Body)
	response.Body.Close()
	if response.StatusCode != 200 || !strings.HasPrefix(string(body), `{"status":"ok"`) {
		t.Fatalf("https /health = %d %s", response.StatusCode, body)
	}

	// Long-polling over https, then the upgrade to wss.
	response, err = httpsClient.Get("https://" + e.Addr().String() + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(response.Body)
	response.Body.Close()
	var open map[string]any
	if err := json.Unmarshal(body[1:], &open); err != nil {
		t.Fatalf("polling handshake %q: %v", body, err)
	}
	sid := open["sid"].(string)
	response, err = httpsClient.Post("https://"+e.Addr().String()+"/socket.io/?EIO=4&transport=polling&sid="+sid, "text/plain", strings.NewReader(`40{"token":"`+testToken(t, "u2", time.Hour)+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	response.Body.Close()
	probe := dialTLSClient(t, e, roots, "&sid="+sid)
	probe.send("2probe")
	if got := probe.next(); got != "3probe" {
		t.Fatalf("probe over wss = %q", got)
	}
	probe.send("5")
	if answer := probe.next(); !strings.HasPrefix(answer, `40{"sid":"`) {
		t.Fatalf("buffered CONNECT answer after the upgrade = %q", answer)
	}

	// Shutdown closes wss sockets with 1001.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	_ = client.Conn().SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		frame, err := ws.ReadFrame(client.ReadWriter())
		if err != nil {
			t.Fatalf("no close frame over wss: %v", err)
		}
		if frame.Header.OpCode == ws.OpClose {
			if code, _ := ws.ParseCloseFrameData(frame.Payload); code != ws.StatusGoingAway {
				t.Fatalf("close code = %d", code)
			}
			break
		}
	}
}

func TestTLSRefusesPlainText(t *testing.T) {
	e, _ := startTLSEngine(t)
	conn, err := net.Dial("tcp", e.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = conn.Write([]byte("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"))
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	reply, _ := io.ReadAll(conn)
	if strings.Contains(string(reply), `"status":"ok"`) {
		t.Fatalf("plain HTTP was served on the TLS port: %q", reply)
	}
}

package ingest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/protrader5/ws-gateway/ingest/redistest"
)

// writeTestPKI writes a throwaway CA and a server certificate for
// 127.0.0.1 signed by it; it returns the file paths.
func writeTestPKI(t *testing.T) (caFile, certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ingest test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	serverKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serverTemplate := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	serverDER, err := x509.CreateCertificate(rand.Reader, serverTemplate, ca, &serverKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(serverKey)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, kind string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("server.pem", "CERTIFICATE", serverDER), write("server.key", "EC PRIVATE KEY", keyDER)
}

// requireRedisTLS skips (fails on CI) when redis-server was built without
// TLS: such a build rejects the tls-port directive.
func requireRedisTLS(t *testing.T) {
	t.Helper()
	version, err := exec.Command(redistest.Binary(t), "--version").Output()
	if err != nil {
		t.Fatalf("redis-server --version: %v", err)
	}
	out, _ := exec.Command(redistest.Binary(t), "--port", "0", "--tls-port", "0", "--save", "", "--appendonly", "no").CombinedOutput()
	if strings.Contains(string(out), "Bad directive") || strings.Contains(string(out), "not supported") {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s has no TLS: %s", version, out)
		}
		t.Skipf("%s has no TLS", version)
	}
}

func TestRedisTLS(t *testing.T) {
	requireRedisTLS(t)
	caFile, certFile, keyFile := writeTestPKI(t)
	tlsPort := redistest.FreePort(t)
	// The plain port stays open for the helper's PING and for publishing.
	server := redistest.Start(t, redistest.WithArgs("--tls-port", strconv.Itoa(tlsPort),
		"--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-ca-cert-file", caFile, "--tls-auth-clients", "no"))
	rec := newRecorder()
	router := NewRouter(rec, RouterOptions{Logger: quietLogger()})
	source := runRedis(t, RedisOptions{
		URL: "rediss://127.0.0.1:" + strconv.Itoa(tlsPort), TLSCAFile: caFile, Router: router,
	})
	waitReady(t, source, true, 5*time.Second)
	client := newTestClient(t, server.URL())
	do(t, client, client.B().Publish().Channel("market:ticks").Message(`{"symbol":"BTCUSD","price":1}`).Build())
	if calls := rec.waitFor(t, 1, 5*time.Second); calls[0].key != "BTCUSD" {
		t.Fatalf("calls = %+v; want the tick", calls)
	}

	// Without the CA the server certificate is not trusted: never ready.
	untrusted := runRedis(t, RedisOptions{URL: "rediss://127.0.0.1:" + strconv.Itoa(tlsPort), Router: router})
	time.Sleep(200 * time.Millisecond)
	if ready, _ := untrusted.Ready(); ready {
		t.Fatal("Ready() = true with an untrusted server certificate")
	}
}

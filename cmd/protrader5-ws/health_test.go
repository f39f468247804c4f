package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// healthServer serves /health with status on 127.0.0.1 and returns its port.
func healthServer(t *testing.T, status int, tlsConfig *tls.Config) string {
	t.Helper()
	server := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	if tlsConfig != nil {
		server.TLS = tlsConfig
		server.StartTLS()
	} else {
		server.Start()
	}
	t.Cleanup(server.Close)
	_, port, _ := net.SplitHostPort(server.Listener.Addr().String())
	return port
}

func TestHealthCommand(t *testing.T) {
	healthy := healthServer(t, http.StatusOK, nil)
	failing := healthServer(t, http.StatusServiceUnavailable, nil)
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := strconv.Itoa(listener.Addr().(*net.TCPAddr).Port)
	listener.Close()

	tests := []struct {
		name       string
		variables  map[string]string
		arguments  []string
		wantCode   int
		wantStderr string
	}{
		{"healthy", map[string]string{"PORT": healthy}, nil, exitSuccess, ""},
		// A production environment missing its secret must not make a
		// serving gateway look unhealthy.
		{"healthy despite unrelated config problems", map[string]string{"PORT": healthy, "NODE_ENV": "production", "REDIS_URL": "nope"}, nil, exitSuccess, ""},
		{"503", map[string]string{"PORT": failing}, nil, exitFailure, "503 Service Unavailable"},
		{"nothing listening", map[string]string{"PORT": closed}, nil, exitFailure, "connection refused"},
		{"bad port", map[string]string{"PORT": "x"}, nil, exitFailure, "PORT"},
		{"stray argument", map[string]string{"PORT": healthy}, []string{"x"}, exitUsage, "unexpected argument"},
		{"help", nil, []string{"-h"}, exitSuccess, "usage: protrader5-ws health"},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			c, stdout, stderr := newTestCLI(test.variables)
			code := c.run(append([]string{"health"}, test.arguments...))
			if code != test.wantCode || !strings.Contains(stderr.String(), test.wantStderr) || stdout.Len() != 0 {
				t.Errorf("health %v = %d, stdout %q, stderr %q; want %d, stderr containing %q",
					test.arguments, code, stdout, stderr, test.wantCode, test.wantStderr)
			}
		})
	}
}

// TestHealthCommandTimeout: a server that never answers fails the check
// within --timeout rather than hanging the HEALTHCHECK.
func TestHealthCommandTimeout(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	go func() {
		for {
			connection, err := listener.Accept()
			if err != nil {
				return
			}
			// Hold it without answering until the listener closes.
			defer connection.Close()
		}
	}()
	port := strconv.Itoa(listener.Addr().(*net.TCPAddr).Port)
	c, _, stderr := newTestCLI(map[string]string{"PORT": port})
	start := time.Now()
	if code := c.run([]string{"health", "--timeout", "200ms"}); code != exitFailure {
		t.Errorf("health against a silent server = %d; want %d", code, exitFailure)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("health took %v with --timeout 200ms", elapsed)
	}
	if !strings.Contains(stderr.String(), "health:") {
		t.Errorf("stderr %q", stderr)
	}
}

// TestHealthCommandTLS: with TLS_CERT_FILE the gateway serves https on PORT,
// and the check follows, whatever name the certificate carries.
func TestHealthCommandTLS(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{SerialNumber: big.NewInt(1), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"ws.example.com"}}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certificate := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	port := healthServer(t, http.StatusOK, &tls.Config{Certificates: []tls.Certificate{certificate}})
	variables := map[string]string{"PORT": port, "TLS_CERT_FILE": writePEM(t, "CERTIFICATE", der), "TLS_KEY_FILE": writePEM(t, "PRIVATE KEY", keyDER)}
	c, _, stderr := newTestCLI(variables)
	if code := c.run([]string{"health"}); code != exitSuccess {
		t.Errorf("health over TLS = %d; stderr %q", code, stderr)
	}
	delete(variables, "TLS_CERT_FILE")
	delete(variables, "TLS_KEY_FILE")
	c, _, _ = newTestCLI(variables)
	if code := c.run([]string{"health"}); code != exitFailure {
		t.Errorf("plain http against a TLS port = %d; want %d", code, exitFailure)
	}
}

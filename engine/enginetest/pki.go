package enginetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a throwaway certificate authority and a server certificate for
// 127.0.0.1 signed by it, valid for an hour either side of now: enough for
// a test to serve TLS (the gateway's wss://, a redis-server's tls-port)
// and for its clients to trust it.
type PKI struct {
	CA        *x509.Certificate
	caDER     []byte
	serverDER []byte
	serverKey *ecdsa.PrivateKey
}

// NewPKI makes a fresh PKI; it fails t on error.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "protrader5 test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	serverKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serverTemplate := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	serverDER, err := x509.CreateCertificate(rand.Reader, serverTemplate, ca, &serverKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return &PKI{CA: ca, caDER: caDER, serverDER: serverDER, serverKey: serverKey}
}

// Certificate returns the server certificate for a tls.Config.
func (p *PKI) Certificate() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{p.serverDER}, PrivateKey: p.serverKey}
}

// Roots returns a pool that trusts the CA, for clients.
func (p *PKI) Roots() *x509.CertPool {
	roots := x509.NewCertPool()
	roots.AddCert(p.CA)
	return roots
}

// WriteFiles writes the CA, the server certificate and its key as PEM
// files into a temporary directory and returns their paths.
func (p *PKI) WriteFiles(t testing.TB) (caFile, certFile, keyFile string) {
	t.Helper()
	keyDER, err := x509.MarshalECPrivateKey(p.serverKey)
	if err != nil {
		t.Fatal(err)
	}
	directory := t.TempDir()
	write := func(name, kind string, der []byte) string {
		path := filepath.Join(directory, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	return write("ca.pem", "CERTIFICATE", p.caDER), write("server.pem", "CERTIFICATE", p.serverDER), write("server.key", "EC PRIVATE KEY", keyDER)
}

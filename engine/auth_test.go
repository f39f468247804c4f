package engine

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestAuthenticatorPinsAlgorithmsToKeys(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecKey384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	claims := func() jwt.MapClaims { return jwt.MapClaims{"sub": "u1", "exp": time.Now().Add(time.Hour).Unix()} }
	sign := func(method jwt.SigningMethod, key any) string {
		token, err := jwt.NewWithClaims(method, claims()).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	cases := []struct {
		name    string
		options AuthOptions
		token   string
		want    AuthCode
	}{
		{"RS256 with the RSA key", AuthOptions{PublicKey: &rsaKey.PublicKey}, sign(jwt.SigningMethodRS256, rsaKey), ""},
		{"ES256 with a P-256 key", AuthOptions{PublicKey: &ecKey256.PublicKey}, sign(jwt.SigningMethodES256, ecKey256), ""},
		{"ES384 with a P-384 key", AuthOptions{PublicKey: &ecKey384.PublicKey}, sign(jwt.SigningMethodES384, ecKey384), ""},
		{"ES256 token against a P-384 key", AuthOptions{PublicKey: &ecKey384.PublicKey}, sign(jwt.SigningMethodES256, ecKey256), TokenInvalid},
		{"HS256 when only RSA is configured", AuthOptions{PublicKey: &rsaKey.PublicKey}, sign(jwt.SigningMethodHS256, []byte("x")), TokenInvalid},
		{"both configured, HS256", AuthOptions{Secret: []byte("s"), PublicKey: &rsaKey.PublicKey}, sign(jwt.SigningMethodHS256, []byte("s")), ""},
		{"both configured, RS256", AuthOptions{Secret: []byte("s"), PublicKey: &rsaKey.PublicKey}, sign(jwt.SigningMethodRS256, rsaKey), ""},
		{"HS384 is not pinned", AuthOptions{Secret: []byte("s")}, sign(jwt.SigningMethodHS384, []byte("s")), TokenInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			auth, err := NewAuthenticator(tc.options)
			if err != nil {
				t.Fatal(err)
			}
			identity, code := auth.Verify(tc.token)
			if code != tc.want {
				t.Fatalf("Verify = %q; want %q", code, tc.want)
			}
			if code == "" && identity.UserID != "u1" {
				t.Fatalf("UserID = %q", identity.UserID)
			}
		})
	}
	if _, err := NewAuthenticator(AuthOptions{}); err == nil {
		t.Fatal("an authenticator with no key was built")
	}
}

package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"strings"
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
		options Options
		token   string
		want    Code
	}{
		{"RS256 with the RSA key", Options{PublicKey: &rsaKey.PublicKey}, sign(jwt.SigningMethodRS256, rsaKey), ""},
		{"ES256 with a P-256 key", Options{PublicKey: &ecKey256.PublicKey}, sign(jwt.SigningMethodES256, ecKey256), ""},
		{"ES384 with a P-384 key", Options{PublicKey: &ecKey384.PublicKey}, sign(jwt.SigningMethodES384, ecKey384), ""},
		{"ES256 token against a P-384 key", Options{PublicKey: &ecKey384.PublicKey}, sign(jwt.SigningMethodES256, ecKey256), TokenInvalid},
		{"HS256 when only RSA is configured", Options{PublicKey: &rsaKey.PublicKey}, sign(jwt.SigningMethodHS256, []byte("x")), TokenInvalid},
		{"both configured, HS256", Options{Secret: []byte("s"), PublicKey: &rsaKey.PublicKey}, sign(jwt.SigningMethodHS256, []byte("s")), ""},
		{"both configured, RS256", Options{Secret: []byte("s"), PublicKey: &rsaKey.PublicKey}, sign(jwt.SigningMethodRS256, rsaKey), ""},
		{"HS384 is not pinned", Options{Secret: []byte("s")}, sign(jwt.SigningMethodHS384, []byte("s")), TokenInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			authenticator, err := New(tc.options)
			if err != nil {
				t.Fatal(err)
			}
			identity, code := authenticator.Verify(tc.token)
			if code != tc.want {
				t.Fatalf("Verify = %q; want %q", code, tc.want)
			}
			if code == "" && identity.UserID != "u1" {
				t.Fatalf("UserID = %q", identity.UserID)
			}
		})
	}
	if _, err := New(Options{}); err == nil {
		t.Fatal("an authenticator with no key was built")
	}
}

// The user id limit is the one ingest routes by: a token naming an id that
// no message could be routed to is refused at connect.
func TestAuthenticatorUserIDLimit(t *testing.T) {
	secret := []byte("s")
	authenticator, err := New(Options{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	sign := func(claims jwt.MapClaims) string {
		claims["exp"] = time.Now().Add(time.Hour).Unix()
		token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	longest := strings.Repeat("u", 128)
	cases := []struct {
		name   string
		claims jwt.MapClaims
		want   Code
	}{
		{"sub of 128 bytes", jwt.MapClaims{"sub": longest}, ""},
		{"sub of 129 bytes", jwt.MapClaims{"sub": longest + "u"}, TokenInvalid},
		{"sub of 129 bytes in 128 characters", jwt.MapClaims{"sub": longest[1:] + "é"}, TokenInvalid},
		{"userId of 128 bytes", jwt.MapClaims{"userId": longest}, ""},
		{"userId of 129 bytes", jwt.MapClaims{"userId": longest + "u"}, TokenInvalid},
		{"long sub does not fall back to userId", jwt.MapClaims{"sub": longest + "u", "userId": "u1"}, TokenInvalid},
		{"empty sub and no userId", jwt.MapClaims{"sub": ""}, TokenInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			identity, code := authenticator.Verify(sign(tc.claims))
			if code != tc.want {
				t.Fatalf("Verify = %q; want %q", code, tc.want)
			}
			if code == "" && identity.UserID != longest {
				t.Fatalf("UserID = %q; want the 128-byte id", identity.UserID)
			}
		})
	}
}

func TestValidUserID(t *testing.T) {
	cases := []struct {
		id   string
		want bool
	}{
		{"u1", true},
		{strings.Repeat("é", MaxUserIDBytes/2), true},
		{strings.Repeat("u", MaxUserIDBytes), true},
		{"", false},
		{strings.Repeat("u", MaxUserIDBytes+1), false},
		{"u\xff", false},
	}
	for _, tc := range cases {
		if got := ValidUserID(tc.id); got != tc.want {
			t.Errorf("ValidUserID(%q) = %v; want %v", tc.id, got, tc.want)
		}
	}
}

package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/protrader5/ws-gateway/engine/auth"
)

// verify parses token the way the gateway is meant to (DESIGN: one parser,
// pinned methods, exp required, leeway, issuer and audience when set).
func verify(t *testing.T, token string, secret []byte, issuer, audience string, now time.Time) (jwt.MapClaims, error) {
	t.Helper()
	options := []jwt.ParserOption{
		jwt.WithValidMethods([]string{"HS256"}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(auth.DefaultLeeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
	}
	if issuer != "" {
		options = append(options, jwt.WithIssuer(issuer))
	}
	if audience != "" {
		options = append(options, jwt.WithAudience(audience))
	}
	claims := jwt.MapClaims{}
	_, err := jwt.NewParser(options...).ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return secret, nil })
	return claims, err
}

func TestMintTokenRoundTrip(t *testing.T) {
	secret := []byte("test-secret")
	now := time.Unix(1_800_000_000, 0)
	token, err := mintToken(secret, "user-42", time.Hour, "auth.protrader5", "ws-gateway", now)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := verify(t, token, secret, "auth.protrader5", "ws-gateway", now.Add(time.Minute))
	if err != nil {
		t.Fatalf("verify(mintToken(...)) = %v", err)
	}
	if claims["sub"] != "user-42" || claims["iat"] != float64(now.Unix()) || claims["exp"] != float64(now.Add(time.Hour).Unix()) {
		t.Errorf("claims = %v; want sub user-42, iat now, exp now+1h", claims)
	}

	if _, err := verify(t, token, []byte("other"), "", "", now); err == nil {
		t.Error("token verified with the wrong secret")
	}
	if _, err := verify(t, token, secret, "", "", now.Add(time.Hour+auth.DefaultLeeway+time.Second)); err == nil ||
		!strings.Contains(err.Error(), "expired") {
		t.Errorf("expired token: error = %v; want expired", err)
	}
	if _, err := verify(t, token, secret, "other-issuer", "", now); err == nil {
		t.Error("token verified with the wrong issuer")
	}

	// Without issuer and audience the claims are absent, not empty.
	token, err = mintToken(secret, "u", time.Minute, "", "", now)
	if err != nil {
		t.Fatal(err)
	}
	claims, err = verify(t, token, secret, "", "", now)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := claims["iss"]; ok {
		t.Errorf("claims = %v; want no iss", claims)
	}
	if _, ok := claims["aud"]; ok {
		t.Errorf("claims = %v; want no aud", claims)
	}
}

func TestMintTokenRefusesBadInput(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name   string
		secret []byte
		user   string
		ttl    time.Duration
		extra  map[string]any
	}{
		{"no secret", nil, "u", time.Hour, nil},
		{"no user", []byte("s"), "", time.Hour, nil},
		{"zero ttl", []byte("s"), "u", 0, nil},
		{"reserved claim", []byte("s"), "u", time.Hour, map[string]any{"exp": 1}},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			if token, err := mintTokenWithClaims(test.secret, test.user, test.ttl, "", "", now, test.extra); err == nil {
				t.Errorf("mintTokenWithClaims = %q; want an error", token)
			}
		})
	}
}

// newTestCLI returns a cli over variables, with captured output and a fixed
// clock.
func newTestCLI(variables map[string]string) (*cli, *bytes.Buffer, *bytes.Buffer) {
	var stdout, stderr bytes.Buffer
	return &cli{
		stdout: &stdout,
		stderr: &stderr,
		lookup: lookupFrom(variables),
		now:    func() time.Time { return time.Unix(1_800_000_000, 0) },
		serve:  runServe,

		shutdownGrace: defaultShutdownGrace,
	}, &stdout, &stderr
}

func TestTokenCommand(t *testing.T) {
	c, stdout, stderr := newTestCLI(map[string]string{"JWT_SECRET": "s3cret", "JWT_AUDIENCE": "gw"})
	code := c.run([]string{"token", "--user", "alice", "--ttl", "2h", "--claim", "role=admin", "--claim", "level=3", "--claim", `tags=["a"]`})
	if code != exitSuccess {
		t.Fatalf("token exit %d; stderr %q", code, stderr)
	}
	claims, err := verify(t, strings.TrimSpace(stdout.String()), []byte("s3cret"), "", "gw", c.now())
	if err != nil {
		t.Fatalf("printed token does not verify: %v", err)
	}
	if claims["sub"] != "alice" || claims["role"] != "admin" || claims["level"] != float64(3) ||
		claims["exp"] != float64(c.now().Add(2*time.Hour).Unix()) || len(claims["tags"].([]any)) != 1 {
		t.Errorf("claims = %v", claims)
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr = %q; want nothing with a configured secret", stderr)
	}
}

func TestTokenCommandDevelopmentSecret(t *testing.T) {
	c, stdout, stderr := newTestCLI(nil)
	if code := c.run([]string{"token", "--user", "bob"}); code != exitSuccess {
		t.Fatalf("token exit %d; stderr %q", code, stderr)
	}
	if _, err := verify(t, strings.TrimSpace(stdout.String()), []byte(DevelopmentSecret), "", "", c.now()); err != nil {
		t.Errorf("token does not verify with the development secret: %v", err)
	}
	if !strings.Contains(stderr.String(), "development secret") {
		t.Errorf("stderr = %q; want a note about the development secret", stderr)
	}
}

func TestTokenCommandRefusals(t *testing.T) {
	tests := []struct {
		name      string
		variables map[string]string
		arguments []string
		wantCode  int
		wantError string
	}{
		{"production", map[string]string{"NODE_ENV": "production", "JWT_SECRET": "s"}, []string{"--user", "u"}, exitUsage, "refused with NODE_ENV=production"},
		{"production without secret", map[string]string{"NODE_ENV": "production"}, []string{"--user", "u"}, exitUsage, "refused with NODE_ENV=production"},
		{"no user", nil, nil, exitUsage, "--user is required"},
		{"negative ttl", nil, []string{"--user", "u", "--ttl", "-1h"}, exitUsage, "is not positive"},
		{"bad ttl", nil, []string{"--user", "u", "--ttl", "soon"}, exitUsage, "invalid value"},
		{"reserved claim", nil, []string{"--user", "u", "--claim", "sub=x"}, exitUsage, `claim "sub" is set by`},
		{"claim without value", nil, []string{"--user", "u", "--claim", "role"}, exitUsage, "is not key=value"},
		{"stray argument", nil, []string{"--user", "u", "extra"}, exitUsage, `unexpected argument "extra"`},
		{"bad jwt setting", map[string]string{"JWT_LEEWAY_MS": "x"}, []string{"--user", "u"}, exitFailure, "config: JWT_LEEWAY_MS:"},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			c, stdout, stderr := newTestCLI(test.variables)
			code := c.run(append([]string{"token"}, test.arguments...))
			if code != test.wantCode || !strings.Contains(stderr.String(), test.wantError) || stdout.Len() != 0 {
				t.Errorf("token %v: exit %d, stdout %q, stderr %q; want exit %d and %q",
					test.arguments, code, stdout, stderr, test.wantCode, test.wantError)
			}
		})
	}

	// Problems with settings the token does not use do not stop it.
	c, _, stderr := newTestCLI(map[string]string{"PORT": "x"})
	if code := c.run([]string{"token", "--user", "u"}); code != exitSuccess {
		t.Errorf("token with a bad PORT: exit %d, stderr %q; want success", code, stderr)
	}
}

func TestMintTokenRefusesUserIDsTheGatewayRefuses(t *testing.T) {
	for _, userID := range []string{"", strings.Repeat("u", auth.MaxUserIDBytes+1), "bad\xff"} {
		if _, err := mintToken([]byte("secret"), userID, time.Hour, "", "", time.Now()); err == nil {
			t.Errorf("mintToken(user %q) succeeded; the gateway would refuse the token", userID)
		}
	}
	if _, err := mintToken([]byte("secret"), strings.Repeat("u", auth.MaxUserIDBytes), time.Hour, "", "", time.Now()); err != nil {
		t.Errorf("mintToken(user of %d bytes) = %v", auth.MaxUserIDBytes, err)
	}
}

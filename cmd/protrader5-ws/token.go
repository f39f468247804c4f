package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/protrader5/ws-gateway/engine/auth"
)

// DefaultTokenTTL is the lifetime of a token made by the token subcommand.
const DefaultTokenTTL = time.Hour

// reservedClaims are set from --user, --ttl, JWT_ISSUER and JWT_AUDIENCE;
// --claim may not override them, so a token never says two things at once.
var reservedClaims = []string{"sub", "iat", "exp", "iss", "aud"}

// mintToken returns an HS256 token for userID signed with secret: "sub" is
// userID, "iat" is now, "exp" is now+ttl, and "iss"/"aud" are set when not
// empty. It is what the gateway accepts (docs/protocol.md, authentication), for development and
// tests; production tokens come from the platform's auth service.
func mintToken(secret []byte, userID string, ttl time.Duration, issuer, audience string, now time.Time) (string, error) {
	return mintTokenWithClaims(secret, userID, ttl, issuer, audience, now, nil)
}

// mintTokenWithClaims is mintToken with extra claims; extra must not hold a
// reserved claim.
func mintTokenWithClaims(secret []byte, userID string, ttl time.Duration, issuer, audience string, now time.Time, extra map[string]any) (string, error) {
	switch {
	case len(secret) == 0:
		return "", errors.New("token: no secret to sign with")
	case !auth.ValidUserID(userID):
		return "", fmt.Errorf("token: user id %q is not one the gateway serves (non-empty, at most %d bytes of UTF-8)", userID, auth.MaxUserIDBytes)
	case ttl <= 0:
		return "", fmt.Errorf("token: ttl %v is not positive", ttl)
	}
	claims := jwt.MapClaims{}
	maps.Copy(claims, extra)
	for _, name := range reservedClaims {
		if _, ok := extra[name]; ok {
			return "", fmt.Errorf("token: claim %q is reserved", name)
		}
	}
	claims["sub"] = userID
	claims["iat"] = now.Unix()
	claims["exp"] = now.Add(ttl).Unix()
	if issuer != "" {
		claims["iss"] = issuer
	}
	if audience != "" {
		claims["aud"] = audience
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	return signed, nil
}

// claimFlags collects repeated --claim key=value flags.
type claimFlags map[string]any

func (c claimFlags) String() string {
	return strings.Join(slices.Sorted(maps.Keys(c)), ",")
}

// Set takes key=value. A value that parses as JSON is taken as JSON (numbers,
// booleans, arrays, objects); anything else is a string, so role=admin works
// without shell-quoting a JSON string.
func (c claimFlags) Set(text string) error {
	key, raw, ok := strings.Cut(text, "=")
	if !ok || key == "" {
		return fmt.Errorf("%q is not key=value", text)
	}
	if slices.Contains(reservedClaims, key) {
		return fmt.Errorf("claim %q is set by --user, --ttl, JWT_ISSUER or JWT_AUDIENCE", key)
	}
	var value any
	if err := json.Unmarshal([]byte(raw), &value); err != nil {
		value = raw
	}
	c[key] = value
	return nil
}

const tokenUsage = `usage: protrader5-ws token --user ID [--ttl 1h] [--claim key=value ...]

Prints an HS256 token for the gateway, signed with JWT_SECRET (or, outside
production with no key configured, the development secret). "sub" is the user,
"exp" is now + ttl; "iss" and "aud" follow JWT_ISSUER and JWT_AUDIENCE.
A --claim value that parses as JSON is taken as JSON, else as a string.
Refused when NODE_ENV=production: production tokens come from the auth service.

`

// tokenCommand implements "protrader5-ws token" and returns the exit code.
func (c *cli) tokenCommand(arguments []string) int {
	flags := flag.NewFlagSet("token", flag.ContinueOnError)
	flags.SetOutput(c.stderr)
	flags.Usage = func() {
		fmt.Fprint(c.stderr, tokenUsage)
		flags.PrintDefaults()
	}
	userID := flags.String("user", "", "the user id, put in the \"sub\" claim (required)")
	ttl := flags.Duration("ttl", DefaultTokenTTL, "the token lifetime")
	extra := claimFlags{}
	flags.Var(extra, "claim", "an extra claim as key=value; repeatable")
	if code, done := parseFlags(flags, arguments); done {
		return code
	}
	switch {
	case *userID == "":
		fmt.Fprintln(c.stderr, "token: --user is required")
		return exitUsage
	case *ttl <= 0:
		fmt.Fprintf(c.stderr, "token: --ttl %v is not positive\n", *ttl)
		return exitUsage
	}

	config, err := LoadConfig(c.lookup, c.dotenvPath)
	// Production is refused even when the rest of the configuration is
	// broken: the refusal is the point, not the broken setting.
	if config.IsProduction() {
		fmt.Fprintln(c.stderr, "token: refused with NODE_ENV=production; production tokens come from the auth service")
		return exitUsage
	}
	if err = onlyProblemsOf(err, "NODE_ENV", "JWT_"); err != nil {
		fmt.Fprintln(c.stderr, err)
		return exitFailure
	}
	if len(config.JWTSecret) == 0 {
		fmt.Fprintf(c.stderr, "token: JWT_SECRET is not set; the gateway verifies %s with JWT_PUBLIC_KEY_FILE, which this command cannot sign\n",
			config.JWTPublicKeyAlgorithm)
		return exitFailure
	}
	if config.DevelopmentSecret {
		fmt.Fprintf(c.stderr, "token: signed with the public development secret %q (JWT_SECRET is not set)\n", DevelopmentSecret)
	}
	token, err := mintTokenWithClaims(config.JWTSecret, *userID, *ttl, config.JWTIssuer, config.JWTAudience, c.now(), extra)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return exitFailure
	}
	fmt.Fprintln(c.stdout, token)
	return exitSuccess
}

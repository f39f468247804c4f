package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"time"
)

// tokenMinter signs HS256 JWTs for the load generator's users. It builds the
// token by hand rather than through golang-jwt because minting 50,000 tokens
// during a ramp should cost microseconds each; the tests verify the output
// with golang-jwt so the two cannot drift.
type tokenMinter struct {
	secret    []byte
	header    string // base64url of the fixed header, computed once
	expiresAt int64  // unix seconds, the same for every token of a run
}

func newTokenMinter(secret string, lifetime time.Duration) *tokenMinter {
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	return &tokenMinter{
		secret:    []byte(secret),
		header:    header,
		expiresAt: time.Now().Add(lifetime).Unix(),
	}
}

// mint returns a token whose sub claim is userID.
func (m *tokenMinter) mint(userID string) string {
	subject, _ := json.Marshal(userID) // a string always marshals
	now := strconv.FormatInt(time.Now().Unix(), 10)
	claims := `{"sub":` + string(subject) + `,"iat":` + now + `,"exp":` + strconv.FormatInt(m.expiresAt, 10) + `}`
	unsigned := m.header + "." + base64.RawURLEncoding.EncodeToString([]byte(claims))
	mac := hmac.New(sha256.New, m.secret)
	mac.Write([]byte(unsigned))
	return unsigned + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

package main

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestMintVerifiesWithGolangJWT(t *testing.T) {
	minter := newTokenMinter("test-secret", time.Hour)
	for _, user := range []string{"u0", "u12345", `odd "quoted" \ user`} {
		token := minter.mint(user)
		parser := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
		parsed, err := parser.Parse(token, func(*jwt.Token) (any, error) { return []byte("test-secret"), nil })
		if err != nil {
			t.Fatalf("Parse(mint(%q)) = %v", user, err)
		}
		subject, err := parsed.Claims.GetSubject()
		if err != nil || subject != user {
			t.Fatalf("sub = %q, %v; want %q", subject, err, user)
		}
		expiry, err := parsed.Claims.GetExpirationTime()
		if err != nil || time.Until(expiry.Time) < 59*time.Minute {
			t.Fatalf("exp = %v, %v; want about an hour ahead", expiry, err)
		}
		if _, err := parser.Parse(token, func(*jwt.Token) (any, error) { return []byte("other"), nil }); err == nil {
			t.Fatal("token verified with the wrong secret")
		}
	}
}

// Package auth verifies the JWTs clients present on Socket.IO CONNECT and
// holds the one rule for which user ids the gateway serves. It keeps no
// connection state: the engine asks it about a token, ingest and the token
// subcommand ask it about a user id.
package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// Code is the data.code of a refused CONNECT (docs/protocol.md,
// authentication). The empty Code means the token was accepted.
type Code string

// The codes a refused CONNECT carries; clients match on these strings.
const (
	TokenMissing Code = "TOKEN_MISSING"
	TokenInvalid Code = "TOKEN_INVALID"
	TokenExpired Code = "TOKEN_EXPIRED"
)

// DefaultLeeway is the clock skew allowed on exp and nbf.
const DefaultLeeway = 5 * time.Second

// MaxUserIDBytes is the longest user id the gateway serves, in bytes. A token
// naming a longer one is refused at connect and ingest drops messages
// addressed to one, so a user is either refused or served, never connected
// and left without messages.
const MaxUserIDBytes = 128

// ValidUserID reports whether s is a user id the gateway serves: non-empty,
// at most MaxUserIDBytes, valid UTF-8. Authentication and ingest share it so
// that what one accepts the other cannot refuse.
func ValidUserID(s string) bool {
	return len(s) > 0 && len(s) <= MaxUserIDBytes && utf8.ValidString(s)
}

// Options configures an Authenticator. At least one of Secret and
// PublicKey must be set.
type Options struct {
	// Secret verifies HS256 tokens.
	Secret []byte
	// PublicKey verifies RS256 (*rsa.PublicKey) or ES256 (*ecdsa.PublicKey) tokens.
	PublicKey crypto.PublicKey
	// Issuer and Audience, when set, must match the iss and aud claims.
	Issuer   string
	Audience string
	// Leeway is the clock skew allowed. Zero means DefaultLeeway (5s).
	Leeway time.Duration
	// Now is the clock; nil means time.Now. Tests set it.
	Now func() time.Time
}

// Identity is what a verified token says about its holder.
type Identity struct {
	UserID string
	// Expires is the token's exp claim.
	Expires time.Time
}

// Authenticator verifies JWTs with pinned algorithms. It is safe for
// concurrent use.
type Authenticator struct {
	parser    *jwt.Parser
	secret    []byte
	publicKey crypto.PublicKey
}

// New builds the one parser used for every token: the accepted
// algorithms are pinned to the configured keys, so neither "none" nor an
// HS256 token signed with the RSA public key is accepted.
func New(options Options) (*Authenticator, error) {
	var methods []string
	if len(options.Secret) > 0 {
		methods = append(methods, jwt.SigningMethodHS256.Alg())
	}
	switch key := options.PublicKey.(type) {
	case nil:
	case *rsa.PublicKey:
		methods = append(methods, jwt.SigningMethodRS256.Alg())
	case *ecdsa.PublicKey:
		// The curve fixes the algorithm (RFC 7518 §3.4).
		switch key.Curve.Params().BitSize {
		case 256:
			methods = append(methods, jwt.SigningMethodES256.Alg())
		case 384:
			methods = append(methods, jwt.SigningMethodES384.Alg())
		case 521:
			methods = append(methods, jwt.SigningMethodES512.Alg())
		default:
			return nil, fmt.Errorf("auth: unsupported EC curve %s", key.Curve.Params().Name)
		}
	default:
		return nil, fmt.Errorf("auth: unsupported public key type %T", options.PublicKey)
	}
	if len(methods) == 0 {
		return nil, errors.New("auth: authenticator needs a secret or a public key")
	}
	leeway := options.Leeway
	if leeway <= 0 {
		leeway = DefaultLeeway
	}
	parserOptions := []jwt.ParserOption{
		jwt.WithValidMethods(methods),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(leeway),
	}
	if options.Issuer != "" {
		parserOptions = append(parserOptions, jwt.WithIssuer(options.Issuer))
	}
	if options.Audience != "" {
		parserOptions = append(parserOptions, jwt.WithAudience(options.Audience))
	}
	if options.Now != nil {
		parserOptions = append(parserOptions, jwt.WithTimeFunc(options.Now))
	}
	return &Authenticator{
		parser:    jwt.NewParser(parserOptions...),
		secret:    options.Secret,
		publicKey: options.PublicKey,
	}, nil
}

// keyFor hands out the key matching the token's algorithm family, so that a
// token can never be checked with a key of another kind.
func (a *Authenticator) keyFor(token *jwt.Token) (any, error) {
	switch token.Method.(type) {
	case *jwt.SigningMethodHMAC:
		if len(a.secret) > 0 {
			return a.secret, nil
		}
	case *jwt.SigningMethodRSA:
		if key, ok := a.publicKey.(*rsa.PublicKey); ok {
			return key, nil
		}
	case *jwt.SigningMethodECDSA:
		if key, ok := a.publicKey.(*ecdsa.PublicKey); ok {
			return key, nil
		}
	}
	return nil, errors.New("auth: no key for the token's algorithm")
}

// Verify checks token and returns its holder, or the code to refuse it with.
func (a *Authenticator) Verify(token string) (Identity, Code) {
	if token == "" {
		return Identity{}, TokenMissing
	}
	claims := jwt.MapClaims{}
	parsed, err := a.parser.ParseWithClaims(token, claims, a.keyFor)
	if err != nil || !parsed.Valid {
		// Claims are never used after an error.
		if errors.Is(err, jwt.ErrTokenExpired) {
			return Identity{}, TokenExpired
		}
		return Identity{}, TokenInvalid
	}
	userID, _ := claims["sub"].(string)
	if userID == "" {
		userID, _ = claims["userId"].(string)
	}
	if !ValidUserID(userID) {
		return Identity{}, TokenInvalid
	}
	expires, err := claims.GetExpirationTime()
	if err != nil || expires == nil {
		return Identity{}, TokenInvalid
	}
	return Identity{UserID: userID, Expires: expires.Time}, ""
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/protrader5/ws-gateway/cmd/protrader5-ws/desk"
	"github.com/protrader5/ws-gateway/ingest"
)

// loadDeskConfig loads variables as the command does, on a free port with
// no log files.
func loadDeskConfig(t *testing.T, variables map[string]string) Config {
	t.Helper()
	config := mustLoad(t, variables)
	config.Port = 0
	config.LogDirectory = ""
	config.DrainTimeout = 2 * time.Second
	return config
}

func httpGet(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	response, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	body, err := io.ReadAll(response.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response, string(body)
}

// TestDeskPageOnlyWhereMeant: the page is off in production unless
// DEMO_PAGE says otherwise, and the token endpoint exists in development
// only, whatever DEMO_PAGE says.
func TestDeskPageOnlyWhereMeant(t *testing.T) {
	production := map[string]string{"NODE_ENV": "production", "JWT_SECRET": "a private secret", "ALLOW_EMBEDDED_BUS": "true"}
	cases := []struct {
		name      string
		variables map[string]string
		page      bool
		token     bool
	}{
		{"production", production, false, false},
		{"production with DEMO_PAGE", with(production, "DEMO_PAGE", "true"), true, false},
		{"test with DEMO_PAGE", map[string]string{"NODE_ENV": "test", "JWT_SECRET": "s", "DEMO_PAGE": "true"}, true, false},
		{"development", map[string]string{"NODE_ENV": "development", "JWT_SECRET": "a development secret"}, true, true},
		{"development without DEMO_PAGE", map[string]string{"NODE_ENV": "development", "DEMO_PAGE": "false"}, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			config := loadDeskConfig(t, tc.variables)
			base := startDeskGateway(t, config, ingest.DemoOptions{})
			for _, path := range []string{"/", "/desk.js", "/desk.css"} {
				response, body := httpGet(t, base+path)
				switch {
				case tc.page && response.StatusCode != http.StatusOK:
					t.Errorf("GET %s = %d; want 200", path, response.StatusCode)
				case tc.page && response.Header.Get("Content-Security-Policy") != desk.ContentSecurityPolicy:
					t.Errorf("GET %s: Content-Security-Policy %q", path, response.Header.Get("Content-Security-Policy"))
				case !tc.page && response.StatusCode != http.StatusNotFound:
					t.Errorf("GET %s = %d %.60q; want 404 with the page off", path, response.StatusCode, body)
				}
			}
			response, body := httpGet(t, base+desk.TokenPath)
			if !tc.token {
				if response.StatusCode != http.StatusNotFound {
					t.Errorf("GET %s = %d %.60q; want 404", desk.TokenPath, response.StatusCode, body)
				}
				return
			}
			if response.StatusCode != http.StatusOK || response.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("GET %s = %d (Cache-Control %q) %s", desk.TokenPath, response.StatusCode, response.Header.Get("Cache-Control"), body)
			}
			// The token is one the gateway accepts: for the demo user,
			// signed with the configured secret, expiring.
			var answer struct {
				Token string `json:"token"`
			}
			if err := json.Unmarshal([]byte(body), &answer); err != nil {
				t.Fatal(err)
			}
			claims := jwt.MapClaims{}
			_, err := jwt.ParseWithClaims(answer.Token, claims, func(*jwt.Token) (any, error) { return config.JWTSecret, nil },
				jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
			if err != nil || claims["sub"] != "demo" {
				t.Errorf("the development token %q: %v, claims %v", answer.Token, err, claims)
			}
		})
	}
}

func with(variables map[string]string, name, value string) map[string]string {
	copied := map[string]string{name: value}
	for key, existing := range variables {
		if key != name {
			copied[key] = existing
		}
	}
	return copied
}

// TestDeskPageAsksForATokenInProduction: with DEMO_PAGE=true in production
// the page finds no token endpoint, asks for a token, connects with the one
// typed in and keeps it out of every storage.
func TestDeskPageAsksForATokenInProduction(t *testing.T) {
	secret := "a private secret"
	config := loadDeskConfig(t, map[string]string{"NODE_ENV": "production", "JWT_SECRET": secret,
		"ALLOW_EMBEDDED_BUS": "true", "DEMO_PAGE": "true", "DEMO_FEED": "true", "DEMO_USER": "trader-7"})
	base := startDeskGateway(t, config, ingest.DemoOptions{TickInterval: 50 * time.Millisecond, EventInterval: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := startBrowser(t)
	page := openDesk(ctx, t, b, base)
	const wait = 45 * time.Second

	pollPage(ctx, t, "the page asks for a token", wait, func() error {
		var asking bool
		if err := page.evaluate(ctx, `!document.getElementById("token-form").hidden && document.activeElement.id === "token-input"`, &asking); err != nil {
			return err
		}
		if !asking {
			return errNotYet
		}
		return nil
	})
	token, err := mintToken([]byte(secret), "trader-7", time.Hour, "", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := page.evaluate(ctx, fmt.Sprintf(`document.getElementById("token-input").value = %q;
		document.getElementById("token-form").requestSubmit()`, token), nil); err != nil {
		t.Fatal(err)
	}
	pollPage(ctx, t, "the page connects as the token's user and fills", wait, func() error {
		var state struct {
			Status, User string
			Filled       int
			FormHidden   bool
		}
		err := page.evaluate(ctx, `({Status: document.getElementById("connection-status").textContent,
			User: document.getElementById("connection-user").textContent,
			Filled: document.querySelectorAll("#ticker-rows tr[data-price]").length,
			FormHidden: document.getElementById("token-form").hidden})`, &state)
		if err != nil {
			return err
		}
		if state.Status != "connected" || state.User != "trader-7" || state.Filled != 5 || !state.FormHidden {
			return fmt.Errorf("%w: %+v", errNotYet, state)
		}
		return nil
	})
	var stored string
	if err := page.evaluate(ctx, `JSON.stringify({local: {...localStorage}, session: {...sessionStorage}, cookie: document.cookie,
		field: document.getElementById("token-input").value})`, &stored); err != nil {
		t.Fatal(err)
	}
	if stored != `{"local":{},"session":{},"cookie":"","field":""}` {
		t.Errorf("the token was kept somewhere: %s", stored)
	}
	// The one expected failure: the page's probe of the token endpoint.
	problems, err := pageProblems(ctx, page, desk.TokenPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) > 0 {
		t.Errorf("the page had problems:\n%s", strings.Join(problems, "\n"))
	}
}

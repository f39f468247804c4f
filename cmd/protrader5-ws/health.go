package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

const healthUsage = `usage: protrader5-ws health [--timeout 3s]

Asks the gateway on this host for GET /health on PORT (https when
TLS_CERT_FILE is set) and exits 0 when it answers 200, 1 otherwise. It is the
container HEALTHCHECK: the runtime image has no shell, curl or wget.
`

// defaultHealthTimeout stays under the Dockerfile's HEALTHCHECK --timeout, so
// the command reports its own error instead of being killed.
const defaultHealthTimeout = 2 * time.Second

// healthCommand implements "protrader5-ws health". It reads the same
// environment and .env as serve, so it finds the port the server listens on
// without being told.
func (c *cli) healthCommand(arguments []string) int {
	flags := flag.NewFlagSet("health", flag.ContinueOnError)
	flags.SetOutput(c.stderr)
	flags.Usage = func() {
		fmt.Fprint(c.stderr, healthUsage)
		flags.PrintDefaults()
	}
	timeout := flags.Duration("timeout", defaultHealthTimeout, "how long to wait for the answer")
	if code, done := parseFlags(flags, arguments); done {
		return code
	}
	config, err := LoadConfig(c.lookup, c.dotenvPath)
	// Only the port matters here: a problem elsewhere (a missing secret, a
	// bad Redis URL) is the server's to report, and a server that started
	// despite it is healthy or not on its own account.
	if err = onlyProblemsOf(err, "PORT", "TLS_"); err != nil {
		fmt.Fprintln(c.stderr, err)
		return exitFailure
	}
	if err := checkHealth(config, *timeout); err != nil {
		fmt.Fprintln(c.stderr, "health:", err)
		return exitFailure
	}
	return exitSuccess
}

// checkHealth fetches /health from the loopback address of PORT.
func checkHealth(config Config, timeout time.Duration) error {
	scheme := "http"
	transport := &http.Transport{DisableKeepAlives: true}
	if config.TLSCertFile != "" {
		scheme = "https"
		// The certificate names the public host, not 127.0.0.1, and the
		// question is whether this process answers, not who it is: a
		// loopback connection cannot be intercepted off the host.
		transport.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // loopback only, see above
	}
	client := &http.Client{Transport: transport, Timeout: timeout}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	url := scheme + "://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(config.Port)) + "/health"
	request, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	response, err := client.Do(request)
	if err != nil {
		return err
	}
	defer response.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(response.Body, 4096))
	if response.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, response.Status)
	}
	return nil
}

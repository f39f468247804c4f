// Command loadgen drives Socket.IO servers (the gateway, the Node.js
// reference, the floor relay) with simulated trading clients and measures
// delivery completeness, latency and the server's cost per delivery.
//
//	go run ./bench/loadgen -h
//	go run ./bench/loadgen compare -h
//	go run ./bench/loadgen soak -h
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if os.Getenv(childEnvironment) != "" {
		if err := childMain(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "compare" {
		if err := compareMain(os.Args[2:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "soak" {
		if err := soakMain(os.Args[2:], os.Stdout); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return
			}
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if err := runMain(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// pidList is a repeatable, comma-separated -server-pid flag.
type pidList []int

func (p *pidList) String() string { return fmt.Sprint([]int(*p)) }

func (p *pidList) Set(value string) error {
	for field := range strings.SplitSeq(value, ",") {
		pid, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || pid <= 0 {
			return fmt.Errorf("bad pid %q", field)
		}
		*p = append(*p, pid)
	}
	return nil
}

func parseFlags(arguments []string) (config, bool, string, error) {
	flags := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	var c config
	var targets string
	var pids pidList
	var asJSON bool
	var output string
	redisURL := os.Getenv("REDIS_URL")
	if redisURL == "" {
		redisURL = "redis://127.0.0.1:6379"
	}
	flags.StringVar(&c.Label, "label", "", "name of this run in results and tables")
	flags.StringVar(&targets, "target", "127.0.0.1:4000", "server host:port, comma list to spread clients over several")
	flags.StringVar(&c.Path, "path", "/socket.io/", "Socket.IO path")
	flags.IntVar(&c.Clients, "clients", 100, "number of clients (user ids u0..uN-1)")
	flags.Float64Var(&c.RampPerSecond, "ramp", 2000, "new connections per second")
	flags.DurationVar(&c.ConnectTimeout, "connect-timeout", 10*time.Second, "dial + handshake + subscribe limit per client")
	flags.StringVar(&c.JWTSecret, "jwt-secret", os.Getenv("JWT_SECRET"), "HS256 secret for client tokens (default $JWT_SECRET)")
	flags.IntVar(&c.Symbols, "symbols", 100, "number of symbols ticks are published on")
	flags.IntVar(&c.PerClient, "per-client", 5, "symbols each client subscribes to (round-robin)")
	flags.StringVar(&c.SymbolPrefix, "symbol-prefix", "SYM", "symbol names are prefix + index")
	flags.Float64Var(&c.Rate, "rate", 2, "ticks per second per symbol")
	flags.BoolVar(&c.Orders, "orders", false, "clients also subscribe to their orders")
	flags.Float64Var(&c.OrdersRate, "orders-rate", 0, "order updates per second over all users (implies -orders)")
	flags.Float64Var(&c.StalledPercent, "stalled-percent", 0, "share of clients that stop reading after subscribing")
	flags.Float64Var(&c.MsgpackFraction, "msgpack-fraction", 0, "share of clients (0 to 1) that use socket.io-msgpack-parser packets")
	flags.Float64Var(&c.ThrottleFraction, "throttle-fraction", 0, "share of clients that subscribe with -throttle-ms (spread evenly)")
	flags.IntVar(&c.ThrottleMs, "throttle-ms", 0, "throttleMs of the throttled clients' subscriptions")
	flags.IntVar(&c.Procs, "procs", 1, "client processes (each holds at most ~19,000 sockets)")
	flags.DurationVar(&c.Warmup, "warmup", 2*time.Second, "publishing before the measurement window")
	flags.DurationVar(&c.Duration, "duration", 10*time.Second, "measurement window")
	flags.DurationVar(&c.Drain, "drain", 3*time.Second, "longest wait for in-flight deliveries after publishing stops")
	flags.DurationVar(&c.Progress, "progress", 5*time.Second, "progress line interval on stderr (0 = none)")
	flags.StringVar(&c.RedisURL, "redis-url", redisURL, "Redis the servers subscribe to (default $REDIS_URL)")
	flags.Var(&pids, "server-pid", "server process to measure (repeatable, comma list)")
	flags.BoolVar(&c.OrdersStream, "orders-stream", false, "append order updates to the order:updates stream (field data) instead of publishing them")
	flags.BoolVar(&c.Reconnect, "reconnect", false, "clients whose connection drops come back, with their pid and offset, trying each -target in turn")
	flags.DurationVar(&c.ReconnectDelay, "reconnect-delay", time.Second, "first delay before coming back, doubling up to -reconnect-delay-max, ±50 % (the stock client's)")
	flags.DurationVar(&c.ReconnectDelayMax, "reconnect-delay-max", 5*time.Second, "longest delay before coming back")
	flags.IntVar(&c.StormClients, "storm-clients", 0, "the first N clients sit on the first -target and follow only their orders (orders go to them alone); the rest spread over every target with ticks only")
	flags.DurationVar(&c.KillAfter, "kill-after", 0, "kill -9 the first -server-pid (serving the first -target) this long into the window; the window then lasts until every client is back plus -settle (implies -reconnect; -duration is not used)")
	flags.DurationVar(&c.StormTimeout, "storm-timeout", 90*time.Second, "longest wait after the kill for every client to be back")
	flags.DurationVar(&c.Settle, "settle", 5*time.Second, "publishing after every client is back, before the run ends")
	flags.DurationVar(&c.IdleSettle, "idle-settle", 0, "sample the servers' memory again this long after the ramp, before publishing (0: not)")
	flags.DurationVar(&c.AfterClose, "after-close", 0, "sample the servers' memory this long after the clients closed (0: not)")
	flags.BoolVar(&asJSON, "json", false, "print the result as JSON instead of a table")
	flags.StringVar(&output, "out", "", "also write the JSON result to this file")
	if err := flags.Parse(arguments); err != nil {
		return c, false, "", err
	}
	if flags.NArg() > 0 {
		return c, false, "", fmt.Errorf("loadgen: unexpected argument %q", flags.Arg(0))
	}
	for target := range strings.SplitSeq(targets, ",") {
		if target = strings.TrimSpace(target); target != "" {
			c.Targets = append(c.Targets, target)
		}
	}
	c.ServerPIDs = pids
	return c, asJSON, output, nil
}

func runMain(arguments []string) error {
	c, asJSON, output, err := parseFlags(arguments)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	outcome, err := run(ctx, c, os.Stderr)
	if err != nil {
		return err
	}
	encoded, err := json.MarshalIndent(outcome, "", "  ")
	if err != nil {
		return err
	}
	if output != "" {
		if err := os.WriteFile(output, append(encoded, '\n'), 0o644); err != nil {
			return err
		}
	}
	if asJSON {
		_, err = fmt.Printf("%s\n", encoded)
		return err
	}
	printResult(os.Stdout, outcome)
	return nil
}

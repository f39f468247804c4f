// Command protrader5-ws is the ProTrader5 real-time gateway: a Socket.IO
// server streaming market data, orders, positions and notifications
// (docs/README.md). This file holds the subcommands; serve.go starts the engine.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"
)

// version and commit are set at build time:
//
//	go build -ldflags "-X main.version=1.2.0 -X main.commit=$(git rev-parse HEAD)"
var (
	version = "dev"
	commit  = ""
)

// Exit codes: 2 for a command line or policy refusal, as flag and most
// Unix tools do; 1 for everything that went wrong at run time.
const (
	exitSuccess = 0
	exitFailure = 1
	exitUsage   = 2
)

// dotenvFile is read from the working directory, as Node's dotenv does.
const dotenvFile = ".env"

// defaultShutdownGrace is added to Config.DrainTimeout before serve gives up
// waiting for runServe, so that a drain that overruns a little still logs
// its own outcome.
const defaultShutdownGrace = 5 * time.Second

const usage = `usage: protrader5-ws [command] [flags]

Commands:
  serve     run the gateway (the default)
  token     print a development token: token --user ID [--ttl 1h] [--claim k=v]
  publish   publish one message to Redis: publish --channel C --data JSON
  version   print the version, commit and Go version
  health    exit 0 if the gateway on this host answers /health (HEALTHCHECK)
  help      print this help

Settings come from the environment and from a .env file in the working
directory (the environment wins); see .env.example for every variable.
`

// cli carries what the subcommands read and write, so tests run them without
// touching the process's own environment or output.
type cli struct {
	stdout, stderr io.Writer
	lookup         func(string) (string, bool)
	// environ lists the environment (os.Environ), for the warning about
	// variables that look like settings; nil means none.
	environ    func() []string
	dotenvPath string
	now        func() time.Time
	// serve is runServe; tests substitute it.
	serve func(context.Context, Config, *slog.Logger) error
	// shutdownGrace is defaultShutdownGrace; tests shorten it.
	shutdownGrace time.Duration
}

func main() {
	c := &cli{
		stdout:     os.Stdout,
		stderr:     os.Stderr,
		lookup:     os.LookupEnv,
		environ:    os.Environ,
		dotenvPath: dotenvFile,
		now:        time.Now,
		serve:      runServe,

		shutdownGrace: defaultShutdownGrace,
	}
	os.Exit(c.run(os.Args[1:]))
}

// run dispatches to a subcommand and returns the process exit code.
func (c *cli) run(arguments []string) int {
	command := "serve"
	// A leading flag belongs to the default command, except a request for help.
	if len(arguments) > 0 && (len(arguments[0]) == 0 || arguments[0][0] != '-' || isHelpFlag(arguments[0])) {
		command, arguments = arguments[0], arguments[1:]
	}
	switch command {
	case "serve":
		return c.serveCommand(arguments)
	case "token":
		return c.tokenCommand(arguments)
	case "publish":
		return c.publishCommand(arguments)
	case "version":
		return c.versionCommand(arguments)
	case "health":
		return c.healthCommand(arguments)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(c.stdout, usage)
		return exitSuccess
	}
	fmt.Fprintf(c.stderr, "protrader5-ws: unknown command %q\n\n%s", command, usage)
	return exitUsage
}

func isHelpFlag(argument string) bool {
	return argument == "-h" || argument == "-help" || argument == "--help"
}

// parseFlags parses arguments; done is true when the command must end with
// code: after -h (0), a bad flag or a stray argument (2).
func parseFlags(flags *flag.FlagSet, arguments []string) (code int, done bool) {
	if err := flags.Parse(arguments); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitSuccess, true
		}
		return exitUsage, true
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(flags.Output(), "%s: unexpected argument %q\n", flags.Name(), flags.Arg(0))
		flags.Usage()
		return exitUsage, true
	}
	return exitSuccess, false
}

// onlyProblemsOf keeps the configuration problems of the variables named by
// prefixes, for subcommands that use only those. Other errors pass unchanged.
func onlyProblemsOf(err error, prefixes ...string) error {
	var configError *ConfigError
	if errors.As(err, &configError) {
		return configError.onlyPrefixed(prefixes...)
	}
	return err
}

func (c *cli) versionCommand(arguments []string) int {
	flags := flag.NewFlagSet("version", flag.ContinueOnError)
	flags.SetOutput(c.stderr)
	if code, done := parseFlags(flags, arguments); done {
		return code
	}
	fmt.Fprintf(c.stdout, "protrader5-ws %s (commit %s, %s %s/%s)\n", version, buildRevision(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitSuccess
}

// buildRevision is the commit stamped in at build time, else the one `go
// build` recorded when it could see the repository, else "unknown".
func buildRevision() string {
	if commit != "" {
		return commit
	}
	revision := "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, setting := range info.Settings {
			if setting.Key == "vcs.revision" {
				revision = setting.Value
			}
		}
	}
	return revision
}

const serveUsage = `usage: protrader5-ws [serve]

Runs the gateway until SIGTERM or SIGINT, then drains for at most
DRAIN_TIMEOUT. A second signal ends the process at once.
`

func (c *cli) serveCommand(arguments []string) int {
	flags := flag.NewFlagSet("serve", flag.ContinueOnError)
	flags.SetOutput(c.stderr)
	flags.Usage = func() { fmt.Fprint(c.stderr, serveUsage) }
	if code, done := parseFlags(flags, arguments); done {
		return code
	}
	config, err := LoadConfig(c.lookup, c.dotenvPath)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return exitFailure
	}
	logger, closeLogs, err := newLogger(config, c.stderr)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return exitFailure
	}
	defer closeLogs()
	c.warnAboutLookalikes(logger)
	ctx, stop := withShutdownSignals(context.Background())
	defer stop()
	if err := c.serveUntilDone(ctx, config, logger); err != nil {
		logger.Error("gateway stopped", "error", err)
		return exitFailure
	}
	return exitSuccess
}

// withShutdownSignals returns a context cancelled by the first SIGTERM or
// SIGINT. Once it is cancelled the signals get their default action back, so
// a second Ctrl-C ends a drain that takes too long.
func withShutdownSignals(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(parent, syscall.SIGTERM, syscall.SIGINT)
	context.AfterFunc(ctx, stop)
	return ctx, stop
}

// serveUntilDone logs the start-up, runs the server until ctx ends, and
// bounds the drain: the gateway exits within the drain time (docs/delivery.md), so a
// runServe that does not return in DrainTimeout+c.shutdownGrace after the
// signal is abandoned with an error.
func (c *cli) serveUntilDone(ctx context.Context, config Config, logger *slog.Logger) error {
	logger.Info("starting", "version", version, "config", config)
	if config.DevelopmentSecret {
		logger.Warn("JWT_SECRET is not set: tokens are checked with the public development secret; never expose this server")
	}
	finished := make(chan error, 1)
	serve := c.serve
	go func() { finished <- serve(ctx, config, logger) }()
	select {
	case err := <-finished:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down", slog.Duration("drain_timeout", config.DrainTimeout))
	limit := config.DrainTimeout + c.shutdownGrace
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	select {
	case err := <-finished:
		if err == nil {
			logger.Info("stopped")
		}
		return err
	case <-deadline.C:
		return fmt.Errorf("serve: shutdown did not finish within %v", limit)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"slices"
	"time"

	"github.com/redis/rueidis"
)

// publishChannels are the ingest channels of CONTRACT §6, before REDIS_PREFIX.
var publishChannels = []string{"market:ticks", "order:updates", "position:updates", "notifications"}

// publishTimeout bounds the connection and the one PUBLISH.
const publishTimeout = 10 * time.Second

const publishUsage = `usage: protrader5-ws publish --channel CHANNEL --data JSON

Publishes one message to REDIS_URL, as a backend service would, and prints the
number of clients that received it (like redis-cli PUBLISH). CHANNEL is one of
market:ticks, order:updates, position:updates, notifications; REDIS_PREFIX is
prepended, and REDIS_SHARDED=true uses SPUBLISH.

`

func (c *cli) publishCommand(arguments []string) int {
	flags := flag.NewFlagSet("publish", flag.ContinueOnError)
	flags.SetOutput(c.stderr)
	flags.Usage = func() {
		fmt.Fprint(c.stderr, publishUsage)
		flags.PrintDefaults()
	}
	channel := flags.String("channel", "", "the channel: market:ticks, order:updates, position:updates or notifications")
	data := flags.String("data", "", "the message, a JSON object (or, on market:ticks, an array of them)")
	if code, done := parseFlags(flags, arguments); done {
		return code
	}
	if err := checkPublishMessage(*channel, []byte(*data)); err != nil {
		fmt.Fprintln(c.stderr, err)
		return exitUsage
	}

	config, err := LoadConfig(c.lookup, c.dotenvPath)
	if err = onlyProblemsOf(err, "REDIS_"); err != nil {
		fmt.Fprintln(c.stderr, err)
		return exitFailure
	}
	if config.RedisURL == "" {
		fmt.Fprintln(c.stderr, "publish: REDIS_URL is not set; publish needs Redis, because the embedded bus lives "+
			"inside one running gateway and cannot be reached from outside (set REDIS_URL=redis://host:6379)")
		return exitFailure
	}
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	receivers, err := publish(ctx, config, config.RedisPrefix+*channel, *data)
	if err != nil {
		fmt.Fprintf(c.stderr, "publish: %s: %v\n", config.RedisURLRedacted(), err)
		return exitFailure
	}
	fmt.Fprintln(c.stdout, receivers)
	return exitSuccess
}

// checkPublishMessage refuses what the gateway would drop anyway: an unknown
// channel, text that is not JSON, or JSON of the wrong shape.
func checkPublishMessage(channel string, data []byte) error {
	if !slices.Contains(publishChannels, channel) {
		return fmt.Errorf("publish: --channel %q is not one of %v", channel, publishChannels)
	}
	if !json.Valid(data) {
		return fmt.Errorf("publish: --data is not valid JSON")
	}
	trimmed := bytes.TrimSpace(data)
	isObject := trimmed[0] == '{'
	if !isObject && !(channel == "market:ticks" && trimmed[0] == '[') {
		return fmt.Errorf("publish: --data must be a JSON object on %s", channel)
	}
	return nil
}

// publish sends one message and returns how many subscribers Redis says got it.
func publish(ctx context.Context, config Config, channel, message string) (int64, error) {
	option, err := rueidis.ParseURL(config.RedisURL)
	if err != nil {
		return 0, err
	}
	// One command needs no client-side cache, and RESP2-only servers refuse it.
	option.DisableCache = true
	if config.RedisTLSRoots != nil && option.TLSConfig != nil {
		option.TLSConfig.RootCAs = config.RedisTLSRoots
	}
	if deadline, ok := ctx.Deadline(); ok {
		option.Dialer.Timeout = time.Until(deadline)
	}
	client, err := rueidis.NewClient(option)
	if err != nil {
		return 0, err
	}
	defer client.Close()
	command := client.B().Publish().Channel(channel).Message(message).Build()
	if config.RedisSharded {
		command = client.B().Spublish().Channel(channel).Message(message).Build()
	}
	return client.Do(ctx, command).AsInt64()
}

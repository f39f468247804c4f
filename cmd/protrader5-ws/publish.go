package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/protrader5/ws-gateway/ingest"
)

// publishChannels are the ingest channels (docs/ingest.md), before REDIS_PREFIX.
var publishChannels = []string{"market:ticks", "order:updates", "position:updates", "notifications"}

// publishTimeout bounds the connection and the one PUBLISH or XADD.
const publishTimeout = 10 * time.Second

const publishUsage = `usage: protrader5-ws publish --channel CHANNEL --data JSON [--maxlen N]

Publishes one message to REDIS_URL, as a backend service would, and prints the
number of clients that received it (like redis-cli PUBLISH). CHANNEL is one of
market:ticks, order:updates, position:updates, notifications; REDIS_PREFIX is
prepended, and REDIS_SHARDED=true uses SPUBLISH.

With USER_STREAMS=streams a message of order:updates, position:updates or
notifications is appended to the stream of that name instead, as
XADD <key> [MAXLEN ~ N] * data <JSON>, and the new entry's ID is printed.

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
	maxLength := flags.Int64("maxlen", 0, "with USER_STREAMS=streams, trim the stream to about this many entries (0: no trimming)")
	if code, done := parseFlags(flags, arguments); done {
		return code
	}
	if err := checkPublishMessage(*channel, []byte(*data)); err != nil {
		fmt.Fprintln(c.stderr, err)
		return exitUsage
	}

	config, err := LoadConfig(c.lookup, c.dotenvPath)
	if err = onlyProblemsOf(err, "REDIS_", "USER_STREAMS"); err != nil {
		fmt.Fprintln(c.stderr, err)
		return exitFailure
	}
	toStream := config.UserStreams == ingest.Streams && *channel != "market:ticks"
	if *maxLength < 0 || (*maxLength > 0 && !toStream) {
		fmt.Fprintln(c.stderr, "publish: --maxlen must be positive, and applies only to a user channel with USER_STREAMS=streams")
		return exitUsage
	}
	if config.RedisURL == "" {
		fmt.Fprintln(c.stderr, "publish: REDIS_URL is not set; publish needs Redis, because the embedded bus lives "+
			"inside one running gateway and cannot be reached from outside (set REDIS_URL=redis://host:6379)")
		return exitFailure
	}
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	client, err := publishClient(ctx, config)
	if err != nil {
		fmt.Fprintf(c.stderr, "publish: %s: %v\n", config.RedisURLRedacted(), err)
		return exitFailure
	}
	defer client.Close()
	var answer any
	if toStream {
		answer, err = appendEntry(ctx, client, config.RedisPrefix+*channel, *data, *maxLength)
	} else {
		answer, err = publish(ctx, client, config, config.RedisPrefix+*channel, *data)
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "publish: %s: %v\n", config.RedisURLRedacted(), err)
		return exitFailure
	}
	fmt.Fprintln(c.stdout, answer)
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

// publishClient connects to the configured Redis for one command.
func publishClient(ctx context.Context, config Config) (rueidis.Client, error) {
	option, err := rueidis.ParseURL(config.RedisURL)
	if err != nil {
		return nil, err
	}
	// One command needs no client-side cache, and RESP2-only servers refuse it.
	option.DisableCache = true
	if config.RedisTLSRoots != nil && option.TLSConfig != nil {
		option.TLSConfig.RootCAs = config.RedisTLSRoots
	}
	if deadline, ok := ctx.Deadline(); ok {
		option.Dialer.Timeout = time.Until(deadline)
	}
	return rueidis.NewClient(option)
}

// publish sends one message and returns how many subscribers Redis says got it.
func publish(ctx context.Context, client rueidis.Client, config Config, channel, message string) (int64, error) {
	command := client.B().Publish().Channel(channel).Message(message).Build()
	if config.RedisSharded {
		command = client.B().Spublish().Channel(channel).Message(message).Build()
	}
	return client.Do(ctx, command).AsInt64()
}

// appendEntry adds message to the stream key as its "data" field, trimmed
// to about maxLength entries when positive, and returns the entry's ID.
func appendEntry(ctx context.Context, client rueidis.Client, key, message string, maxLength int64) (string, error) {
	command := client.B().Xadd().Key(key).Id("*").FieldValue().FieldValue("data", message).Build()
	if maxLength > 0 {
		// "~" lets Redis trim whole nodes only: cheaper, and never below N.
		command = client.B().Xadd().Key(key).Maxlen().Almost().Threshold(strconv.FormatInt(maxLength, 10)).
			Id("*").FieldValue().FieldValue("data", message).Build()
	}
	return client.Do(ctx, command).ToString()
}

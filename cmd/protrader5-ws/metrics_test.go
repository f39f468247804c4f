package main

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/protrader5/ws-gateway/ingest"
	"github.com/protrader5/ws-gateway/ingest/redistest"
)

// documentedMetric matches a series in the tables of docs/operations.md's
// Metrics section: "| `protrader5_name{labels}` | type | ..." .
var documentedMetric = regexp.MustCompile("(?m)^\\| `(protrader5_[a-z_]+)(?:\\{[^}]*\\})?` \\| ([a-z]+) \\|")

// documentedMetrics returns the metrics docs/operations.md lists, by name,
// with their types.
func documentedMetrics(t *testing.T) map[string]string {
	t.Helper()
	text, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(text)
	start := strings.Index(section, "\n## Metrics\n")
	if start < 0 {
		t.Fatal("docs/operations.md has no Metrics section")
	}
	section = section[start+1:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	metrics := make(map[string]string)
	for _, match := range documentedMetric.FindAllStringSubmatch(section, -1) {
		metrics[match[1]] = match[2]
	}
	if len(metrics) < 40 {
		t.Fatalf("found %d metrics in docs/operations.md; the table format changed?", len(metrics))
	}
	return metrics
}

// scrapedFamily matches a family's TYPE line in the text exposition.
var scrapedFamily = regexp.MustCompile(`(?m)^# TYPE (protrader5_[a-z_]+) ([a-z]+)$`)

// metricsGateway runs the gateway in-process with Redis and every user
// stream read from Redis Streams, the configuration with the most series.
// It returns the gateway and a backend publishing to the same Redis.
func metricsGateway(t *testing.T, userStreams ingest.UserStreams) (*inProcessGateway, *backend) {
	t.Helper()
	config := inProcessConfig()
	config.RedisURL = redistest.URL(t)
	config.RedisPrefix = e2ePrefix(t)
	config.UserStreams = userStreams
	return startInProcess(t, config), newBackend(t, config.RedisURL, config.RedisPrefix)
}

func TestEveryDocumentedMetricOnTheFirstScrape(t *testing.T) {
	documented := documentedMetrics(t)
	g, _ := metricsGateway(t, ingest.Streams)
	// The first scrape, before any client or message.
	status, body := get(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", g.port))
	if status != 200 {
		t.Fatalf("GET /metrics = %d", status)
	}
	scraped := make(map[string]string)
	for _, match := range scrapedFamily.FindAllStringSubmatch(body, -1) {
		scraped[match[1]] = match[2]
	}
	for name, kind := range documented {
		switch got, ok := scraped[name]; {
		case !ok:
			t.Errorf("%s is documented in docs/operations.md but not on the first scrape", name)
		case got != kind:
			t.Errorf("%s is a %s; docs/operations.md says %s", name, got, kind)
		}
	}
	for name := range scraped {
		if _, ok := documented[name]; !ok {
			t.Errorf("%s is exported but not documented in docs/operations.md", name)
		}
	}
	// Labelled counters start with their known label values, at 0.
	for _, series := range []string{
		`protrader5_disconnects_total{reason="slow_consumer"} 0`,
		`protrader5_auth_failures_total{reason="TOKEN_EXPIRED"} 0`,
		`protrader5_event_refusals_total{code="RATE_LIMITED"} 0`,
		`protrader5_recoveries_total{result="recovered"} 0`,
		`protrader5_handshake_refusals_total{reason="max_connections"} 0`,
		`protrader5_stream_deliveries_total{stream="market"} 0`,
		`protrader5_transport_sockets{transport="polling"} 0`,
		`protrader5_delivery_latency_seconds_count 0`,
	} {
		if !strings.Contains(body, "\n"+series+"\n") {
			t.Errorf("the first scrape lacks %s", series)
		}
	}
	if !regexp.MustCompile(`(?m)^protrader5_build_info\{commit="[^"]+",goversion="go[^"]+",version="[^"]+"\} 1$`).MatchString(body) {
		t.Errorf("no protrader5_build_info with version, commit and goversion:\n%s", grepLines(body, "protrader5_build_info"))
	}
}

func TestDeliveryLatencyMovesWhenTicksFlow(t *testing.T) {
	g, backend := metricsGateway(t, ingest.PubSub)
	gatewayURL := fmt.Sprintf("http://127.0.0.1:%d", g.port)
	client, err := dialSIO(t, g.port, "latency-user", mintTestToken(t, "latency-user"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.close()
	if ack, err := client.emitAck(1, "subscribe:market", `{"symbols":["LATENCY"]}`); err != nil || !strings.Contains(ack, `"ok":true`) {
		t.Fatalf("subscribe:market ack %q, %v", ack, err)
	}
	waitMetric(t, gatewayURL, "protrader5_redis_subscribed", func(value float64) bool { return value == 1 })
	before := scrapeSeries(t, gatewayURL)

	const ticks = 5
	for seq := 1; seq <= ticks; seq++ {
		backend.publish("market:ticks", fmt.Sprintf(`{"symbol":"LATENCY","price":%d,"seq":%d}`, 100+seq, seq))
		// One at a time, so that conflation keeps none of them back.
		waitFor(t, func() bool { _, got, _ := client.received(); return len(got) >= seq })
	}
	after := scrapeSeries(t, gatewayURL)

	// Each tick's frame is measured once, at the first write carrying it.
	for _, series := range []string{
		"protrader5_delivery_latency_seconds_count",
		`protrader5_delivery_latency_seconds_bucket{le="+Inf"}`,
		`protrader5_stream_deliveries_total{stream="market"}`,
	} {
		if got := after[series] - before[series]; got != ticks {
			t.Errorf("%s rose by %v over %d ticks delivered; want %d", series, got, ticks, ticks)
		}
	}
	if after["protrader5_delivery_latency_seconds_sum"] <= before["protrader5_delivery_latency_seconds_sum"] {
		t.Errorf("the latency sum did not rise: %v then %v", before["protrader5_delivery_latency_seconds_sum"], after["protrader5_delivery_latency_seconds_sum"])
	}
	if after["protrader5_sent_bytes_total"] <= before["protrader5_sent_bytes_total"] {
		t.Errorf("protrader5_sent_bytes_total did not rise: %v then %v", before["protrader5_sent_bytes_total"], after["protrader5_sent_bytes_total"])
	}
	if got := after["protrader5_fanout_burst_seconds_count"] - before["protrader5_fanout_burst_seconds_count"]; got < 1 {
		t.Errorf("protrader5_fanout_burst_seconds_count rose by %v; want at least 1", got)
	}
	if after["protrader5_users"] != 1 || after[`protrader5_transport_sockets{transport="websocket"}`] != 1 {
		t.Errorf("users %v, websocket sockets %v; want 1 and 1", after["protrader5_users"], after[`protrader5_transport_sockets{transport="websocket"}`])
	}
}

func mintTestToken(t *testing.T, user string) string {
	t.Helper()
	token, err := mintToken(inProcessConfig().JWTSecret, user, time.Hour, "", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// scrapeSeries scrapes url's /metrics into series (name with labels, as
// printed) → value.
func scrapeSeries(t *testing.T, url string) map[string]float64 {
	t.Helper()
	status, body := get(t, url+"/metrics")
	if status != 200 {
		t.Fatalf("GET /metrics = %d", status)
	}
	series := make(map[string]float64)
	for line := range strings.SplitSeq(body, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		cut := strings.LastIndexByte(line, ' ')
		value, err := strconv.ParseFloat(line[cut+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		series[line[:cut]] = value
	}
	return series
}

// waitMetric waits until series satisfies ok.
func waitMetric(t *testing.T, url, series string, ok func(float64) bool) {
	t.Helper()
	waitFor(t, func() bool { return ok(scrapeSeries(t, url)[series]) })
}

// waitFor polls done for up to 10 seconds.
func waitFor(t *testing.T, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatal("timed out after 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// grepLines returns the lines of text that contain word.
func grepLines(text, word string) string {
	lines := slices.DeleteFunc(strings.Split(text, "\n"), func(line string) bool { return !strings.Contains(line, word) })
	return strings.Join(lines, "\n")
}

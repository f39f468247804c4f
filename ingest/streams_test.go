package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/protrader5/ws-gateway/engine"
	"github.com/protrader5/ws-gateway/ingest/redistest"
	"github.com/redis/rueidis"
)

// streamsOptions are RedisOptions in Streams mode with short waits, so that
// outages end and tests stop quickly.
func streamsOptions(url, prefix string, router *Router) RedisOptions {
	return RedisOptions{
		URL: url, Prefix: prefix, Router: router, UserStreams: Streams,
		StreamBlock: 200 * time.Millisecond, MaxReconnectDelay: 50 * time.Millisecond,
	}
}

// xadd appends an entry of fieldValues (name, value, ...) to key and
// returns its ID. head is what goes before the fields, ending with the ID
// or "*" (e.g. MAXLEN 5 *); nil means "*".
func xadd(t testing.TB, client rueidis.Client, key string, head []string, fieldValues ...string) engine.EntryID {
	t.Helper()
	if head == nil {
		head = []string{"*"}
	}
	arguments := append(append([]string{}, head...), fieldValues...)
	text, err := client.Do(context.Background(), client.B().Arbitrary("XADD").Keys(key).Args(arguments...).Build()).ToString()
	if err != nil {
		t.Fatalf("XADD %s %v: %v", key, arguments, err)
	}
	id, ok := engine.ParseEntryID(text)
	if !ok {
		t.Fatalf("XADD returned id %q", text)
	}
	return id
}

// order is an order update of u1 numbered n.
func order(n int) string { return `{"orderId":"o` + strconv.Itoa(n) + `","userId":"u1"}` }

// wantEntries checks that calls are exactly the entries, in order.
func wantEntries(t *testing.T, calls []call, stream engine.Stream, messages []string, ids []engine.EntryID) {
	t.Helper()
	if len(calls) != len(messages) {
		t.Fatalf("got %d calls, want %d entries: %+v", len(calls), len(messages), calls)
	}
	for i := range messages {
		c := calls[i]
		if c.kind != "entry" || c.stream != stream || c.message != messages[i] || c.id != ids[i] {
			t.Fatalf("call %d = %+v; want entry %s as %v on %v", i, c, messages[i], ids[i], stream)
		}
	}
}

// wantHistory checks the HistoryFrom calls of stream.
func wantHistory(t *testing.T, rec *recorder, stream engine.Stream, ids ...engine.EntryID) {
	t.Helper()
	var got []engine.EntryID
	for _, c := range rec.historyCalls() {
		if c.stream == stream {
			got = append(got, c.id)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Fatalf("HistoryFrom(%v) calls = %v; want %v", stream, got, ids)
	}
}

func TestStreamsDeliverEntries(t *testing.T) {
	url := redistest.URL(t)
	prefix := testPrefix(t)
	client := redistest.Client(t, url)
	// Written before start: with no recovery window, history starts after it.
	old := xadd(t, client, prefix+"order:updates", nil, "data", order(0))

	rec := newRecorder()
	router := NewRouter(rec, RouterOptions{Logger: quietLogger()})
	source := runRedis(t, streamsOptions(url, prefix, router))
	waitReady(t, source, true, 5*time.Second)
	wantHistory(t, rec, engine.StreamOrders, old)
	wantHistory(t, rec, engine.StreamPositions, engine.EntryID{})
	wantHistory(t, rec, engine.StreamNotifications, engine.EntryID{})

	valid := map[Channel][]string{
		ChannelOrders:        {order(1), order(2), order(3)},
		ChannelPositions:     {`{"positionId":"p1","userId":"u2","symbol":"AAPL","side":"LONG","quantity":1,"entryPrice":1}`},
		ChannelNotifications: {`{"id":"n1","userId":"u3"}`, `{"id":"n2","userId":"u3"}`},
	}
	ids := map[Channel][]engine.EntryID{}
	add := func(channel Channel, fieldValues ...string) engine.EntryID {
		return xadd(t, client, prefix+channel.String(), nil, fieldValues...)
	}
	// Malformed entries between the valid ones: dropped, counted, and the
	// reader goes on.
	ids[ChannelOrders] = append(ids[ChannelOrders], add(ChannelOrders, "data", valid[ChannelOrders][0]))
	add(ChannelOrders, "payload", order(9))
	add(ChannelOrders, "data", `{"userId":`)
	ids[ChannelOrders] = append(ids[ChannelOrders], add(ChannelOrders, "source", "risk", "data", valid[ChannelOrders][1]))
	add(ChannelOrders, "data", order(8), "data", order(7))
	add(ChannelOrders, "data", `{"orderId":"o6"}`)
	add(ChannelOrders, "data", `{"userId":6}`)
	ids[ChannelOrders] = append(ids[ChannelOrders], add(ChannelOrders, "data", valid[ChannelOrders][2]))
	ids[ChannelPositions] = append(ids[ChannelPositions], add(ChannelPositions, "data", valid[ChannelPositions][0]))
	add(ChannelNotifications, "data", `[{"userId":"u3"}]`)
	for _, message := range valid[ChannelNotifications] {
		ids[ChannelNotifications] = append(ids[ChannelNotifications], add(ChannelNotifications, "data", message))
	}
	// Ticks stay on Pub/Sub.
	do(t, client, client.B().Publish().Channel(prefix+"market:ticks").Message(`{"symbol":"BTCUSD","price":1}`).Build())

	calls := rec.waitFor(t, 7, 5*time.Second)
	byChannel := map[engine.Stream][]call{}
	ticks := 0
	for _, c := range calls {
		if c.kind == "tick" {
			ticks++
			continue
		}
		byChannel[c.stream] = append(byChannel[c.stream], c)
	}
	if ticks != 1 {
		t.Errorf("ticks = %d; want 1 from Pub/Sub", ticks)
	}
	for _, channel := range []Channel{ChannelOrders, ChannelPositions, ChannelNotifications} {
		wantEntries(t, byChannel[channel.stream()], channel.stream(), valid[channel], ids[channel])
	}
	rejects := []struct {
		channel Channel
		reason  Reason
		want    uint64
	}{
		{ChannelOrders, ReasonMissingData, 2},
		{ChannelOrders, ReasonInvalidJSON, 1},
		{ChannelOrders, ReasonMissingUser, 1},
		{ChannelOrders, ReasonInvalidUser, 1},
		{ChannelNotifications, ReasonNotObject, 1},
	}
	for _, r := range rejects {
		if got := router.Rejects(r.channel, r.reason); got != r.want {
			t.Errorf("Rejects(%v, %v) = %d; want %d", r.channel, r.reason, got, r.want)
		}
	}
	stats := source.Stats()
	if stats.StreamEntries[ChannelOrders] != 8 || stats.StreamEntries[ChannelPositions] != 1 || stats.StreamEntries[ChannelNotifications] != 3 {
		t.Errorf("Stats().StreamEntries = %v; want 8, 1, 3", stats.StreamEntries)
	}
	if stats.UserStreams != Streams || !stats.Subscribed || stats.Received != 1 {
		t.Errorf("Stats() = %+v; want streams, subscribed, 1 Pub/Sub message", stats)
	}
	if open := router.OpenPositions("u2"); len(open) != 1 {
		t.Errorf("OpenPositions(u2) = %q; want the streamed position", open)
	}
}

func TestStreamsBackfill(t *testing.T) {
	const window = time.Minute
	url := redistest.URL(t)
	prefix := testPrefix(t)
	client := redistest.Client(t, url)
	now := time.Now().UnixMilli()
	at := func(millis int64) []string { return []string{strconv.FormatInt(millis, 10) + "-0"} }

	orders := prefix + "order:updates"
	xadd(t, client, orders, at(now-2*window.Milliseconds()), "data", order(1)) // before the window
	var ids []engine.EntryID
	ids = append(ids, xadd(t, client, orders, at(now-window.Milliseconds()/2), "data", order(2)))
	ids = append(ids, xadd(t, client, orders, nil, "data", order(3)))

	// Trimming cut into the window: history starts after the last entry
	// deleted, not at the window's start.
	positions := prefix + "position:updates"
	var trimmed, kept []engine.EntryID
	for n := range 4 {
		message := `{"positionId":"p` + strconv.Itoa(n) + `","userId":"u2","quantity":0}`
		id := xadd(t, client, positions, []string{"MAXLEN", "2", strconv.FormatInt(now-window.Milliseconds()/4, 10) + "-" + strconv.Itoa(n)}, "data", message)
		if n < 2 {
			trimmed = append(trimmed, id)
		} else {
			kept = append(kept, id)
		}
	}

	rec := newRecorder()
	router := NewRouter(rec, RouterOptions{Logger: quietLogger()})
	options := streamsOptions(url, prefix, router)
	options.RecoveryWindow = window
	started := time.Now()
	source := runRedis(t, options)
	waitReady(t, source, true, 5*time.Second)
	// Ready only once the backfill is handed over: no waiting here.
	calls := rec.snapshot()

	history := rec.historyCalls()
	var ordersFrom engine.EntryID
	for _, c := range history {
		if c.stream == engine.StreamOrders {
			ordersFrom = c.id
		}
	}
	earliest, latest := started.Add(-window).UnixMilli()-1, time.Now().Add(-window).UnixMilli()
	if int64(ordersFrom.Millis) < earliest || int64(ordersFrom.Millis) > latest || ordersFrom.Seq != 0 {
		t.Errorf("HistoryFrom(orders) = %v; want the window start, %d to %d", ordersFrom, earliest, latest)
	}
	wantHistory(t, rec, engine.StreamOrders, ordersFrom)
	wantHistory(t, rec, engine.StreamPositions, trimmed[1])

	var orderCalls, positionCalls []call
	for _, c := range calls {
		switch c.stream {
		case engine.StreamOrders:
			orderCalls = append(orderCalls, c)
		case engine.StreamPositions:
			positionCalls = append(positionCalls, c)
		}
	}
	wantEntries(t, orderCalls, engine.StreamOrders, []string{order(2), order(3)}, ids)
	if len(positionCalls) != 2 || positionCalls[0].id != kept[0] || positionCalls[1].id != kept[1] {
		t.Fatalf("position entries = %+v; want %v", positionCalls, kept)
	}
}

// TestStreamsResume cuts the gateway off Redis twice: CLIENT KILL, after
// which it reconnects at once, and a disabled ACL user, which keeps it out
// long enough to see Ready false. Entries added meanwhile arrive exactly
// once, in order, and history is never restarted.
func TestStreamsResume(t *testing.T) {
	server, admin, setUser, key, rec, source := streamsBehindACL(t, "order:updates")

	var messages []string
	var ids []engine.EntryID
	add := func(n int) {
		messages = append(messages, order(n))
		ids = append(ids, xadd(t, admin, key, nil, "data", order(n)))
	}
	add(1)
	rec.waitFor(t, 1, 5*time.Second)

	// Kills every client connection but the one it is sent on, admin's
	// too: a new one takes over.
	do(t, admin, admin.B().ClientKill().TypeNormal().Build())
	admin.Close()
	admin = redistest.Client(t, server.URL())
	for n := 2; n <= 6; n++ {
		add(n)
	}
	wantEntries(t, rec.waitFor(t, len(messages), 5*time.Second), engine.StreamOrders, messages, ids)
	if source.downs.Load() == 0 {
		t.Fatal("no stream was marked down by CLIENT KILL")
	}

	setUser(admin, "off")
	do(t, admin, admin.B().ClientKill().User("gateway").Build())
	waitReady(t, source, false, 5*time.Second)
	for n := 7; n <= 12; n++ {
		add(n)
	}
	if got := len(rec.snapshot()); got != 6 {
		t.Fatalf("%d calls while cut off; want the 6 before", got)
	}
	setUser(admin, "on")
	waitReady(t, source, true, 5*time.Second)
	wantEntries(t, rec.snapshot(), engine.StreamOrders, messages, ids)
	time.Sleep(100 * time.Millisecond) // nothing more comes
	wantEntries(t, rec.snapshot(), engine.StreamOrders, messages, ids)
	wantHistory(t, rec, engine.StreamOrders, engine.EntryID{})
	if stats := source.Stats(); stats.Outages < 1 || stats.StreamGaps[ChannelOrders] != 0 {
		t.Errorf("Stats() = %+v; want an outage and no gap", stats)
	}
}

func TestStreamsResumeAfterRedisRestart(t *testing.T) {
	server := redistest.Start(t, redistest.WithArgs("--appendonly", "yes", "--appendfsync", "always"))
	prefix := testPrefix(t)
	key := prefix + "notifications"
	rec := newRecorder()
	router := NewRouter(rec, RouterOptions{Logger: quietLogger()})
	source := runRedis(t, streamsOptions(server.URL(), prefix, router))
	waitReady(t, source, true, 5*time.Second)

	var messages []string
	var ids []engine.EntryID
	add := func(n int) {
		client := redistest.Client(t, server.URL())
		message := `{"id":"n` + strconv.Itoa(n) + `","userId":"u1"}`
		messages = append(messages, message)
		ids = append(ids, xadd(t, client, key, nil, "data", message))
		client.Close()
	}
	for n := 1; n <= 3; n++ {
		add(n)
	}
	rec.waitFor(t, 3, 5*time.Second)

	server.Stop()
	waitReady(t, source, false, 5*time.Second)
	server.Start()
	// Added while the gateway is still reconnecting, or just after.
	for n := 4; n <= 8; n++ {
		add(n)
	}
	waitReady(t, source, true, 5*time.Second)
	wantEntries(t, rec.waitFor(t, len(messages), 5*time.Second), engine.StreamNotifications, messages, ids)
	time.Sleep(100 * time.Millisecond)
	wantEntries(t, rec.snapshot(), engine.StreamNotifications, messages, ids)
	wantHistory(t, rec, engine.StreamNotifications, engine.EntryID{})
}

// TestStreamsTrimmedGap: entries trimmed while the gateway was away are
// reported as a gap; the ones still held arrive.
func TestStreamsTrimmedGap(t *testing.T) {
	_, admin, setUser, key, rec, source := streamsBehindACL(t, "position:updates")

	position := func(n int) string {
		return `{"positionId":"p` + strconv.Itoa(n) + `","userId":"u1","symbol":"AAPL","side":"LONG","quantity":1,"entryPrice":1}`
	}
	exactly5 := []string{"MAXLEN", "5", "*"}
	var messages []string
	var ids []engine.EntryID
	for n := 1; n <= 2; n++ {
		messages = append(messages, position(n))
		ids = append(ids, xadd(t, admin, key, exactly5, "data", position(n)))
	}
	rec.waitFor(t, 2, 5*time.Second)

	setUser(admin, "off")
	do(t, admin, admin.B().ClientKill().User("gateway").Build())
	waitReady(t, source, false, 5*time.Second)
	var missed []engine.EntryID
	for n := 3; n <= 12; n++ {
		id := xadd(t, admin, key, exactly5, "data", position(n))
		if n <= 7 {
			missed = append(missed, id)
			continue
		}
		messages = append(messages, position(n))
		ids = append(ids, id)
	}
	setUser(admin, "on")
	waitReady(t, source, true, 5*time.Second)
	wantEntries(t, rec.snapshot(), engine.StreamPositions, messages, ids)

	history := rec.historyCalls()
	var gaps []engine.EntryID
	for _, c := range history {
		if c.stream == engine.StreamPositions && c.id != (engine.EntryID{}) {
			gaps = append(gaps, c.id)
		}
	}
	lastMissed := missed[len(missed)-1]
	if len(gaps) != 1 || entryBefore(gaps[0], lastMissed) || !entryBefore(gaps[0], ids[2]) {
		t.Fatalf("gap HistoryFrom calls = %v; want one from %v up to before %v", gaps, lastMissed, ids[2])
	}
	if got := source.Stats().StreamGaps[ChannelPositions]; got != 1 {
		t.Errorf("Stats().StreamGaps[positions] = %d; want 1", got)
	}
}

// A stream deleted and written anew may have lost entries nobody can
// count: history restarts just before the first new entry.
func TestStreamsKeyDeleted(t *testing.T) {
	url := redistest.URL(t)
	prefix := testPrefix(t)
	key := prefix + "notifications"
	client := redistest.Client(t, url)
	rec := newRecorder()
	router := NewRouter(rec, RouterOptions{Logger: quietLogger()})
	options := streamsOptions(url, prefix, router)
	logs := &messageLog{}
	options.Logger = slog.New(logs)
	source := runRedis(t, options)
	waitReady(t, source, true, 5*time.Second)

	notification := func(n int) string { return `{"id":"n` + strconv.Itoa(n) + `","userId":"u1"}` }
	ids := []engine.EntryID{xadd(t, client, key, nil, "data", notification(1))}
	rec.waitFor(t, 1, 5*time.Second)
	do(t, client, client.B().Del().Key(key).Build())
	deadline := time.Now().Add(5 * time.Second)
	for logs.count("WARN ingest: redis stream disappeared, entries may be lost") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the reader never saw the stream gone")
		}
		time.Sleep(5 * time.Millisecond)
	}
	ids = append(ids, xadd(t, client, key, nil, "data", notification(2)), xadd(t, client, key, nil, "data", notification(3)))
	wantEntries(t, rec.waitFor(t, 3, 5*time.Second), engine.StreamNotifications, []string{notification(1), notification(2), notification(3)}, ids)
	wantHistory(t, rec, engine.StreamNotifications, engine.EntryID{}, entryBeforeOf(ids[1]))
	if got := source.Stats().StreamGaps[ChannelNotifications]; got != 1 {
		t.Errorf("Stats().StreamGaps[notifications] = %d; want 1", got)
	}
}

// A blocked XREAD does not hold up shutdown.
func TestStreamsStopPromptly(t *testing.T) {
	url := redistest.URL(t)
	router := NewRouter(newRecorder(), RouterOptions{Logger: quietLogger()})
	source, err := NewRedis(RedisOptions{URL: url, Prefix: testPrefix(t), Router: router, UserStreams: Streams, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- source.Run(ctx) }()
	waitReady(t, source, true, 5*time.Second)
	time.Sleep(100 * time.Millisecond) // into the blocking XREADs
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run() = %v", err)
		}
	case <-time.After(DefaultStreamBlock / 2):
		t.Fatalf("Run still running %v after cancel; XREAD BLOCK is %v", DefaultStreamBlock/2, DefaultStreamBlock)
	}
}

func TestParseUserStreams(t *testing.T) {
	for _, mode := range []UserStreams{PubSub, Streams} {
		if parsed, ok := ParseUserStreams(mode.String()); !ok || parsed != mode {
			t.Errorf("ParseUserStreams(%q) = %v, %v", mode.String(), parsed, ok)
		}
	}
	for _, text := range []string{"", "Streams", "stream", "pub/sub"} {
		if _, ok := ParseUserStreams(text); ok {
			t.Errorf("ParseUserStreams(%q) accepted", text)
		}
	}
}

func TestEntryBeforeOf(t *testing.T) {
	cases := map[engine.EntryID]engine.EntryID{
		{Millis: 5, Seq: 3}: {Millis: 5, Seq: 2},
		{Millis: 5, Seq: 0}: {Millis: 4, Seq: 1<<64 - 1},
		{}:                  {},
	}
	for id, want := range cases {
		if got := entryBeforeOf(id); got != want {
			t.Errorf("entryBeforeOf(%v) = %v; want %v", id, got, want)
		}
	}
}

// streamsBehindACL runs a streams-mode source on a private Redis as the
// ACL user "gateway", which setUser (through a live admin client) turns
// "on" or "off" to shut the source out, and returns the stream key of channel (prefix included).
func streamsBehindACL(t *testing.T, channel string) (server *redistest.Server, admin rueidis.Client, setUser func(admin rueidis.Client, state string), key string, rec *recorder, source *Redis) {
	t.Helper()
	server = redistest.Start(t)
	admin = redistest.Client(t, server.URL())
	setUser = func(admin rueidis.Client, state string) {
		t.Helper()
		do(t, admin, admin.B().Arbitrary("ACL", "SETUSER").Args("gateway", state, ">secret", "~*", "&*", "+@all").Build())
	}
	setUser(admin, "on")
	prefix := testPrefix(t)
	key = prefix + channel
	rec = newRecorder()
	router := NewRouter(rec, RouterOptions{Logger: quietLogger()})
	url := fmt.Sprintf("redis://gateway:secret@127.0.0.1:%d", server.Port())
	source = runRedis(t, streamsOptions(url, prefix, router))
	waitReady(t, source, true, 5*time.Second)
	return server, admin, setUser, key, rec, source
}

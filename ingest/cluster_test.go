package ingest

import (
	"context"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/protrader5/ws-gateway/engine"
	"github.com/protrader5/ws-gateway/ingest/redistest"
	"github.com/redis/rueidis"
)

// clusterReady bounds the wait for a source on the cluster to be ready: it
// discovers the nodes before it subscribes and reads.
const clusterReady = 10 * time.Second

// slotRange is a range of hash slots and the master serving them.
type slotRange struct {
	first, last int64
	owner       string
}

// clusterLayout tells which master holds a key, as the cluster itself says.
type clusterLayout struct {
	client rueidis.Client
	ranges []slotRange
}

// newClusterLayout reads the slot map with CLUSTER SLOTS.
func newClusterLayout(t *testing.T, client rueidis.Client) *clusterLayout {
	t.Helper()
	entries, err := client.Do(context.Background(), client.B().ClusterSlots().Build()).ToArray()
	if err != nil {
		t.Fatalf("CLUSTER SLOTS: %v", err)
	}
	layout := &clusterLayout{client: client}
	for _, entry := range entries {
		fields, err := entry.ToArray()
		if err != nil || len(fields) < 3 {
			t.Fatalf("CLUSTER SLOTS entry %v: %v", entry, err)
		}
		first, _ := fields[0].AsInt64()
		last, _ := fields[1].AsInt64()
		master, err := fields[2].ToArray()
		if err != nil || len(master) < 2 {
			t.Fatalf("CLUSTER SLOTS master %v: %v", fields[2], err)
		}
		host, _ := master[0].ToString()
		port, _ := master[1].AsInt64()
		layout.ranges = append(layout.ranges, slotRange{first, last, net.JoinHostPort(host, strconv.FormatInt(port, 10))})
	}
	return layout
}

// locate returns key's slot (CLUSTER KEYSLOT) and the address of its master.
func (l *clusterLayout) locate(t *testing.T, key string) (slot int64, owner string) {
	t.Helper()
	slot, err := l.client.Do(context.Background(), l.client.B().ClusterKeyslot().Key(key).Build()).AsInt64()
	if err != nil {
		t.Fatalf("CLUSTER KEYSLOT %s: %v", key, err)
	}
	for _, r := range l.ranges {
		if r.first <= slot && slot <= r.last {
			return slot, r.owner
		}
	}
	t.Fatalf("slot %d of %s has no master in %v", slot, key, l.ranges)
	return 0, ""
}

// owners returns the distinct masters.
func (l *clusterLayout) owners() []string {
	var owners []string
	for _, r := range l.ranges {
		if !slices.Contains(owners, r.owner) {
			owners = append(owners, r.owner)
		}
	}
	return owners
}

// spreadPrefix returns a prefix, base followed by a number, under which
// the names' keys are held by pairwise different masters: a key is then
// read from a node other than the one the source was given, and each on
// its own connection. It logs where each key lives.
func (l *clusterLayout) spreadPrefix(t *testing.T, base string, names ...string) string {
	t.Helper()
	for attempt := range 200 {
		prefix := base + strconv.Itoa(attempt) + ":"
		var owners []string
		for _, name := range names {
			_, owner := l.locate(t, prefix+name)
			if slices.Contains(owners, owner) {
				break
			}
			owners = append(owners, owner)
		}
		if len(owners) < len(names) {
			continue
		}
		for _, name := range names {
			slot, owner := l.locate(t, prefix+name)
			t.Logf("%s: slot %d on %s", prefix+name, slot, owner)
		}
		return prefix
	}
	t.Fatalf("no prefix under %q puts %v on different masters", base, names)
	return ""
}

// TestCluster runs the Redis parts of ingest against one real three-master
// Redis Cluster, each subtest under prefixes of its own.
func TestCluster(t *testing.T) {
	cluster := redistest.StartCluster(t)
	url := cluster.URL()
	client := redistest.Client(t, url)
	layout := newClusterLayout(t, client)
	if owners := layout.owners(); len(owners) != 3 {
		t.Fatalf("cluster masters = %v; want 3", owners)
	}
	t.Run("Streams", func(t *testing.T) { testClusterStreams(t, url, client, layout) })
	t.Run("PubSub", func(t *testing.T) { testClusterPubSub(t, url, client, layout) })
	t.Run("Snapshots", func(t *testing.T) { testClusterSnapshots(t, url, client, layout) })
	t.Run("Sessions", func(t *testing.T) { testClusterSessions(t, url, client, layout) })
}

// testClusterStreams: the three user streams, each on its own master, reach
// the engine once each, in order and with their entry IDs, and ticks
// published with SPUBLISH arrive through SSUBSCRIBE.
func testClusterStreams(t *testing.T, url string, client rueidis.Client, layout *clusterLayout) {
	userChannels := []Channel{ChannelOrders, ChannelPositions, ChannelNotifications}
	var names []string
	for _, channel := range userChannels {
		names = append(names, channel.String())
	}
	prefix := layout.spreadPrefix(t, testPrefix(t), names...)
	ticksKey := prefix + ChannelTicks.String()
	slot, owner := layout.locate(t, ticksKey)
	t.Logf("%s: slot %d on %s", ticksKey, slot, owner)

	rec := newRecorder()
	router := NewRouter(rec, RouterOptions{Logger: quietLogger()})
	options := streamsOptions(url, prefix, router)
	options.Sharded = true
	source := runRedis(t, options)
	waitReady(t, source, true, clusterReady)
	for _, channel := range userChannels {
		// No key existed: history starts at the beginning of each stream.
		wantHistory(t, rec, channel.stream(), engine.EntryID{})
	}

	const rounds = 4
	messages := map[Channel][]string{}
	ids := map[Channel][]engine.EntryID{}
	// Interleaved, so that the readers of the three nodes run side by side.
	for round := 1; round <= rounds; round++ {
		for _, channel := range userChannels {
			message := clusterUserMessage(channel, round)
			messages[channel] = append(messages[channel], message)
			ids[channel] = append(ids[channel], xadd(t, client, prefix+channel.String(), nil, "data", message))
		}
	}
	var ticks []string
	for n := 1; n <= 3; n++ {
		tick := `{"symbol":"BTCUSD","price":` + strconv.Itoa(n) + `}`
		ticks = append(ticks, tick)
		// SPUBLISH counts the subscribers of the shard that owns the channel.
		receivers, err := client.Do(context.Background(), client.B().Spublish().Channel(ticksKey).Message(tick).Build()).AsInt64()
		if err != nil || receivers != 1 {
			t.Fatalf("SPUBLISH %s reached %d subscribers (%v); want 1", ticksKey, receivers, err)
		}
	}

	want := rounds*len(userChannels) + len(ticks)
	rec.waitFor(t, want, 5*time.Second)
	// Every reader goes round at least once more: nothing is read twice.
	time.Sleep(2 * options.StreamBlock)
	calls := rec.snapshot()
	if len(calls) != want {
		t.Fatalf("got %d calls; want %d: %+v", len(calls), want, calls)
	}
	byStream := map[engine.Stream][]call{}
	var gotTicks []string
	for _, c := range calls {
		if c.kind == "tick" {
			gotTicks = append(gotTicks, c.message)
			continue
		}
		byStream[c.stream] = append(byStream[c.stream], c)
	}
	if !slices.Equal(gotTicks, ticks) {
		t.Errorf("ticks = %q; want %q", gotTicks, ticks)
	}
	for _, channel := range userChannels {
		wantEntries(t, byStream[channel.stream()], channel.stream(), messages[channel], ids[channel])
		// Still only the first HistoryFrom: no gap was seen.
		wantHistory(t, rec, channel.stream(), engine.EntryID{})
	}
	stats := source.Stats()
	for _, channel := range userChannels {
		if stats.StreamEntries[channel] != rounds || stats.StreamGaps[channel] != 0 {
			t.Errorf("Stats() entries %v, gaps %v on %v; want %d entries, no gap", stats.StreamEntries, stats.StreamGaps, channel, rounds)
		}
	}
	if stats.Received != uint64(len(ticks)) || !stats.Subscribed {
		t.Errorf("Stats() = %+v; want %d Pub/Sub messages, subscribed", stats, len(ticks))
	}
}

// clusterUserMessage is the message numbered n of a user channel; the
// position is on a symbol no tick is for, so that no P&L refresh joins in.
func clusterUserMessage(channel Channel, n int) string {
	number := strconv.Itoa(n)
	switch channel {
	case ChannelOrders:
		return `{"orderId":"o` + number + `","userId":"u1"}`
	case ChannelPositions:
		return `{"positionId":"p` + number + `","userId":"u2","symbol":"AAPL","side":"LONG","quantity":1,"entryPrice":1}`
	}
	return `{"id":"n` + number + `","userId":"u3"}`
}

// testClusterPubSub: in Pub/Sub mode all four channels arrive, by SUBSCRIBE
// (which a cluster broadcasts, whatever node each subscription is on) and
// by SSUBSCRIBE (each channel on the master of its slot).
func testClusterPubSub(t *testing.T, url string, client rueidis.Client, layout *clusterLayout) {
	for _, sharded := range []bool{false, true} {
		name := "subscribe"
		if sharded {
			name = "ssubscribe"
		}
		t.Run(name, func(t *testing.T) {
			var names []string
			for _, channel := range Channels[1:] {
				names = append(names, channel.String())
			}
			prefix := layout.spreadPrefix(t, testPrefix(t), names...)
			rec := newRecorder()
			router := NewRouter(rec, RouterOptions{Logger: quietLogger()})
			source := runRedis(t, RedisOptions{URL: url, Prefix: prefix, Router: router, Sharded: sharded, Logger: quietLogger()})
			waitReady(t, source, true, clusterReady)

			published := []struct {
				channel Channel
				message string
			}{
				{ChannelTicks, `{"symbol":"BTCUSD","price":1}`},
				{ChannelOrders, clusterUserMessage(ChannelOrders, 1)},
				{ChannelPositions, clusterUserMessage(ChannelPositions, 1)},
				{ChannelNotifications, clusterUserMessage(ChannelNotifications, 1)},
				{ChannelOrders, clusterUserMessage(ChannelOrders, 2)},
			}
			// A backend publishes over one connection. The cluster client
			// would send each keyless PUBLISH to any node, and two nodes'
			// broadcasts over the cluster bus need not arrive in the order
			// they were sent, so the unsharded case publishes through one
			// node; SPUBLISH goes to its slot's master either way.
			publisher := client
			if !sharded {
				option, err := rueidis.ParseURL(url)
				if err != nil {
					t.Fatal(err)
				}
				option.ForceSingleClient = true
				if publisher, err = rueidis.NewClient(option); err != nil {
					t.Fatal(err)
				}
				defer publisher.Close()
			}
			for _, p := range published {
				command := publisher.B().Publish().Channel(prefix + p.channel.String()).Message(p.message).Build()
				if sharded {
					command = client.B().Spublish().Channel(prefix + p.channel.String()).Message(p.message).Build()
				}
				// PUBLISH counts only the receiving node's subscribers, which
				// on a cluster may be none: only SPUBLISH's count is checked.
				receivers, err := publisher.Do(context.Background(), command).AsInt64()
				if err != nil || (sharded && receivers != 1) {
					t.Fatalf("publish on %v reached %d subscribers (%v)", p.channel, receivers, err)
				}
			}
			calls := rec.waitFor(t, len(published), 5*time.Second)
			time.Sleep(50 * time.Millisecond) // nothing arrives twice
			if calls = rec.snapshot(); len(calls) != len(published) {
				t.Fatalf("got %d calls; want %d: %+v", len(calls), len(published), calls)
			}
			var orders []string
			for _, c := range calls {
				if c.kind == "user" && c.stream == engine.StreamOrders {
					orders = append(orders, c.message)
				}
			}
			if want := []string{published[1].message, published[4].message}; !slices.Equal(orders, want) {
				t.Fatalf("orders = %q; want %q in order", orders, want)
			}
			if stats := source.Stats(); stats.Received != uint64(len(published)) {
				t.Fatalf("Stats().Received = %d; want %d", stats.Received, len(published))
			}
		})
	}
}

// testClusterSnapshots: snapshot reads go to the master of each key
// through the client-side cache, and a write on that master invalidates it.
func testClusterSnapshots(t *testing.T, url string, client rueidis.Client, layout *clusterLayout) {
	symbols := []string{"BTCUSD", "ETHUSD", "SOLUSD"}
	var names []string
	for _, symbol := range symbols {
		names = append(names, "market:last:"+symbol)
	}
	prefix := layout.spreadPrefix(t, testPrefix(t), names...)
	rec := newRecorder()
	router := NewRouter(rec, RouterOptions{Logger: quietLogger()})
	source := runRedis(t, RedisOptions{URL: url, Prefix: prefix, Router: router, Logger: quietLogger()})
	waitReady(t, source, true, clusterReady)
	waitFor(t, func() bool {
		_, err := source.cacheClient()
		return err == nil
	})
	if !source.Stats().CacheEnabled {
		t.Fatal("CacheEnabled = false on a Redis 7 cluster; want true")
	}

	tick := func(symbol string, price int) string {
		return `{"symbol":"` + symbol + `","price":` + strconv.Itoa(price) + `}`
	}
	for _, symbol := range symbols {
		do(t, client, client.B().Set().Key(prefix+"market:last:"+symbol).Value(tick(symbol, 1)).Build())
		waitTick(t, source, symbol, tick(symbol, 1))
	}
	hits := source.Stats().CacheHits
	for _, symbol := range symbols {
		waitTick(t, source, symbol, tick(symbol, 1))
	}
	if got := source.Stats().CacheHits - hits; got != uint64(len(symbols)) {
		t.Errorf("cache hits grew by %d on rereads; want %d", got, len(symbols))
	}
	for _, symbol := range symbols {
		do(t, client, client.B().Set().Key(prefix+"market:last:"+symbol).Value(tick(symbol, 2)).Build())
	}
	for _, symbol := range symbols {
		waitTick(t, source, symbol, tick(symbol, 2))
	}

	users := clusterSpreadIDs(t, layout, 3, "u", func(id string) string { return prefix + "positions:" + id })
	for _, user := range users {
		position := `{"positionId":"p1","userId":"` + user + `","symbol":"AAPL","side":"LONG","quantity":1,"entryPrice":1}`
		do(t, client, client.B().Hset().Key(prefix+"positions:"+user).FieldValue().FieldValue("p1", position).Build())
		if positions, err := source.Positions(user); err != nil || len(positions) != 1 || string(positions[0]) != position {
			t.Fatalf("Positions(%s) = %q, %v; want %s", user, positions, err, position)
		}
	}
}

// clusterSpreadIDs returns count ids, prefix followed by a number, whose
// keys (key(id)) are held by pairwise different masters, and logs where.
func clusterSpreadIDs(t *testing.T, layout *clusterLayout, count int, prefix string, key func(string) string) []string {
	t.Helper()
	var ids, owners []string
	for n := 0; len(ids) < count; n++ {
		if n == 1000 {
			t.Fatalf("no %d ids with keys on different masters", count)
		}
		id := prefix + strconv.Itoa(n)
		slot, owner := layout.locate(t, key(id))
		if slices.Contains(owners, owner) {
			continue
		}
		t.Logf("%s: slot %d on %s", key(id), slot, owner)
		ids, owners = append(ids, id), append(owners, owner)
	}
	return ids
}

// testClusterSessions: sessions whose keys are on different masters are
// saved, read, touched and deleted by different gateways, and a claim
// reaches the other gateway whichever node each of them talks to.
func testClusterSessions(t *testing.T, url string, client rueidis.Client, layout *clusterLayout) {
	first, second, released := sessionStoresAt(t, url)
	pids := clusterSpreadIDs(t, layout, 3, "pid", first.key)
	// Plain Pub/Sub: the slot of the channel's name plays no part.
	slot, owner := layout.locate(t, first.claims())
	t.Logf("%s: channel, broadcast to every node (its name's slot %d is on %s)", first.claims(), slot, owner)

	ctx := context.Background()
	for index, pid := range pids {
		session := engine.Session{PID: pid, SocketID: "s" + strconv.Itoa(index), UserID: "user" + strconv.Itoa(index), Symbols: []string{"BTCUSD"}, Streams: 1 << engine.StreamOrders}
		if err := first.Save(session, 5*time.Second); err != nil {
			t.Fatalf("Save(%s): %v", pid, err)
		}
		loaded, found, err := second.Load(pid)
		if err != nil || !found || loaded.UserID != session.UserID || loaded.SocketID != session.SocketID || !slices.Equal(loaded.Symbols, session.Symbols) {
			t.Fatalf("Load(%s) = %+v, %v, %v; want %+v", pid, loaded, found, err, session)
		}
	}
	// One pipeline whose keys are on three masters, and one key that does
	// not exist (PEXPIRE answers 0, not an error).
	if err := first.Touch(append(slices.Clone(pids), "absent"), time.Minute); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	for _, pid := range pids {
		ttl, err := client.Do(ctx, client.B().Pttl().Key(first.key(pid)).Build()).AsInt64()
		if err != nil || ttl <= (5*time.Second).Milliseconds() {
			t.Fatalf("PTTL %s after Touch = %d, %v; want over 5s", first.key(pid), ttl, err)
		}
	}
	for _, pid := range pids {
		if err := second.Delete(pid); err != nil {
			t.Fatalf("Delete(%s): %v", pid, err)
		}
		if _, found, err := first.Load(pid); found || err != nil {
			t.Fatalf("Load(%s) after Delete = %v, %v; want not found", pid, found, err)
		}
	}

	// A claim made through one store reaches the other's release callback.
	waitFor(t, func() bool {
		_ = second.Claim("claimed")
		return slices.Contains(released(first), "claimed")
	})
	// Published on each master in turn: each reaches the listener, which is
	// subscribed on one of them only, since a cluster broadcasts PUBLISH.
	nodes := client.Nodes()
	for _, address := range layout.owners() {
		node, ok := nodes[address]
		if !ok {
			t.Fatalf("client has no connection to %s; it knows %d nodes", address, len(nodes))
		}
		pid := "claimed-on-" + address
		waitFor(t, func() bool {
			do(t, node, node.B().Publish().Channel(first.claims()).Message("another-node "+pid).Build())
			return slices.Contains(released(first), pid) && slices.Contains(released(second), pid)
		})
	}
	if got := released(second); slices.Contains(got, "claimed") {
		t.Fatalf("the claiming gateway released its own claim: %v", got)
	}
}

// TestClusterStreamsNodeRestart restarts the master holding
// "order:updates", the one whose address the source was given (its data
// kept in its append-only file): the reader gets CLUSTERDOWN and refused
// connections, retries, and resumes where it was, so every entry arrives
// once, in order, with no gap.
func TestClusterStreamsNodeRestart(t *testing.T) {
	cluster := redistest.StartCluster(t, redistest.WithArgs("--appendonly", "yes", "--appendfsync", "always"))
	node := cluster.Nodes[0]
	url := node.URL()
	client := redistest.Client(t, url)
	layout := newClusterLayout(t, client)
	base, prefix, key := testPrefix(t), "", ""
	for attempt := 0; prefix == ""; attempt++ {
		if attempt == 1000 {
			t.Fatalf("no prefix under %q puts order:updates on %s", base, url)
		}
		candidate := base + strconv.Itoa(attempt) + ":"
		slot, owner := layout.locate(t, candidate+ChannelOrders.String())
		if owner == net.JoinHostPort("127.0.0.1", strconv.Itoa(node.Port())) {
			prefix, key = candidate, candidate+ChannelOrders.String()
			t.Logf("%s: slot %d on %s", key, slot, owner)
		}
	}

	rec := newRecorder()
	router := NewRouter(rec, RouterOptions{Logger: quietLogger()})
	options := streamsOptions(url, prefix, router)
	options.Sharded = true
	source := runRedis(t, options)
	waitReady(t, source, true, clusterReady)

	var messages []string
	var ids []engine.EntryID
	add := func(n int) {
		message := clusterUserMessage(ChannelOrders, n)
		messages = append(messages, message)
		ids = append(ids, xadd(t, client, key, nil, "data", message))
	}
	for n := 1; n <= 3; n++ {
		add(n)
	}
	rec.waitFor(t, len(messages), 5*time.Second)

	node.Stop()
	waitReady(t, source, false, 5*time.Second)
	node.Start()
	// XADD is not retried by the client on CLUSTERDOWN: write once the
	// restarted master takes writes again.
	cluster.WaitReady(t)
	for n := 4; n <= 8; n++ {
		add(n)
	}
	waitReady(t, source, true, clusterReady)
	wantEntries(t, rec.waitFor(t, len(messages), 5*time.Second), engine.StreamOrders, messages, ids)
	time.Sleep(2 * options.StreamBlock)
	wantEntries(t, rec.snapshot(), engine.StreamOrders, messages, ids)
	wantHistory(t, rec, engine.StreamOrders, engine.EntryID{})
	if stats := source.Stats(); stats.Outages < 1 || stats.StreamGaps[ChannelOrders] != 0 {
		t.Errorf("Stats() = %+v; want an outage and no gap", stats)
	}
}

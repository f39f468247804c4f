package engine

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// recoveryConfig is a config with recovery on and a generous window.
func recoveryConfig() Config { return Config{RecoveryWindow: time.Minute} }

// connected is the answer to a CONNECT with recovery on.
type connected struct{ SID, PID string }

// connectWith sends a CONNECT with auth and returns the packets up to and
// including the CONNECT answer, which it parses.
func connectWith(t *testing.T, client *testClient, auth map[string]string) (before []string, answer connected) {
	t.Helper()
	data, _ := json.Marshal(auth)
	client.send("40" + string(data))
	for {
		packet := client.next()
		if !strings.HasPrefix(packet, "40") {
			before = append(before, packet)
			continue
		}
		var reply struct{ SID, PID string }
		if err := json.Unmarshal([]byte(packet[2:]), &reply); err != nil || reply.SID == "" || reply.PID == "" {
			t.Fatalf("CONNECT answer %q: want sid and pid", packet)
		}
		return before, connected{reply.SID, reply.PID}
	}
}

// order publishes order n of user.
func order(e *Engine, user string, n int) {
	e.PublishUser(StreamOrders, user, []byte(fmt.Sprintf(`{"userId":%q,"orderId":"o%d"}`, user, n)))
}

// orderOffset parses an order:update packet: the order number and offset.
func orderOffset(t *testing.T, packet string) (int, string) {
	t.Helper()
	var args []json.RawMessage
	if !strings.HasPrefix(packet, "42") || json.Unmarshal([]byte(packet[2:]), &args) != nil || len(args) != 3 || string(args[0]) != `"order:update"` {
		t.Fatalf("packet %q is not an order:update with an offset", packet)
	}
	var body struct{ OrderID string }
	var offset string
	_ = json.Unmarshal(args[1], &body)
	if err := json.Unmarshal(args[2], &offset); err != nil || offset == "" {
		t.Fatalf("packet %q: offset %s", packet, args[2])
	}
	var n int
	fmt.Sscanf(body.OrderID, "o%d", &n)
	return n, offset
}

// orderNumbers returns the order numbers of order:update packets.
func orderNumbers(t *testing.T, packets []string) []int {
	t.Helper()
	var numbers []int
	for _, packet := range packets {
		n, _ := orderOffset(t, packet)
		numbers = append(numbers, n)
	}
	return numbers
}

// subscribedClient connects user with recovery and follows orders and BTCUSD.
func subscribedClient(t *testing.T, e *Engine, user string) (*testClient, connected) {
	t.Helper()
	client := dialClient(t, e, nil)
	_, answer := connectWith(t, client, map[string]string{"token": testToken(t, user, time.Hour)})
	if ack := client.emitAck(1, "subscribe:orders", ""); ack != `{"ok":true}` {
		t.Fatalf("subscribe:orders = %s", ack)
	}
	if ack := client.emitAck(2, "subscribe:market", `{"symbols":["BTCUSD"]}`); ack != `{"ok":true,"symbols":["BTCUSD"]}` {
		t.Fatalf("subscribe:market = %s", ack)
	}
	return client, answer
}

// receiveOrders reads until n order:updates arrived; it returns their
// numbers and the last offset.
func receiveOrders(t *testing.T, client *testClient, n int) ([]int, string) {
	t.Helper()
	var numbers []int
	var offset string
	for len(numbers) < n {
		packet := client.next()
		if strings.HasPrefix(packet, `42["order:update"`) {
			number, packetOffset := orderOffset(t, packet)
			numbers = append(numbers, number)
			offset = packetOffset
		}
	}
	return numbers, offset
}

func TestRecoveryReplaysWhatWasMissed(t *testing.T) {
	e := startEngine(t, recoveryConfig())
	client, first := subscribedClient(t, e, "alice")
	for n := 1; n <= 3; n++ {
		order(e, "alice", n)
	}
	got, offset := receiveOrders(t, client, 3)
	if fmt.Sprint(got) != "[1 2 3]" {
		t.Fatalf("orders = %v", got)
	}
	client.Close()
	waitFor(t, "the socket to close", func() bool { return e.Stats().Sockets == 0 })
	for n := 4; n <= 6; n++ {
		order(e, "alice", n)
	}
	order(e, "bob", 1) // another user's: never replayed to alice
	e.PublishTick("BTCUSD", []byte(`{"symbol":"BTCUSD","price":50000}`))
	waitFor(t, "the shard to record the orders", func() bool { return historyLen(e) == 7 })

	again := dialClient(t, e, nil)
	before, answer := connectWith(t, again, map[string]string{"token": testToken(t, "alice", time.Hour), "pid": first.PID, "offset": offset})
	if answer != first {
		t.Fatalf("recovered as %+v; want %+v", answer, first)
	}
	replayed := orderNumbers(t, before)
	if fmt.Sprint(replayed) != "[4 5 6]" {
		t.Fatalf("replayed before the CONNECT answer: %v; want [4 5 6]", replayed)
	}
	// Then the latest tick of its symbol, without subscribing again.
	if payload := again.expectEvent("market:data"); !strings.Contains(payload, `"price":50000`) {
		t.Fatalf("tick after recovery = %s", payload)
	}
	order(e, "alice", 7)
	if live, _ := receiveOrders(t, again, 1); live[0] != 7 {
		t.Fatalf("live order after recovery = %v", live)
	}
	if result := recoveries(e, recoveryRecovered); result != 1 {
		t.Fatalf("recovered = %d", result)
	}
	if replayedCount := e.metrics.replayed.Load(); replayedCount != 3 {
		t.Fatalf("replayed messages = %d; want 3", replayedCount)
	}
}

func historyLen(e *Engine) int {
	total := 0
	for _, s := range e.shards {
		s.mu.Lock()
		total += s.history.entries
		s.mu.Unlock()
	}
	return total
}

func historyBytes(e *Engine) int {
	total := 0
	for _, s := range e.shards {
		s.mu.Lock()
		total += s.history.bytes
		s.mu.Unlock()
	}
	return total
}

func recoveries(e *Engine, result string) uint64 {
	e.metrics.labelledMu.Lock()
	defer e.metrics.labelledMu.Unlock()
	if counter := e.metrics.labelled[[2]string{"recoveries", result}]; counter != nil {
		return counter.Load()
	}
	return 0
}

func TestRecoveryWithoutAnyOffset(t *testing.T) {
	e := startEngine(t, recoveryConfig())
	client, first := subscribedClient(t, e, "quiet")
	client.Close()
	waitFor(t, "the socket to close", func() bool { return e.Stats().Sockets == 0 })
	order(e, "quiet", 1)
	waitFor(t, "the shard to record the order", func() bool { return historyLen(e) == 1 })
	again := dialClient(t, e, nil)
	// The stock client sends no offset when it never got a user message.
	before, answer := connectWith(t, again, map[string]string{"token": testToken(t, "quiet", time.Hour), "pid": first.PID})
	if answer != first || len(before) != 1 {
		t.Fatalf("answer %+v after %q; want %+v after order 1", answer, before, first)
	}
}

func TestRecoveryRefusals(t *testing.T) {
	t.Run("another user's pid", func(t *testing.T) {
		e := startEngine(t, recoveryConfig())
		victim, victimSession := subscribedClient(t, e, "victim")
		order(e, "victim", 1)
		_, offset := receiveOrders(t, victim, 1)
		thief := dialClient(t, e, nil)
		before, answer := connectWith(t, thief, map[string]string{"token": testToken(t, "thief", time.Hour), "pid": victimSession.PID, "offset": offset})
		if len(before) != 0 || answer.PID == victimSession.PID || answer.SID == victimSession.SID {
			t.Fatalf("thief got %q and %+v", before, answer)
		}
		if ack := thief.emitAck(1, "subscribe:orders", ""); ack != `{"ok":true}` {
			t.Fatal(ack)
		}
		order(e, "victim", 2)
		// The victim is still connected and gets its order; the thief
		// gets nothing of it.
		if got, _ := receiveOrders(t, victim, 1); got[0] != 2 {
			t.Fatalf("victim got %v", got)
		}
		if packet, err := thief.Next(200 * time.Millisecond); err == nil {
			t.Fatalf("thief received %q", packet)
		}
		if recoveries(e, recoveryForeignUser) != 1 {
			t.Fatal("foreign_user not counted")
		}
	})
	t.Run("window exceeded", func(t *testing.T) {
		e := startEngine(t, Config{RecoveryWindow: 300 * time.Millisecond})
		client, first := subscribedClient(t, e, "late")
		client.Close()
		waitFor(t, "the socket to close", func() bool { return e.Stats().Sockets == 0 })
		time.Sleep(400 * time.Millisecond) // past the window
		again := dialClient(t, e, nil)
		_, answer := connectWith(t, again, map[string]string{"token": testToken(t, "late", time.Hour), "pid": first.PID})
		if answer.PID == first.PID {
			t.Fatal("recovered a session older than the window")
		}
		if recoveries(e, recoveryExpired)+recoveries(e, recoveryUnknown) != 1 {
			t.Fatal("expiry not counted")
		}
	})
	t.Run("more missed than kept", func(t *testing.T) {
		e := startEngine(t, Config{RecoveryWindow: time.Minute, RecoveryMaxEvents: 3})
		client, first := subscribedClient(t, e, "busy")
		order(e, "busy", 1)
		_, offset := receiveOrders(t, client, 1)
		client.Close()
		waitFor(t, "the socket to close", func() bool { return e.Stats().Sockets == 0 })
		for n := 2; n <= 6; n++ {
			order(e, "busy", n)
		}
		waitFor(t, "the shard to record the orders", func() bool { return e.metrics.userMessages[StreamOrders].Load() == 6 && historyLen(e) == 3 })
		again := dialClient(t, e, nil)
		before, answer := connectWith(t, again, map[string]string{"token": testToken(t, "busy", time.Hour), "pid": first.PID, "offset": offset})
		if answer.PID == first.PID || len(before) != 0 {
			t.Fatalf("a partial replay was presented as complete: %q %+v", before, answer)
		}
		if recoveries(e, recoveryOffsetTrimmed) != 1 {
			t.Fatal("offset_trimmed not counted")
		}
	})
	t.Run("more bytes missed than kept", func(t *testing.T) {
		// One shard, so that the node's bound is the shard's.
		e := startEngine(t, Config{RecoveryWindow: time.Minute, RecoveryMaxBytes: 4096, Shards: 1})
		client, first := subscribedClient(t, e, "bulky")
		order(e, "bulky", 1)
		_, offset := receiveOrders(t, client, 1)
		client.Close()
		waitFor(t, "the socket to close", func() bool { return e.Stats().Sockets == 0 })
		padding := strings.Repeat("x", 1000)
		for n := 2; n <= 9; n++ {
			e.PublishUser(StreamOrders, "bulky", []byte(fmt.Sprintf(`{"userId":"bulky","orderId":"o%d","pad":%q}`, n, padding)))
		}
		waitFor(t, "the shard to record the orders", func() bool {
			return e.metrics.userMessages[StreamOrders].Load() == 9 && historyBytes(e) <= 4096 && historyLen(e) > 0
		})
		again := dialClient(t, e, nil)
		before, answer := connectWith(t, again, map[string]string{"token": testToken(t, "bulky", time.Hour), "pid": first.PID, "offset": offset})
		if answer.PID == first.PID || len(before) != 0 {
			t.Fatalf("a partial replay was presented as complete: %d packets, %+v", len(before), answer)
		}
	})
	t.Run("a gap in the source", func(t *testing.T) {
		e := startEngine(t, recoveryConfig())
		client, first := subscribedClient(t, e, "gap")
		order(e, "gap", 1)
		_, offset := receiveOrders(t, client, 1)
		client.Close()
		waitFor(t, "the socket to close", func() bool { return e.Stats().Sockets == 0 })
		e.HistoryFrom(StreamOrders, EntryID{}) // a resubscription: messages were lost
		order(e, "gap", 2)
		again := dialClient(t, e, nil)
		_, answer := connectWith(t, again, map[string]string{"token": testToken(t, "gap", time.Hour), "pid": first.PID, "offset": offset})
		if answer.PID == first.PID {
			t.Fatal("recovered across a gap")
		}
	})
	t.Run("left on purpose", func(t *testing.T) {
		e := startEngine(t, recoveryConfig())
		client, first := subscribedClient(t, e, "leaver")
		client.send("41")
		waitFor(t, "the socket to leave", func() bool { return e.Stats().Sockets == 0 })
		again := dialClient(t, e, nil)
		_, answer := connectWith(t, again, map[string]string{"token": testToken(t, "leaver", time.Hour), "pid": first.PID})
		if answer.PID == first.PID {
			t.Fatal("a session its client left was recovered")
		}
	})
	t.Run("another node's offset", func(t *testing.T) {
		e := startEngine(t, recoveryConfig())
		client, first := subscribedClient(t, e, "wanderer")
		client.Close()
		waitFor(t, "the socket to close", func() bool { return e.Stats().Sockets == 0 })
		again := dialClient(t, e, nil)
		_, answer := connectWith(t, again, map[string]string{"token": testToken(t, "wanderer", time.Hour), "pid": first.PID, "offset": "zz.0-1.0-0.0-0"})
		if answer.PID == first.PID {
			t.Fatal("recovered from an offset of another epoch")
		}
	})
	t.Run("recovery off", func(t *testing.T) {
		e := startEngine(t, Config{})
		client := dialClient(t, e, nil)
		data, _ := json.Marshal(map[string]string{"token": testToken(t, "plain", time.Hour), "pid": "whatever"})
		client.send("40" + string(data))
		if answer := client.next(); !strings.HasPrefix(answer, `40{"sid":`) || strings.Contains(answer, "pid") {
			t.Fatalf("answer = %q", answer)
		}
		if recoveries(e, recoveryDisabled) != 1 {
			t.Fatal("disabled not counted")
		}
	})
}

func TestRecoveryTakesOverALiveSession(t *testing.T) {
	e := startEngine(t, recoveryConfig())
	old, first := subscribedClient(t, e, "twice")
	order(e, "twice", 1)
	_, offset := receiveOrders(t, old, 1)
	// The client gave up on old (half-open) and comes back on a new socket.
	// Order 2 reaches old first: its shard has recorded it then, so the
	// takeover replays it. Published but not yet recorded, it would go to
	// the new socket live, after the CONNECT answer, as it should, and the
	// test would be timing the shard (it failed that way once in CI).
	order(e, "twice", 2)
	if got, _ := receiveOrders(t, old, 1); got[0] != 2 {
		t.Fatalf("old socket got order %v; want 2", got)
	}
	fresh := dialClient(t, e, nil)
	before, answer := connectWith(t, fresh, map[string]string{"token": testToken(t, "twice", time.Hour), "pid": first.PID, "offset": offset})
	if answer != first || len(before) != 1 {
		t.Fatalf("takeover: %q %+v", before, answer)
	}
	if n, _ := orderOffset(t, before[0]); n != 2 {
		t.Fatalf("replayed order %d; want 2", n)
	}
	waitFor(t, "the old socket to be closed", func() bool { return e.Stats().Disconnects["session_taken_over"] == 1 })
	order(e, "twice", 3)
	if got, _ := receiveOrders(t, fresh, 1); got[0] != 3 {
		t.Fatalf("new socket got %v", got)
	}
	// The old socket got nothing after the takeover.
	_ = old.Conn().SetReadDeadline(time.Now().Add(2 * time.Second))
	for {
		frame, err := ws.ReadFrame(old.ReadWriter())
		if err != nil || frame.Header.OpCode == ws.OpClose {
			break
		}
		if strings.Contains(string(frame.Payload), `"orderId":"o3"`) {
			t.Fatal("the taken-over socket received a later order")
		}
	}
}

// TestPrivateStoreGetsTheSessionWhenTheSocketLeaves checks that the
// engine's own session store holds no copy of a connected socket's session
// (the socket answers for it) and gets it, subscriptions included, when the
// socket drops, so that the client recovers as before.
func TestPrivateStoreGetsTheSessionWhenTheSocketLeaves(t *testing.T) {
	e := startEngine(t, recoveryConfig())
	store := e.recovery.store.(*MemorySessions)
	client, first := subscribedClient(t, e, "leaver")
	if n := store.Len(); n != 0 {
		t.Fatalf("the private store holds %d sessions while their sockets are connected; want 0", n)
	}
	_ = client.Conn().Close()
	waitFor(t, "the session to be saved", func() bool { return store.Len() == 1 })
	session, ok, err := store.Load(first.PID)
	if err != nil || !ok || session.UserID != "leaver" || len(session.Symbols) != 1 || session.Symbols[0] != "BTCUSD" {
		t.Fatalf("saved session %+v, %v, %v; want leaver's, subscribed to BTCUSD", session, ok, err)
	}
	order(e, "leaver", 1)
	waitFor(t, "the shard to record the order", func() bool { return historyLen(e) == 1 })
	back := dialClient(t, e, nil)
	before, answer := connectWith(t, back, map[string]string{"token": testToken(t, "leaver", time.Hour), "pid": first.PID})
	if answer != first || len(before) != 1 {
		t.Fatalf("recovery: %q %+v", before, answer)
	}
}

// TestRecoveryAcrossNodes runs two engines on offsets of stream entry IDs
// and one session store: a client of the first recovers on the second.
func TestRecoveryAcrossNodes(t *testing.T) {
	store := NewMemorySessions()
	config := Config{RecoveryWindow: time.Minute, StreamOffsets: true, Sessions: store}
	first, second := startEngine(t, config), startEngine(t, config)
	entry := func(n int) EntryID { return EntryID{Millis: 1_700_000_000_000 + uint64(n)} }
	for _, e := range []*Engine{first, second} {
		for stream := StreamOrders; stream < streamCount; stream++ {
			e.HistoryFrom(stream, EntryID{Millis: 1_600_000_000_000})
		}
	}
	publish := func(e *Engine, n int) {
		e.PublishUserEntry(StreamOrders, "nomad", []byte(fmt.Sprintf(`{"userId":"nomad","orderId":"o%d"}`, n)), entry(n))
	}
	client, session := subscribedClient(t, first, "nomad")
	for n := 1; n <= 2; n++ {
		publish(first, n)
		publish(second, n)
	}
	_, offset := receiveOrders(t, client, 2)
	publish(first, 2) // read again after a reconnect: dropped
	client.Close()
	waitFor(t, "the socket to close", func() bool { return first.Stats().Sockets == 0 })
	for n := 3; n <= 4; n++ {
		publish(first, n)
		publish(second, n)
	}
	waitFor(t, "the second node to record", func() bool { return historyLen(second) == 4 })
	elsewhere := dialClient(t, second, nil)
	before, answer := connectWith(t, elsewhere, map[string]string{"token": testToken(t, "nomad", time.Hour), "pid": session.PID, "offset": offset})
	if answer != session {
		t.Fatalf("recovered on the second node as %+v; want %+v", answer, session)
	}
	replayed := orderNumbers(t, before)
	if fmt.Sprint(replayed) != "[3 4]" {
		t.Fatalf("replayed %v; want [3 4]", replayed)
	}
	if !strings.HasPrefix(offset, sharedEpoch+".") {
		t.Fatalf("offset %q is not made of entry IDs", offset)
	}
}

func TestOffsetRoundTrip(t *testing.T) {
	cursor := Cursor{StreamOrders: {Millis: 1, Seq: 2}, StreamPositions: {Millis: 3}, StreamNotifications: {Seq: 9}}
	text := string(appendOffset(nil, "ep", &cursor))
	if text != "ep.1-2.3-0.0-9" {
		t.Fatalf("offset = %q", text)
	}
	if parsed, ok := parseOffset(text, "ep"); !ok || parsed != cursor {
		t.Fatalf("parseOffset(%q) = %v, %v", text, parsed, ok)
	}
	for _, bad := range []string{"", "ep", "ep.1-2.3-0", "ep.1-2.3-0.0-9.1-1", "xx.1-2.3-0.0-9", "ep.1-2.3-0.0-x", "ep.1.3-0.0-9"} {
		if _, ok := parseOffset(bad, "ep"); ok {
			t.Errorf("parseOffset(%q) ok", bad)
		}
	}
}

func FuzzParseOffset(f *testing.F) {
	f.Add("s.1-2.3-0.0-9")
	f.Add("s.18446744073709551615-0.0-0.0-0")
	f.Fuzz(func(t *testing.T, text string) {
		cursor, ok := parseOffset(text, "s")
		if !ok {
			return
		}
		again, ok := parseOffset(string(appendOffset(nil, "s", &cursor)), "s")
		if !ok || again != cursor {
			t.Fatalf("round trip of %q: %v %v", text, again, ok)
		}
	})
}

// TestRecoveryAfterTokenExpiry lets a socket's token expire: the server
// disconnects it, and a CONNECT with a fresh token and its pid on the same
// connection recovers the session.
func TestRecoveryAfterTokenExpiry(t *testing.T) {
	e := startEngine(t, recoveryConfig())
	client := dialClient(t, e, nil)
	_, first := connectWith(t, client, map[string]string{"token": testToken(t, "expiring", time.Second)})
	if ack := client.emitAck(1, "subscribe:orders", ""); ack != `{"ok":true}` {
		t.Fatal(ack)
	}
	order(e, "expiring", 1)
	_, offset := receiveOrders(t, client, 1)
	for packet := client.next(); packet != "41"; packet = client.next() {
	}
	order(e, "expiring", 2)
	waitFor(t, "the shard to record the order", func() bool { return historyLen(e) == 2 })
	before, answer := connectWith(t, client, map[string]string{"token": testToken(t, "expiring", time.Hour), "pid": first.PID, "offset": offset})
	if answer != first || len(before) != 1 {
		t.Fatalf("after expiry: %q %+v; want order 2, then %+v", before, answer, first)
	}
	order(e, "expiring", 3)
	if got, _ := receiveOrders(t, client, 1); got[0] != 3 {
		t.Fatalf("live order = %v", got)
	}
	if taken := e.Stats().Disconnects["session_taken_over"]; taken != 0 {
		t.Fatalf("the connection took its own session over (%d)", taken)
	}
}

// TestMemorySessionsForgetExpiredOnes checks that expired sessions are
// swept by Touch as well as by Save, so an idle node lets them go.
func TestMemorySessionsForgetExpiredOnes(t *testing.T) {
	store := NewMemorySessions()
	for i := range 100 {
		_ = store.Save(Session{PID: fmt.Sprint("p", i), UserID: "u"}, time.Millisecond)
	}
	time.Sleep(5 * time.Millisecond)
	// Expired, or already swept by a later Save: never found.
	if _, found, err := store.Load("p99"); found || (err != nil && err != ErrSessionExpired) {
		t.Fatalf("Load of an expired session = %v, %v; want it not found", found, err)
	}
	_ = store.Touch(nil, time.Millisecond)
	if n := store.Len(); n != 0 {
		t.Fatalf("%d expired sessions kept after a Touch", n)
	}
}

// TestMemorySessionsGiveBackABurstsTable checks that once a burst of
// sessions has expired the store holds a map of the survivors' size, not
// the table the burst grew (a Go map never shrinks by itself).
func TestMemorySessionsGiveBackABurstsTable(t *testing.T) {
	store := NewMemorySessions()
	for i := range 4 * memorySessionsRebuildAbove {
		_ = store.Save(Session{PID: fmt.Sprint("burst", i), UserID: "u"}, time.Hour)
	}
	_ = store.Save(Session{PID: "survivor", UserID: "u"}, time.Hour)
	// The burst expires: every session but the survivor is past its time.
	store.mu.Lock()
	for pid, stored := range store.sessions {
		if pid != "survivor" {
			stored.expires = time.Now().Add(-time.Second)
			store.sessions[pid] = stored
		}
	}
	store.nextSweep = time.Time{}
	store.mu.Unlock()
	_ = store.Touch(nil, time.Hour)
	store.mu.Lock()
	peak, held := store.peak, len(store.sessions)
	store.mu.Unlock()
	if held != 1 || peak != 1 {
		t.Fatalf("after the burst expired: %d sessions held, peak %d; want 1 and a rebuilt map (peak 1)", held, peak)
	}
	if _, found, err := store.Load("survivor"); !found || err != nil {
		t.Fatalf("the unexpired session is lost: %v, %v", found, err)
	}
}

// TestRecoveryFromAQuietStreamOnANodeStartedLater: nothing was published
// since either node started reading, the second started later; a client
// of the first that never got a message recovers on the second.
func TestRecoveryFromAQuietStreamOnANodeStartedLater(t *testing.T) {
	store := NewMemorySessions()
	config := Config{RecoveryWindow: time.Minute, StreamOffsets: true, Sessions: store}
	first, second := startEngine(t, config), startEngine(t, config)
	now := uint64(time.Now().UnixMilli())
	for stream := StreamOrders; stream < streamCount; stream++ {
		first.HistoryFrom(stream, EntryID{Millis: now - 60_000})  // backfill start one window ago
		second.HistoryFrom(stream, EntryID{Millis: now - 50_000}) // started ten seconds later
	}
	client, session := subscribedClient(t, first, "idle")
	client.Close()
	waitFor(t, "the socket to close", func() bool { return first.Stats().Sockets == 0 })
	entry := EntryID{Millis: uint64(time.Now().UnixMilli())}
	message := []byte(`{"userId":"idle","orderId":"o1"}`)
	first.PublishUserEntry(StreamOrders, "idle", message, entry)
	second.PublishUserEntry(StreamOrders, "idle", message, entry)
	waitFor(t, "the second node to record", func() bool { return historyLen(second) == 1 })
	elsewhere := dialClient(t, second, nil)
	before, answer := connectWith(t, elsewhere, map[string]string{"token": testToken(t, "idle", time.Hour), "pid": session.PID})
	if answer != session || fmt.Sprint(orderNumbers(t, before)) != "[1]" {
		t.Fatalf("recovered %+v after %q; want %+v after order 1", answer, before, session)
	}
}

package ingest

import (
	"bytes"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bytedance/sonic"
	"github.com/protrader5/ws-gateway/engine"
	"github.com/protrader5/ws-gateway/wire"
)

// Member names of a position object (docs/protocol.md#server--client-events),
// quoted as on the wire.
var (
	positionIDKey       = []byte(`"positionId"`)
	symbolKey           = []byte(`"symbol"`)
	sideKey             = []byte(`"side"`)
	quantityKey         = []byte(`"quantity"`)
	entryPriceKey       = []byte(`"entryPrice"`)
	currentPriceKey     = []byte(`"currentPrice"`)
	unrealizedPNLKey    = []byte(`"unrealizedPnL"`)
	unrealizedPNLPctKey = []byte(`"unrealizedPnLPercent"`)
)

// maxRefreshBatch is how many positions of one symbol one tick refreshes
// without allocating its work list.
const maxRefreshBatch = 16

// position is one open position tracked for live P&L. Its fields are
// guarded by book.mu.
type position struct {
	userID     string
	positionID string
	symbol     string
	short      bool
	quantity   float64
	entryPrice float64
	// raw is the position as last received (read-only: the engine holds it too).
	raw []byte
	// head is raw without currentPrice, unrealizedPnL and
	// unrealizedPnLPercent and without its closing brace.
	head []byte

	lastPrice     float64 // price of the last refresh or update
	hasPrice      bool
	lastRefreshed int64 // unix nanoseconds of the last refresh; 0 never
	removed       bool
}

// book indexes open positions by symbol (for ticks) and by user (for
// updates and snapshots). Lock order: book.mu is never held while calling
// the engine.
type book struct {
	interval time.Duration

	mu       sync.RWMutex
	bySymbol map[string]map[*position]struct{} // guarded by mu
	byUser   map[string]map[string]*position   // guarded by mu
	count    atomic.Int64                      // positions in byUser; read without mu
}

func newBook(interval time.Duration) *book {
	return &book{
		interval: interval,
		bySymbol: make(map[string]map[*position]struct{}),
		byUser:   make(map[string]map[string]*position),
	}
}

func (b *book) size() int { return int(b.count.Load()) }

// parsePosition reads the fields live P&L needs from a position object
// (valid JSON, userId already checked). ok is false when the position cannot
// be tracked; closed reports quantity 0. positionID is set whenever present.
func parsePosition(userID string, object []byte) (p *position, positionID string, closed, ok bool) {
	p = &position{userID: userID, raw: object}
	var haveSide, haveQuantity, haveEntry bool
	head := make([]byte, 1, len(object))
	head[0] = '{'
	forEachMember(object, func(name, value []byte) {
		switch {
		case bytes.Equal(name, positionIDKey):
			positionID, _ = stringOrNumber(value)
		case bytes.Equal(name, symbolKey):
			if s, isString := jsonString(value); isString && wire.ValidSymbol(s) {
				p.symbol = s
			}
		case bytes.Equal(name, sideKey):
			s, _ := jsonString(value)
			switch {
			case strings.EqualFold(s, "LONG"):
				haveSide = true
			case strings.EqualFold(s, "SHORT"):
				p.short, haveSide = true, true
			}
		case bytes.Equal(name, quantityKey):
			p.quantity, haveQuantity = jsonNumber(value)
		case bytes.Equal(name, entryPriceKey):
			p.entryPrice, haveEntry = jsonNumber(value)
		case bytes.Equal(name, currentPriceKey):
			p.lastPrice, p.hasPrice = jsonNumber(value)
		}
		if bytes.Equal(name, currentPriceKey) || bytes.Equal(name, unrealizedPNLKey) || bytes.Equal(name, unrealizedPNLPctKey) {
			return
		}
		if len(head) > 1 {
			head = append(head, ',')
		}
		head = append(head, name...)
		head = append(head, ':')
		head = append(head, value...)
	})
	p.head, p.positionID = head, positionID
	if positionID == "" || !haveQuantity {
		return nil, positionID, false, false
	}
	if p.quantity == 0 {
		return nil, positionID, true, false
	}
	if p.symbol == "" || !haveSide || !haveEntry {
		return nil, positionID, false, false
	}
	return p, positionID, false, true
}

// update applies a position:update of userID: tracks, replaces or forgets.
func (b *book) update(userID string, object []byte) {
	p, positionID, _, ok := parsePosition(userID, trimSpace(object))
	if positionID == "" {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	previous := b.byUser[userID][positionID]
	if previous != nil {
		b.removeLocked(previous)
	}
	if !ok {
		// Closed (quantity 0) or no longer computable: forget it.
		return
	}
	if previous != nil {
		p.lastRefreshed = previous.lastRefreshed
	}
	b.addLocked(p)
}

// mergeUser applies a snapshot of userID's positions: the snapshot's open
// positions replace those with the same id, its closed ones are forgotten,
// and positions the snapshot does not name are kept. A position learned
// from position:updates but not (yet) written to the hash must not vanish
// because another socket of the user subscribed: positions are known from
// the updates and from the snapshot (docs/ingest.md#keys-read).
//
// With replace set, the snapshot is the complete set instead: used after an
// outage, when updates published meanwhile were lost.
func (b *book) mergeUser(userID string, positions []*position, closed []string, replace bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if replace {
		for _, p := range b.byUser[userID] {
			b.removeLocked(p)
		}
	}
	for _, id := range closed {
		if previous := b.byUser[userID][id]; previous != nil {
			b.removeLocked(previous)
		}
	}
	for _, p := range positions {
		if previous := b.byUser[userID][p.positionID]; previous != nil {
			b.removeLocked(previous)
		}
		b.addLocked(p)
	}
}

func (b *book) addLocked(p *position) {
	users := b.byUser[p.userID]
	if users == nil {
		users = make(map[string]*position)
		b.byUser[p.userID] = users
	}
	users[p.positionID] = p
	symbols := b.bySymbol[p.symbol]
	if symbols == nil {
		symbols = make(map[*position]struct{})
		b.bySymbol[p.symbol] = symbols
	}
	symbols[p] = struct{}{}
	b.count.Add(1)
}

func (b *book) removeLocked(p *position) {
	p.removed = true
	if users := b.byUser[p.userID]; users != nil {
		delete(users, p.positionID)
		if len(users) == 0 {
			delete(b.byUser, p.userID)
		}
	}
	if symbols := b.bySymbol[p.symbol]; symbols != nil {
		delete(symbols, p)
		if len(symbols) == 0 {
			delete(b.bySymbol, p.symbol)
		}
	}
	b.count.Add(-1)
}

// users returns the ids of users with open positions.
func (b *book) users() []string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	ids := make([]string, 0, len(b.byUser))
	for id := range b.byUser {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// open returns copies of userID's open positions as last received, ordered
// by position id.
func (b *book) open(userID string) [][]byte {
	known := b.openPositions(userID)
	positions := make([][]byte, len(known))
	for i, p := range known {
		positions[i] = p.raw
	}
	return positions
}

// openPositions returns the id and a copy of each tracked position of
// userID, sorted by id.
func (b *book) openPositions(userID string) []knownPosition {
	b.mu.RLock()
	defer b.mu.RUnlock()
	users := b.byUser[userID]
	known := make([]knownPosition, 0, len(users))
	for id, p := range users {
		known = append(known, knownPosition{positionID: id, raw: bytes.Clone(p.raw)})
	}
	slices.SortFunc(known, func(a, b knownPosition) int { return strings.Compare(a.positionID, b.positionID) })
	return known
}

type knownPosition struct {
	positionID string
	raw        []byte
}

// due reports whether p should be refreshed at price now.
func (b *book) dueLocked(p *position, price float64, now int64) bool {
	if p.removed || (p.hasPrice && p.lastPrice == price) {
		return false
	}
	return p.lastRefreshed == 0 || now-p.lastRefreshed >= int64(b.interval)
}

// refreshPositions publishes live P&L for the open positions in symbol after
// a tick at price (priceRaw is its JSON text). It does nothing, under a
// read lock at most, for symbols nobody holds.
func (r *Router) refreshPositions(symbol string, price float64, priceRaw []byte) {
	b := r.book
	if b.count.Load() == 0 {
		return
	}
	now := r.now().UnixNano()
	var stack [maxRefreshBatch]*position
	candidates := stack[:0]
	b.mu.RLock()
	for p := range b.bySymbol[symbol] {
		if b.dueLocked(p, price, now) {
			candidates = append(candidates, p)
		}
	}
	b.mu.RUnlock()
	if len(candidates) == 0 {
		return
	}
	// The engine is asked without book.mu held, so the engine may call
	// SnapshotSource (and so the book) while holding its own locks.
	kept := candidates[:0]
	for _, p := range candidates {
		if r.publisher.Subscribed(engine.StreamPositions, p.userID) {
			kept = append(kept, p)
		}
	}
	messages := make([][]byte, len(kept))
	b.mu.Lock()
	for i, p := range kept {
		if !b.dueLocked(p, price, now) {
			continue
		}
		p.lastPrice, p.hasPrice, p.lastRefreshed = price, true, now
		messages[i] = p.render(priceRaw, price)
	}
	b.mu.Unlock()
	for i, p := range kept {
		if messages[i] != nil {
			r.refreshes.Add(1)
			r.publisher.PublishPositionRefresh(p.userID, p.positionID, messages[i])
		}
	}
}

// render returns the position with currentPrice, unrealizedPnL and
// unrealizedPnLPercent at price; every other member is as last received.
func (p *position) render(priceRaw []byte, price float64) []byte {
	pnl, percent := unrealized(p.short, p.entryPrice, p.quantity, price)
	out := make([]byte, 0, len(p.head)+len(priceRaw)+80)
	out = append(out, p.head...)
	if len(p.head) > 1 {
		out = append(out, ',')
	}
	out = append(out, `"currentPrice":`...)
	out = append(out, priceRaw...)
	out = append(out, `,"unrealizedPnL":`...)
	out = appendNumber(out, pnl)
	out = append(out, `,"unrealizedPnLPercent":`...)
	out = appendNumber(out, percent)
	return append(out, '}')
}

// unrealized computes the live P&L and P&L percent of docs/ingest.md#live-pl,
// rounded to 8 decimals so that float noise (0.1*1000 = 100.00000000000001)
// does not reach clients.
func unrealized(short bool, entryPrice, quantity, price float64) (pnl, percent float64) {
	if short {
		pnl = (entryPrice - price) * quantity
	} else {
		pnl = (price - entryPrice) * quantity
	}
	if cost := entryPrice * quantity; cost != 0 {
		percent = pnl / cost * 100
	}
	return round8(pnl), round8(percent)
}

func round8(x float64) float64 {
	// Beyond 1e7 the scaled value passes 2^53 and rounding would add noise.
	if math.Abs(x) >= 1e7 {
		return x
	}
	return math.Round(x*1e8) / 1e8
}

// appendNumber appends x as a JSON number (never NaN, Inf or -0).
func appendNumber(out []byte, x float64) []byte {
	if math.IsNaN(x) || math.IsInf(x, 0) || x == 0 {
		return append(out, '0')
	}
	return strconv.AppendFloat(out, x, 'f', -1, 64)
}

// jsonString decodes a raw JSON string value; ok is false for other types.
func jsonString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	if err := sonic.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// jsonNumber decodes a raw JSON number value; ok is false for other types.
func jsonNumber(raw []byte) (float64, bool) {
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, false
	}
	x, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(x, 0) {
		return 0, false
	}
	return x, true
}

// stringOrNumber decodes an id given as a JSON string or number.
func stringOrNumber(raw []byte) (string, bool) {
	if s, ok := jsonString(raw); ok {
		return s, s != ""
	}
	if _, ok := jsonNumber(raw); ok {
		return string(raw), true
	}
	return "", false
}

// SeedPositions records positions, userID's open positions read from a
// snapshot, for live P&L. The snapshot is authoritative: positions of
// userID tracked before and absent from it are forgotten (for a refresh
// after updates may have been lost). Invalid entries are counted as rejects
// of ChannelPositions. positions are not modified and not retained beyond
// their bytes being read-only shared.
func (r *Router) SeedPositions(userID string, positions [][]byte) {
	r.seedPositions(userID, positions, true)
}

// seedPositions is SeedPositions returning the user's open positions: the
// valid open ones of the snapshot, then the tracked ones it does not name.
// replace is SeedPositions' rule; without it the snapshot is merged into
// what the updates told (book.mergeUser).
func (r *Router) seedPositions(userID string, positions [][]byte, replace bool) [][]byte {
	accepted := positions[:0:0]
	tracked := make([]*position, 0, len(positions))
	var closed []string
	named := make(map[string]bool, len(positions))
	for _, raw := range positions {
		if reason, ok := checkDocument(raw); !ok {
			r.reject(ChannelPositions, reason, "")
			continue
		}
		owner, reason, ok := decodeUser(raw)
		if !ok {
			r.reject(ChannelPositions, reason, "")
			continue
		}
		if owner != userID {
			r.reject(ChannelPositions, ReasonInvalidUser, "")
			continue
		}
		p, positionID, isClosed, ok := parsePosition(userID, trimSpace(raw))
		if positionID != "" {
			named[positionID] = true
		}
		if isClosed {
			closed = append(closed, positionID)
			continue
		}
		accepted = append(accepted, raw)
		if ok {
			tracked = append(tracked, p)
		}
	}
	r.book.mergeUser(userID, tracked, closed, replace)
	for _, known := range r.book.openPositions(userID) {
		if !named[known.positionID] {
			accepted = append(accepted, known.raw)
		}
	}
	return accepted
}

// OpenPositions returns copies of the positions of userID tracked for live
// P&L, as last received. The embedded bus answers snapshots with it.
func (r *Router) OpenPositions(userID string) [][]byte { return r.book.open(userID) }

// trackedUsers returns the users with open positions, sorted.
func (r *Router) trackedUsers() []string { return r.book.users() }

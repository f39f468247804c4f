package main

import (
	"errors"
	"fmt"
	"time"
)

// config is everything one run needs. It travels as JSON to -procs children,
// which then only use the fields about their own slice of clients.
type config struct {
	Label          string        `json:"label"`
	Targets        []string      `json:"targets"` // host:port; client i uses Targets[i%len] (see targetOf)
	Path           string        `json:"path"`
	Clients        int           `json:"clients"`
	RampPerSecond  float64       `json:"ramp_per_second"`
	ConnectTimeout time.Duration `json:"connect_timeout"`
	JWTSecret      string        `json:"jwt_secret"`
	Symbols        int           `json:"symbols"`
	PerClient      int           `json:"per_client"`
	SymbolPrefix   string        `json:"symbol_prefix"`
	Rate           float64       `json:"rate"` // ticks per second per symbol
	Orders         bool          `json:"orders"`
	OrdersRate     float64       `json:"orders_rate"` // order updates per second, all users
	StalledPercent float64       `json:"stalled_percent"`
	Procs          int           `json:"procs"`
	Warmup         time.Duration `json:"warmup"`
	Duration       time.Duration `json:"duration"`
	Drain          time.Duration `json:"drain"`
	Progress       time.Duration `json:"progress"`
	RedisURL       string        `json:"redis_url"`
	ServerPIDs     []int         `json:"server_pids"`
	RunID          int64         `json:"run_id"`
	// OrdersStream appends order updates to the order:updates stream
	// (field data) instead of publishing them on the channel.
	OrdersStream bool `json:"orders_stream"`

	// MsgpackFraction of the clients use socket.io-msgpack-parser's
	// packets instead of JSON ones (spread like stalled clients).
	MsgpackFraction float64 `json:"msgpack_fraction"`

	// Reconnect: a client whose connection drops comes back, as the stock
	// client does (delay doubling from ReconnectDelay to ReconnectDelayMax,
	// ±50 %), with its pid and offset, trying every target in turn.
	Reconnect         bool          `json:"reconnect"`
	ReconnectDelay    time.Duration `json:"reconnect_delay"`
	ReconnectDelayMax time.Duration `json:"reconnect_delay_max"`

	// The recovery storm (recoveryrun.go). Clients [0, StormClients) sit
	// on Targets[0] and follow only their orders, which go to them alone;
	// the others spread over every target with ticks only. KillAfter into
	// the window the first ServerPIDs process (the one behind Targets[0])
	// is killed with SIGKILL; the window then lasts until every client is
	// back plus Settle, or StormTimeout after the kill.
	StormClients int           `json:"storm_clients"`
	KillAfter    time.Duration `json:"kill_after"`
	StormTimeout time.Duration `json:"storm_timeout"`
	Settle       time.Duration `json:"settle"`

	// AfterClose, when set, samples the servers this long after every
	// client closed: does their memory go back to the baseline?
	AfterClose time.Duration `json:"after_close"`
	// IdleSettle, when set, samples the servers again this long after the
	// ramp, before publishing: the connections' memory once idle.
	IdleSettle time.Duration `json:"idle_settle"`
	// ThrottleFraction of the clients (throttleOf) subscribe with
	// throttleMs ThrottleMs: at most one tick per symbol per interval.
	ThrottleFraction float64 `json:"throttle_fraction"`
	ThrottleMs       int     `json:"throttle_ms"`

	// Set for one -procs child: it holds clients [FirstClient, FirstClient+ClientCount).
	FirstClient int `json:"first_client"`
	ClientCount int `json:"client_count"`
}

func (c *config) validate() error {
	switch {
	case len(c.Targets) == 0:
		return errors.New("loadgen: -target is empty")
	case c.Clients < 0:
		return errors.New("loadgen: -clients must be >= 0")
	case c.RampPerSecond <= 0:
		return errors.New("loadgen: -ramp must be > 0")
	case c.JWTSecret == "":
		return errors.New("loadgen: -jwt-secret (or JWT_SECRET) is required")
	case c.Symbols < 1:
		return errors.New("loadgen: -symbols must be >= 1")
	case c.PerClient < 0:
		return errors.New("loadgen: -per-client must be >= 0")
	case c.Rate < 0 || c.OrdersRate < 0:
		return errors.New("loadgen: rates must be >= 0")
	case c.StalledPercent < 0 || c.StalledPercent > 100:
		return errors.New("loadgen: -stalled-percent must be in [0,100]")
	case c.MsgpackFraction < 0 || c.MsgpackFraction > 1:
		return errors.New("loadgen: -msgpack-fraction must be in [0,1]")
	case c.ThrottleFraction < 0 || c.ThrottleFraction > 1:
		return errors.New("loadgen: -throttle-fraction must be in [0,1]")
	case c.ThrottleFraction > 0 && c.ThrottleMs <= 0:
		return errors.New("loadgen: -throttle-fraction needs -throttle-ms > 0")
	case c.Procs < 1:
		return errors.New("loadgen: -procs must be >= 1")
	case c.Duration <= 0:
		return errors.New("loadgen: -duration must be > 0")
	case c.StormClients < 0 || c.StormClients > c.Clients:
		return errors.New("loadgen: -storm-clients must be in [0, -clients]")
	}
	if c.KillAfter > 0 {
		switch {
		case len(c.Targets) < 2:
			return errors.New("loadgen: -kill-after needs at least two -target: the clients of the first move to the others")
		case len(c.ServerPIDs) < 2 || len(c.ServerPIDs) > len(c.Targets):
			return errors.New("loadgen: -kill-after needs one -server-pid per -target, the first one's first")
		case c.StormTimeout <= 0:
			return errors.New("loadgen: -storm-timeout must be > 0")
		}
		c.Reconnect = true
	}
	if c.Reconnect && c.ReconnectDelay <= 0 {
		return errors.New("loadgen: -reconnect-delay must be > 0")
	}
	c.ReconnectDelayMax = max(c.ReconnectDelayMax, c.ReconnectDelay)
	if c.PerClient > c.Symbols {
		c.PerClient = c.Symbols
	}
	if c.OrdersRate > 0 {
		c.Orders = true
	}
	if perProcess := (c.Clients + c.Procs - 1) / c.Procs; perProcess > 19000 {
		return fmt.Errorf("loadgen: %d clients per process passes the 20,000 open-file limit; raise -procs", perProcess)
	}
	return nil
}

// symbolsOf returns the symbol indices client index subscribes to: PerClient
// consecutive symbols, round-robin over Symbols, so every symbol gets the same
// number of subscribers when Clients*PerClient is a multiple of Symbols. The
// order clients of a storm run subscribe to none.
func (c *config) symbolsOf(index int) []int {
	if index < c.StormClients {
		return nil
	}
	index -= c.StormClients
	symbols := make([]int, c.PerClient)
	for slot := range symbols {
		symbols[slot] = (index*c.PerClient + slot) % c.Symbols
	}
	return symbols
}

// targetOf returns the address client index first connects to: round-robin
// over Targets, except that a storm run's order clients all sit on the first.
func (c *config) targetOf(index int) string {
	if index < c.StormClients {
		return c.Targets[0]
	}
	return c.Targets[(index-c.StormClients)%len(c.Targets)]
}

// ordersOf tells whether client index follows its orders.
func (c *config) ordersOf(index int) bool {
	return c.Orders && (c.StormClients == 0 || index < c.StormClients)
}

// orderUsers is how many users order updates are spread over: users
// u0..u<orderUsers-1>, every client or a storm run's order clients.
func (c *config) orderUsers() int {
	if c.StormClients > 0 {
		return c.StormClients
	}
	return max(c.Clients, 1)
}

// survivor tells whether client index starts on a target other than the
// one a storm run kills: its ticks measure what the storm costs the others.
func (c *config) survivor(index int) bool {
	return len(c.Targets) > 1 && c.targetOf(index) != c.Targets[0]
}

// isStalled tells whether client index stops reading after subscribing:
// spread evenly, so StalledPercent of every stretch of clients stall.
func (c *config) isStalled(index int) bool {
	if c.StalledPercent <= 0 {
		return false
	}
	share := c.StalledPercent / 100
	return int(float64(index+1)*share) != int(float64(index)*share)
}

// usesMsgpack tells whether client index speaks the msgpack parser's
// packets: spread evenly, like isStalled.
func (c *config) usesMsgpack(index int) bool {
	return c.MsgpackFraction > 0 && int(float64(index+1)*c.MsgpackFraction) != int(float64(index)*c.MsgpackFraction)
}

// throttleOf returns the throttleMs client index subscribes with, 0 for
// every tick. Clients are taken by rows, a row being the clients that
// cover every symbol once (symbolsOf), and ThrottleFraction of the rows
// are throttled: every symbol has throttled and unthrottled subscribers.
func (c *config) throttleOf(index int) int {
	if c.ThrottleFraction <= 0 {
		return 0
	}
	row := index / max(1, (c.Symbols+c.PerClient-1)/max(c.PerClient, 1))
	if int(float64(row+1)*c.ThrottleFraction) == int(float64(row)*c.ThrottleFraction) {
		return 0
	}
	return c.ThrottleMs
}

func userID(index int) string { return "u" + itoa(index) }

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
	Targets        []string      `json:"targets"` // host:port; client i uses Targets[i%len]
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
	case c.Procs < 1:
		return errors.New("loadgen: -procs must be >= 1")
	case c.Duration <= 0:
		return errors.New("loadgen: -duration must be > 0")
	}
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
// number of subscribers when Clients*PerClient is a multiple of Symbols.
func (c *config) symbolsOf(index int) []int {
	symbols := make([]int, c.PerClient)
	for slot := range symbols {
		symbols[slot] = (index*c.PerClient + slot) % c.Symbols
	}
	return symbols
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

func userID(index int) string { return "u" + itoa(index) }

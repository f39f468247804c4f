package main

import (
	"errors"
	"math/rand/v2"
	"time"
)

// clientRecovery is one client's side of its reconnections; its goroutine
// owns it.
type clientRecovery struct {
	away   bool      // lost its connection and not back yet
	lostAt time.Time // when it noticed, for the downtime of this reconnection
}

// reconnectStats counts what the clients of one process went through when
// their connections dropped. Times are unix nanoseconds, 0 when nothing
// happened.
type reconnectStats struct {
	Lost         int        `json:"lost"`          // connections that dropped while the run went on
	Recovered    int        `json:"recovered"`     // came back with their session (same pid: socket.recovered)
	Fresh        int        `json:"fresh"`         // came back as a new session, and subscribed again
	NeverBack    int        `json:"never_back"`    // still away when the run ended
	Attempts     int        `json:"attempts"`      // connection attempts, failed ones included
	FirstLoss    int64      `json:"first_loss"`    // the first drop noticed
	FirstAttempt int64      `json:"first_attempt"` // the first attempt to come back
	LastBack     int64      `json:"last_back"`     // the last client back: recovered, or subscribed again
	Downtime     *Histogram `json:"downtime"`      // per reconnection: drop noticed → back
}

func earliest(a, b int64) int64 {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

func (s *reconnectStats) add(other reconnectStats) {
	s.Lost += other.Lost
	s.Recovered += other.Recovered
	s.Fresh += other.Fresh
	s.NeverBack += other.NeverBack
	s.Attempts += other.Attempts
	s.FirstLoss = earliest(s.FirstLoss, other.FirstLoss)
	s.FirstAttempt = earliest(s.FirstAttempt, other.FirstAttempt)
	s.LastBack = max(s.LastBack, other.LastBack)
	if other.Downtime != nil {
		if s.Downtime == nil {
			s.Downtime = &Histogram{}
		}
		s.Downtime.Merge(other.Downtime)
	}
}

// reconnectDelay is the stock client's backoff before attempt number
// attempt (from 0): the delay doubles from ReconnectDelay up to
// ReconnectDelayMax, and each is moved by up to ±50 % at random so that the
// clients of a node that went away do not all come back in the same
// millisecond.
func reconnectDelay(c *config, attempt int) time.Duration {
	delay := c.ReconnectDelay << min(attempt, 20)
	if delay <= 0 || delay > c.ReconnectDelayMax {
		delay = c.ReconnectDelayMax
	}
	jittered := time.Duration(float64(delay) * (0.5 + rand.Float64()))
	return min(jittered, c.ReconnectDelayMax)
}

// reconnectOrder is the order in which a client tries the targets after
// losing lost: the others first, each client starting at another one so
// that the clients of a dead node spread evenly over the rest, and lost
// last, in case it was only a blip.
func reconnectOrder(targets []string, lost string, index int) []string {
	others := make([]string, 0, len(targets))
	for _, target := range targets {
		if target != lost {
			others = append(others, target)
		}
	}
	order := make([]string, 0, len(targets))
	for position := range others {
		order = append(order, others[(index+position)%len(others)])
	}
	if len(order) < len(targets) {
		order = append(order, lost)
	}
	return order
}

// reconnect brings c back after its connection dropped, as the stock client
// would: it waits before each attempt (reconnectDelay) and presents its pid
// and offset, so that the server can recover its session; a fresh session
// subscribes again. An attempt goes round the targets: a dial that fails
// moves on to the next at once, a server that answers ends the attempt. It
// returns false when the run ends first.
func (f *fleet) reconnect(c *client, handle func(inboundMessage)) bool {
	lost := c.current
	c.closeConn(false)
	f.noteLoss(c)
	for attempt := 0; ; attempt++ {
		if !f.sleep(reconnectDelay(f.config, attempt)) {
			return false
		}
		if attempt == 0 {
			f.noteFirstAttempt()
		}
		for _, target := range reconnectOrder(f.config.Targets, lost, c.index) {
			f.countAttempt()
			_, recovered, err := c.setup(f.config, target, f.minter.mint(userID(c.index)), handle)
			if err == nil {
				f.noteBack(c, recovered)
				return true
			}
			c.closeConn(false)
			if f.shuttingDown.Load() {
				return false
			}
			var setup *setupError
			if !errors.As(err, &setup) || setup.reason != "dial" {
				break
			}
		}
	}
}

// sleep waits for delay; false when the fleet closes first.
func (f *fleet) sleep(delay time.Duration) bool {
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-timer.C:
		return !f.shuttingDown.Load()
	case <-f.closing:
		return false
	}
}

func (f *fleet) noteLoss(c *client) {
	now := time.Now()
	c.recovery = clientRecovery{away: true, lostAt: now}
	f.connected.Add(-1)
	if c.orders {
		f.orders.connectionLost(c.index, c.lastOrder)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reconnects.Lost++
	f.reconnects.FirstLoss = earliest(f.reconnects.FirstLoss, now.UnixNano())
}

func (f *fleet) noteFirstAttempt() {
	now := time.Now().UnixNano()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reconnects.FirstAttempt = earliest(f.reconnects.FirstAttempt, now)
}

func (f *fleet) countAttempt() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reconnects.Attempts++
}

func (f *fleet) noteBack(c *client, recovered bool) {
	now := time.Now()
	f.downtime.Record(int64(now.Sub(c.recovery.lostAt)))
	c.recovery.away = false
	f.connected.Add(1)
	if recovered && c.orders {
		f.orders.sessionRecovered(c.index)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if recovered {
		f.reconnects.Recovered++
	} else {
		f.reconnects.Fresh++
	}
	f.reconnects.LastBack = max(f.reconnects.LastBack, now.UnixNano())
}

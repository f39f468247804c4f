package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"
)

// The recovery storm: clients sit on the first of several servers while
// orders flow; KillAfter into the window that server is killed with
// SIGKILL, and its clients come back on the others with their pid and
// offset. The run measures how long it takes until every client is back,
// what became of the orders addressed to them meanwhile, how many came
// back recovered, and what the storm costs the clients of the other
// servers (their tick latency) and the other servers themselves.

// stormOutcome is what the controller saw of a storm; times are unix
// nanoseconds.
type stormOutcome struct {
	KilledPID   int   `json:"killed_pid"`
	WindowStart int64 `json:"window_start"`
	KilledAt    int64 `json:"killed_at"`
	// BackAt is when the controller saw every client back (0: not within
	// StormTimeout); the clients' own LastBack is the exact figure.
	BackAt int64 `json:"back_at"`
	EndAt  int64 `json:"end_at"`

	Victim         *processSample `json:"victim_before_kill,omitempty"`
	SurvivorsStart *processSample `json:"survivors_window_start,omitempty"`
	SurvivorsKill  *processSample `json:"survivors_kill,omitempty"`
	SurvivorsBack  *processSample `json:"survivors_back,omitempty"`
	SurvivorsEnd   *processSample `json:"survivors_end,omitempty"`

	// Tick latency of the clients of the surviving servers, set by
	// summarize: from the window start to the kill, and from the kill to
	// the last client back (whole seconds of sentAt).
	TickBefore *Histogram `json:"tick_before,omitempty"`
	TickStorm  *Histogram `json:"tick_storm,omitempty"`
}

// stormWindowSeconds is the longest a storm window can last, in whole
// seconds: until the kill, the longest wait for the clients, the settling,
// and a second to spare.
func stormWindowSeconds(c *config) int {
	return int((c.KillAfter+c.StormTimeout+c.Settle)/time.Second) + 2
}

// stormRun drives the feed and the kill of one storm.
type stormRun struct {
	config      *config
	out         *result
	feed        *feeder
	counters    func() (connected int64, received uint64)
	loadgenPIDs []int
	feedStart   time.Time
	windowStart time.Time
	progress    io.Writer

	loadgenStart, loadgenEnd processSample
}

// run publishes from feedStart until Settle after every client is back
// (or StormTimeout after the kill), killing the first server on the way.
func (s *stormRun) run(ctx context.Context) error {
	c := s.config
	victim, survivors := c.ServerPIDs[0], c.ServerPIDs[1:]
	storm := &stormOutcome{KilledPID: victim, WindowStart: s.windowStart.UnixNano()}
	s.out.Storm = storm
	feedContext, stopFeed := context.WithCancel(ctx)
	defer stopFeed()
	feedDone := make(chan error, 1)
	time.Sleep(time.Until(s.feedStart))
	stopProgress := startProgress(s.progress, c.Progress, "feed", s.counters)
	defer stopProgress()
	go func() {
		feedDone <- s.feed.run(feedContext, s.feedStart, c.Warmup+time.Duration(stormWindowSeconds(c))*time.Second)
	}()
	wait := func(until time.Time) error {
		select {
		case <-time.After(time.Until(until)):
			return nil
		case err := <-feedDone:
			if err == nil {
				err = errors.New("loadgen: the feed ended before the storm did")
			}
			return err
		}
	}

	if err := wait(s.windowStart); err != nil {
		return err
	}
	s.out.ServerWindowStart = sampleServers(c.ServerPIDs, s.progress)
	storm.SurvivorsStart = sampleServers(survivors, s.progress)
	s.loadgenStart, _ = sampleProcesses(s.loadgenPIDs)

	if err := wait(s.windowStart.Add(c.KillAfter)); err != nil {
		return err
	}
	storm.Victim = sampleServers([]int{victim}, s.progress)
	storm.SurvivorsKill = sampleServers(survivors, s.progress)
	before, _ := s.counters()
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		return fmt.Errorf("loadgen: kill %d: %w", victim, err)
	}
	killedAt := time.Now()
	storm.KilledAt = killedAt.UnixNano()
	fmt.Fprintf(s.progress, "loadgen: killed pid %d (%d clients connected)\n", victim, before)

	// Every client is back when the number connected, having dipped
	// below what it was, is up again; the children report it every
	// quarter second, so this is the controller's view, not the exact time.
	dipped := false
	for deadline := killedAt.Add(c.StormTimeout); time.Now().Before(deadline); {
		if err := wait(time.Now().Add(50 * time.Millisecond)); err != nil {
			return err
		}
		connected, _ := s.counters()
		if connected < before {
			dipped = true
		}
		if dipped && connected >= before {
			storm.BackAt = time.Now().UnixNano()
			break
		}
		if !dipped && time.Since(killedAt) > 5*time.Second {
			fmt.Fprintln(s.progress, "loadgen: no client lost its connection to the killed server")
			storm.BackAt = time.Now().UnixNano()
			break
		}
	}
	storm.SurvivorsBack = sampleServers(survivors, s.progress)
	if storm.BackAt == 0 {
		fmt.Fprintf(s.progress, "loadgen: not every client was back %s after the kill\n", c.StormTimeout)
	}

	if err := wait(time.Now().Add(c.Settle)); err != nil {
		return err
	}
	storm.SurvivorsEnd = sampleServers(survivors, s.progress)
	s.loadgenEnd, _ = sampleProcesses(s.loadgenPIDs)
	stopFeed()
	err := <-feedDone
	end := time.Now()
	storm.EndAt = end.UnixNano()
	s.out.WindowSeconds = end.Sub(s.windowStart).Seconds()
	if errors.Is(err, context.Canceled) && ctx.Err() == nil {
		err = nil // the storm stopped the feed, as it should
	}
	return err
}

// summarize splits the survivors' tick latency at the kill and at the last
// client back (by second of the window).
func (s *stormOutcome) summarize(fleet *fleetResult) {
	if len(fleet.TickSeconds) == 0 {
		return
	}
	killSecond := int((s.KilledAt - s.WindowStart) / int64(time.Second))
	last := fleet.Reconnects.LastBack
	if last == 0 {
		last = s.EndAt
	}
	endSecond := max(int((last-s.WindowStart+int64(time.Second)-1)/int64(time.Second)), killSecond+1)
	s.TickBefore, s.TickStorm = &Histogram{}, &Histogram{}
	for second, histogram := range fleet.TickSeconds {
		switch {
		case second < killSecond:
			s.TickBefore.Merge(histogram)
		case second < endSecond:
			s.TickStorm.Merge(histogram)
		}
	}
}

// cpuPercent is the CPU two samples apart used, in % of one core.
func cpuPercent(from, to *processSample, seconds float64) (float64, bool) {
	if from == nil || to == nil || seconds <= 0 {
		return 0, false
	}
	return 100 * (to.CPUSeconds - from.CPUSeconds) / seconds, true
}

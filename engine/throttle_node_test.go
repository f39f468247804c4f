package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// throttleRun is what testdata/client/throttle.js prints.
type throttleRun struct {
	Failure string `json:"failure"`
	Phases  []struct {
		Name  string `json:"name"`
		Start int64  `json:"start"`
		End   int64  `json:"end"`
		Ticks []struct {
			Socket string `json:"socket"`
			Symbol string `json:"symbol"`
			Seq    int    `json:"seq"`
			TS     int64  `json:"ts"`
			At     int64  `json:"at"`
		} `json:"ticks"`
	} `json:"phases"`
	Acks    map[string]json.RawMessage `json:"acks"`
	Invalid []struct {
		Value json.RawMessage `json:"value"`
		Ack   struct {
			OK    bool `json:"ok"`
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		} `json:"ack"`
	} `json:"invalid"`
}

// received is what one socket got of one symbol in a phase: sequences and
// ages at arrival (ms).
type received struct {
	seqs []int
	ages []int64
}

func (r received) medianAge() int64 {
	ages := slices.Clone(r.ages)
	slices.Sort(ages)
	return ages[len(ages)/2]
}

// TestNodeClientThrottle runs two stock socket.io-clients on AAA, ticks
// published at 50 a second: one throttled to 200 ms, then 1000 ms, then
// not at all; the other never throttled.
func TestNodeClientThrottle(t *testing.T) {
	node := requireNodeClient(t)
	e := startEngine(t, Config{})
	const tickInterval = 20 * time.Millisecond // 50 ticks a second
	var (
		publishedMu sync.Mutex
		published   []int64 // publish time (Unix ms) of each seq, from 1
	)
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		ticker := time.NewTicker(tickInterval)
		defer ticker.Stop()
		for seq := 1; ; seq++ {
			select {
			case <-stop:
				return
			case <-ticker.C:
			}
			now := time.Now().UnixMilli()
			for _, symbol := range []string{"AAA", "BBB"} {
				e.PublishTick(symbol, []byte(`{"symbol":"`+symbol+`","seq":`+strconv.Itoa(seq)+`,"ts":`+strconv.FormatInt(now, 10)+`}`))
			}
			publishedMu.Lock()
			published = append(published, now)
			publishedMu.Unlock()
		}
	}()
	defer func() { close(stop); <-stopped }()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	script, _ := filepath.Abs(filepath.Join(clientDir, "throttle.js"))
	command := exec.CommandContext(ctx, node, script, "http://"+e.Addr().String(), testToken(t, "desk", time.Hour), "4000")
	command.Dir = clientDir
	output, err := command.Output()
	if err != nil {
		t.Fatalf("node throttle.js: %v\n%.2000s", err, output)
	}
	var run throttleRun
	if err := json.Unmarshal(output, &run); err != nil {
		t.Fatalf("client output (%d bytes) %.2000q: %v", len(output), output, err)
	}
	if run.Failure != "" || len(run.Phases) != 3 {
		t.Fatalf("client failed: %s (%d phases)", run.Failure, len(run.Phases))
	}
	for name, want := range map[string]string{
		"throttled":   `{"ok":true,"symbols":["AAA","BBB"],"throttleMs":200}`,
		"screen":      `{"ok":true,"symbols":["AAA"]}`,
		"slower":      `{"ok":true,"symbols":["AAA","BBB"],"throttleMs":1000}`,
		"unthrottled": `{"ok":true,"symbols":["AAA","BBB"],"throttleMs":0}`,
		"after":       `{"ok":true,"symbols":["AAA","BBB"]}`, // no invalid value subscribed CCC
	} {
		if got := string(run.Acks[name]); got != want {
			t.Errorf("%s ack = %s; want %s", name, got, want)
		}
	}
	if len(run.Invalid) != 8 {
		t.Fatalf("invalid throttles answered: %d; want 8", len(run.Invalid))
	}
	for _, invalid := range run.Invalid {
		if invalid.Ack.OK || invalid.Ack.Error.Code != "INVALID_PAYLOAD" {
			t.Errorf("throttleMs %s: ack %+v; want INVALID_PAYLOAD", invalid.Value, invalid.Ack)
		}
	}

	publishedMu.Lock()
	publishTimes := slices.Clone(published)
	publishedMu.Unlock()
	for _, phase := range run.Phases {
		got := map[[2]string]received{}
		for _, tick := range phase.Ticks {
			key := [2]string{tick.Socket, tick.Symbol}
			r := got[key]
			r.seqs = append(r.seqs, tick.Seq)
			r.ages = append(r.ages, tick.At-tick.TS)
			got[key] = r
		}
		seconds := float64(phase.End-phase.Start) / 1000
		publishedIn := 0
		for _, at := range publishTimes {
			if at >= phase.Start && at < phase.End {
				publishedIn++
			}
		}
		// Every tick: the unthrottled socket's ticks follow each other
		// with no gap, as many as were published in the phase.
		everyTick := func(socket string) {
			r := got[[2]string{socket, "AAA"}]
			for i := 1; i < len(r.seqs); i++ {
				if r.seqs[i] != r.seqs[i-1]+1 {
					t.Fatalf("%s phase: %s got AAA %d after %d; want every tick", phase.Name, socket, r.seqs[i], r.seqs[i-1])
				}
			}
			if diff := len(r.seqs) - publishedIn; diff < -3 || diff > 3 {
				t.Fatalf("%s phase: %s got %d AAA ticks of the %d published", phase.Name, socket, len(r.seqs), publishedIn)
			}
		}
		everyTick("screen")
		// Throttled: about one tick per window (± one a second over the
		// phase, or ± one for 1 s windows), strictly newer each time, never
		// older than the interval (with slack for a loaded machine), and
		// the newest at its send: as fresh, at the median, as the
		// unthrottled socket's ticks but for the time between two ticks.
		throttled := func(symbol string, interval time.Duration, tolerance float64) {
			r := got[[2]string{"dashboard", symbol}]
			windows := seconds / interval.Seconds()
			if n := float64(len(r.seqs)); n < windows-tolerance || n > windows+tolerance {
				t.Fatalf("%s phase: dashboard got %d %s ticks in %.2fs at %v; want %.1f ± %.0f", phase.Name, len(r.seqs), symbol, seconds, interval, windows, tolerance)
			}
			for i := 1; i < len(r.seqs); i++ {
				if r.seqs[i] <= r.seqs[i-1] {
					t.Fatalf("%s phase: %s %d after %d", phase.Name, symbol, r.seqs[i], r.seqs[i-1])
				}
			}
			slack := int64(150)
			for i, age := range r.ages {
				if age > interval.Milliseconds()+slack {
					t.Fatalf("%s phase: %s tick %d arrived %d ms after its publication; interval %v", phase.Name, symbol, r.seqs[i], age, interval)
				}
			}
			screen := got[[2]string{"screen", "AAA"}]
			if throttledAge, everyAge := r.medianAge(), screen.medianAge(); throttledAge > everyAge+tickInterval.Milliseconds()+30 {
				t.Fatalf("%s phase: median age of %s throttled ticks %d ms, of every tick %d ms: not the newest tick at each send", phase.Name, symbol, throttledAge, everyAge)
			}
		}
		switch phase.Name {
		case "throttled":
			throttled("AAA", 200*time.Millisecond, seconds)
			throttled("BBB", 200*time.Millisecond, seconds)
		case "slower":
			throttled("AAA", time.Second, 1)
			throttled("BBB", 200*time.Millisecond, seconds)
		case "unthrottled":
			everyTick("dashboard")
			throttled("BBB", 200*time.Millisecond, seconds)
		default:
			t.Fatalf("unknown phase %q", phase.Name)
		}
		t.Logf("%s phase: %.2fs, %d published; received %s", phase.Name, seconds, publishedIn, func() string {
			var out string
			for key, r := range got {
				out += fmt.Sprintf(" %s/%s=%d (median age %d ms)", key[0], key[1], len(r.seqs), r.medianAge())
			}
			return out
		}())
	}
}

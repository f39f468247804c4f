package main

import "testing"

func TestThrottledClientsAreSpreadEvenly(t *testing.T) {
	c := config{ThrottleFraction: 0.5, ThrottleMs: 250}
	throttled := 0
	for index := 0; index < 1000; index++ {
		if ms := c.throttleOf(index); ms == 250 {
			throttled++
			if c.throttleOf(index+1) != 0 {
				t.Fatalf("clients %d and %d are both throttled; want every other one", index, index+1)
			}
		} else if ms != 0 {
			t.Fatalf("client %d throttled to %d", index, ms)
		}
	}
	if throttled != 500 {
		t.Fatalf("throttled %d of 1000; want 500", throttled)
	}
	if (&config{}).throttleOf(3) != 0 {
		t.Fatal("a client is throttled without -throttle-fraction")
	}
	bad := config{Targets: []string{"x"}, RampPerSecond: 1, JWTSecret: "s", Symbols: 1, Procs: 1, Duration: 1, ThrottleFraction: 0.5}
	if err := bad.validate(); err == nil {
		t.Fatal("-throttle-fraction without -throttle-ms was accepted")
	}
}

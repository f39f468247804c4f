package main

import "testing"

func TestThrottledClientsShareEverySymbol(t *testing.T) {
	c := config{Symbols: 100, PerClient: 1, ThrottleFraction: 0.5, ThrottleMs: 250}
	throttled := map[int]int{}
	every := map[int]int{}
	for index := 0; index < 5000; index++ {
		symbol := c.symbolsOf(index)[0]
		switch c.throttleOf(index) {
		case 250:
			throttled[symbol]++
		case 0:
			every[symbol]++
		default:
			t.Fatalf("client %d throttled to %d", index, c.throttleOf(index))
		}
	}
	for symbol := 0; symbol < 100; symbol++ {
		if throttled[symbol] != 25 || every[symbol] != 25 {
			t.Fatalf("symbol %d: %d throttled and %d unthrottled subscribers; want 25 and 25", symbol, throttled[symbol], every[symbol])
		}
	}
	if (&config{Symbols: 100, PerClient: 1}).throttleOf(3) != 0 {
		t.Fatal("a client is throttled without -throttle-fraction")
	}
	bad := config{Targets: []string{"x"}, RampPerSecond: 1, JWTSecret: "s", Symbols: 1, Procs: 1, Duration: 1, ThrottleFraction: 0.5}
	if err := bad.validate(); err == nil {
		t.Fatal("-throttle-fraction without -throttle-ms was accepted")
	}
}

//go:build !race

package wire

import (
	"runtime"
	"testing"
)

// TestNotepackHugeClaimedLengthsAllocNothing: a few bytes claiming a 4 GiB
// string, array, map or extension are refused before anything is
// allocated for the claim, on both ways in.
func TestNotepackHugeClaimedLengthsAllocNothing(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation changes allocation counts")
	}
	for _, claim := range []string{"dbffffffff61", "c6ffffffff61", "ddffffffff01", "dfffffffff01", "c9ffffffffff01", "91dbffffffff"} {
		message := mustHex(t, claim)
		reader := NewNotepackReader(message, 64, 1<<30)
		dst := make([]byte, 0, 64)
		read := func() {
			reader.source.Reset(message)
			reader.decoder.Reset(&reader.source)
			if _, _, err := reader.AppendJSON(dst[:0]); err == nil {
				t.Fatalf("AppendJSON(%s) accepted", claim)
			}
		}
		if allocs := testing.AllocsPerRun(100, read); allocs != 0 {
			t.Errorf("AppendJSON(%s) allocates %.1f times; want 0", claim, allocs)
		}
		// A msgpack client's packet whose data makes the same claim.
		packet := append(mustHex(t, "83a47479706502a36e7370a12fa464617461"), message...)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		const runs = 100
		for range runs {
			if _, err := DecodeMsgpackSocketPacket(nil, packet, 1<<30); err == nil {
				t.Fatalf("DecodeMsgpackSocketPacket(%x) accepted", packet)
			}
		}
		runtime.ReadMemStats(&after)
		if perRun := (after.TotalAlloc - before.TotalAlloc) / runs; perRun > 4096 {
			t.Errorf("DecodeMsgpackSocketPacket with claim %s allocates %d bytes per packet; want at most 4096", claim, perRun)
		}
	}
}

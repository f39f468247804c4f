package main

import (
	"os"
	"testing"
)

func TestReadProcessSampleSelf(t *testing.T) {
	before, err := readProcessSample(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	sum := 0
	for index := range 50_000_000 {
		sum += index ^ (sum >> 3)
	}
	_ = sum
	after, err := readProcessSample(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if before.RSSBytes < 1<<20 || before.PeakBytes < before.RSSBytes || before.Threads < 1 {
		t.Fatalf("sample = %+v; want RSS >= 1 MiB, peak >= RSS, threads >= 1", before)
	}
	if after.CPUSeconds < before.CPUSeconds {
		t.Fatalf("CPU went backwards: %v then %v", before.CPUSeconds, after.CPUSeconds)
	}
}

func TestParseProcStatCPU(t *testing.T) {
	// A command name with spaces and a ')' must not shift the fields.
	stat := []byte("1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 100 1000 200\n")
	got, err := parseProcStatCPU(stat)
	if err != nil || got != 3.0 {
		t.Fatalf("parseProcStatCPU = %v, %v; want 3.0", got, err)
	}
	if _, err := parseProcStatCPU([]byte("garbage")); err == nil {
		t.Fatal("parseProcStatCPU(garbage) = nil error")
	}
}

func TestSampleProcessesMissingPID(t *testing.T) {
	if _, err := sampleProcesses([]int{os.Getpid(), 1 << 30}); err == nil {
		t.Fatal("sampleProcesses with a missing pid = nil error")
	}
}

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// clockTicksPerSecond is USER_HZ, the unit of utime/stime in /proc/<pid>/stat.
// It is 100 on every Linux build this runs on; reading it needs sysconf (cgo).
const clockTicksPerSecond = 100

// processSample is one reading of a process's cost.
type processSample struct {
	CPUSeconds float64 `json:"cpu_seconds"` // user + system since start
	RSSBytes   int64   `json:"rss_bytes"`   // resident set now
	PeakBytes  int64   `json:"peak_bytes"`  // VmHWM, the resident high-water mark
	Threads    int     `json:"threads"`
	// NodeRSSBytes is each process's RSSBytes, in the order sampled, when
	// several are summed (one per server node).
	NodeRSSBytes []int64 `json:"node_rss_bytes,omitempty"`
}

var errProcFormat = errors.New("loadgen: unexpected /proc format")

// readProcessSample reads /proc/<pid>/stat and /proc/<pid>/status.
func readProcessSample(pid int) (processSample, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return processSample{}, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return processSample{}, err
	}
	var sample processSample
	if sample.CPUSeconds, err = parseProcStatCPU(stat); err != nil {
		return processSample{}, err
	}
	if err = parseProcStatus(status, &sample); err != nil {
		return processSample{}, err
	}
	return sample, nil
}

// parseProcStatCPU returns utime+stime in seconds. The command name (field 2)
// may hold spaces and parentheses, so fields are counted from the last ')'.
func parseProcStatCPU(stat []byte) (float64, error) {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, errProcFormat
	}
	// After ')' come fields 3 (state) onwards; utime is field 14, stime 15.
	fields := bytes.Fields(stat[end+1:])
	if len(fields) < 13 {
		return 0, errProcFormat
	}
	user, err := strconv.ParseUint(string(fields[11]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: utime: %v", errProcFormat, err)
	}
	system, err := strconv.ParseUint(string(fields[12]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: stime: %v", errProcFormat, err)
	}
	return float64(user+system) / clockTicksPerSecond, nil
}

// parseProcStatus fills the memory and thread fields from /proc/<pid>/status.
func parseProcStatus(status []byte, sample *processSample) error {
	found := 0
	for line := range bytes.SplitSeq(status, []byte("\n")) {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		fields := bytes.Fields(value)
		if len(fields) == 0 {
			continue
		}
		number, err := strconv.ParseInt(string(fields[0]), 10, 64)
		if err != nil {
			continue
		}
		switch string(name) {
		case "VmRSS":
			sample.RSSBytes = number * 1024
			found++
		case "VmHWM":
			sample.PeakBytes = number * 1024
		case "Threads":
			sample.Threads = int(number)
		}
	}
	if found == 0 {
		return fmt.Errorf("%w: no VmRSS", errProcFormat)
	}
	return nil
}

// sampleProcesses sums the samples of several processes (a scaled-out
// server); a process that cannot be read is an error, not a silent zero.
func sampleProcesses(pids []int) (processSample, error) {
	var total processSample
	for _, pid := range pids {
		sample, err := readProcessSample(pid)
		if err != nil {
			return processSample{}, fmt.Errorf("loadgen: sample pid %d: %w", pid, err)
		}
		total.CPUSeconds += sample.CPUSeconds
		total.RSSBytes += sample.RSSBytes
		total.PeakBytes += sample.PeakBytes
		total.Threads += sample.Threads
		total.NodeRSSBytes = append(total.NodeRSSBytes, sample.RSSBytes)
	}
	return total, nil
}

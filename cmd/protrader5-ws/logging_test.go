package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/slogtest"
	"time"
)

// readJSONLines decodes every line of a log file.
func readJSONLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var records []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		var record map[string]any
		if err := json.Unmarshal([]byte(line), &record); err != nil {
			t.Fatalf("%s: line %q is not JSON: %v", path, line, err)
		}
		records = append(records, record)
	}
	return records
}

func messages(records []map[string]any) []string {
	var out []string
	for _, record := range records {
		out = append(out, record["msg"].(string))
	}
	return out
}

func TestNewLoggerFiles(t *testing.T) {
	tests := []struct {
		name         string
		environment  string
		level        slog.Level
		wantCombined []string
	}{
		{"development info", EnvironmentDevelopment, slog.LevelInfo, []string{"info", "warn", "error"}},
		{"production debug", EnvironmentProduction, slog.LevelDebug, []string{"debug", "info", "warn", "error"}},
		{"production error", EnvironmentProduction, slog.LevelError, []string{"error"}},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			directory := filepath.Join(t.TempDir(), "nested", "logs")
			config := defaultConfig(test.environment)
			config.LogDirectory = directory
			config.LogLevel = test.level
			var console bytes.Buffer
			logger, closeFiles, err := newLogger(config, &console)
			if err != nil {
				t.Fatal(err)
			}
			logger = logger.With("conn_id", 7).WithGroup("request")
			logger.Debug("debug")
			logger.Info("info", "path", "/health")
			logger.Warn("warn")
			logger.Error("error", "reason", "boom")
			if err := closeFiles(); err != nil {
				t.Fatal(err)
			}

			combined := readJSONLines(t, filepath.Join(directory, "combined.log"))
			if got := messages(combined); strings.Join(got, ",") != strings.Join(test.wantCombined, ",") {
				t.Errorf("combined.log messages = %v; want %v", got, test.wantCombined)
			}
			errorRecords := readJSONLines(t, filepath.Join(directory, "error.log"))
			if got := messages(errorRecords); len(got) != 1 || got[0] != "error" {
				t.Fatalf("error.log messages = %v; want [error]", got)
			}
			// Attributes and groups reach every handler.
			record := errorRecords[0]
			group, _ := record["request"].(map[string]any)
			if record["conn_id"] != float64(7) || group["reason"] != "boom" || record["level"] != "ERROR" {
				t.Errorf("error.log record = %v; want conn_id 7, request.reason boom, level ERROR", record)
			}
			if test.environment == EnvironmentDevelopment {
				// Readable text, at LOG_LEVEL.
				if !strings.Contains(console.String(), "request.path=/health") || strings.Contains(console.String(), "msg=debug") {
					t.Errorf("console = %q; want info with its group, no debug", console.String())
				}
				return
			}
			// Elsewhere the same JSON lines as combined.log, for container log collectors.
			consoleFile := filepath.Join(t.TempDir(), "console.log")
			if err := os.WriteFile(consoleFile, console.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := messages(readJSONLines(t, consoleFile)); strings.Join(got, ",") != strings.Join(test.wantCombined, ",") {
				t.Errorf("console messages = %v; want %v", got, test.wantCombined)
			}
		})
	}
}

func TestNewLoggerAppends(t *testing.T) {
	config := defaultConfig(EnvironmentTest)
	config.LogDirectory = t.TempDir()
	for _, message := range []string{"first", "second"} {
		logger, closeFiles, err := newLogger(config, nil)
		if err != nil {
			t.Fatal(err)
		}
		logger.Error(message)
		if err := closeFiles(); err != nil {
			t.Fatal(err)
		}
	}
	if got := messages(readJSONLines(t, filepath.Join(config.LogDirectory, "error.log"))); len(got) != 2 {
		t.Errorf("error.log after two runs = %v; want both", got)
	}
}

func TestNewLoggerUnwritableDirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	config := defaultConfig(EnvironmentTest)
	config.LogDirectory = filepath.Join(file, "logs")
	if _, _, err := newLogger(config, nil); err == nil || !strings.HasPrefix(err.Error(), "logging: ") {
		t.Errorf("newLogger under a file: error = %v; want a logging: error", err)
	}
}

// recordingHandler remembers the levels it was given and can fail on demand.
type recordingHandler struct {
	levels *[]slog.Level
	fail   error
}

func (h recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordingHandler) Handle(_ context.Context, record slog.Record) error {
	*h.levels = append(*h.levels, record.Level)
	return h.fail
}
func (h recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h recordingHandler) WithGroup(string) slog.Handler      { return h }

func TestFanoutHandlerRoutesByLevel(t *testing.T) {
	var low, high []slog.Level
	failure := errors.New("disk full")
	handler := newFanoutHandler(
		levelRoute{minimum: slog.LevelInfo, handler: recordingHandler{levels: &low, fail: failure}},
		levelRoute{minimum: slog.LevelError, handler: recordingHandler{levels: &high}},
	)
	ctx := context.Background()
	if handler.Enabled(ctx, slog.LevelDebug) || !handler.Enabled(ctx, slog.LevelInfo) {
		t.Error("Enabled does not follow the lowest route minimum (info)")
	}
	logger := slog.New(handler)
	logger.Debug("d")
	logger.Info("i")
	logger.Error("e")
	if len(low) != 2 || len(high) != 1 || high[0] != slog.LevelError {
		t.Errorf("info route got %v, error route got %v; want [INFO ERROR] and [ERROR]", low, high)
	}
	// The failing route does not stop the other one, and its error surfaces.
	err := handler.Handle(ctx, slog.NewRecord(time.Time{}, slog.LevelError, "x", 0))
	if !errors.Is(err, failure) || len(high) != 2 {
		t.Errorf("Handle error = %v with %d error records; want %v and 2", err, len(high), failure)
	}
	if handler.WithGroup("") != slog.Handler(handler) || handler.WithAttrs(nil) != slog.Handler(handler) {
		t.Error("an empty group or no attributes should return the handler itself")
	}
}

// TestFanoutHandlerConforms runs the standard library's handler checks through
// a fan-out of one JSON handler.
func TestFanoutHandlerConforms(t *testing.T) {
	var out bytes.Buffer
	handler := newFanoutHandler(levelRoute{minimum: slog.LevelInfo, handler: slog.NewJSONHandler(&out, nil)})
	results := func() []map[string]any {
		var records []map[string]any
		for line := range bytes.SplitSeq(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			var record map[string]any
			if err := json.Unmarshal(line, &record); err != nil {
				t.Fatal(err)
			}
			records = append(records, record)
		}
		return records
	}
	if err := slogtest.TestHandler(handler, results); err != nil {
		t.Error(err)
	}
}

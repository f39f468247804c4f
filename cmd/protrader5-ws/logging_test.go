package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
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

// TestNewLoggerRotates: past LOG_MAX_SIZE_MB the file is renamed with a
// timestamp and a new one begun, and only LOG_MAX_BACKUPS renamed files stay.
func TestNewLoggerRotates(t *testing.T) {
	config := defaultConfig(EnvironmentTest)
	config.LogDirectory = t.TempDir()
	config.LogMaxSizeMegabytes = 1
	config.LogMaxBackups = 2
	logger, closeFiles, err := newLogger(config, nil)
	if err != nil {
		t.Fatal(err)
	}
	// About 3.5 MB in records of about 1 KB: three rotations, and the
	// oldest backup beyond two removed.
	padding := strings.Repeat("x", 1000)
	const records = 3500
	for index := range records {
		logger.Info("filler", "index", index, "padding", padding)
	}
	if err := closeFiles(); err != nil {
		t.Fatal(err)
	}

	// Removing old backups happens in lumberjack's own goroutine, after the
	// rotation: wait for it.
	var backups []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		backups, err = filepath.Glob(filepath.Join(config.LogDirectory, "combined-*.log"))
		if err != nil {
			t.Fatal(err)
		}
		if len(backups) <= config.LogMaxBackups || time.Now().After(deadline) {
			break
		}
	}
	if len(backups) != config.LogMaxBackups {
		t.Fatalf("backups of combined.log = %v; want %d", backups, config.LogMaxBackups)
	}
	const megabyte = 1 << 20
	lastIndex := -1.0
	for _, path := range append(backups, filepath.Join(config.LogDirectory, combinedLogName)) {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if info.Size() > megabyte {
			t.Errorf("%s holds %d bytes; want at most %d", filepath.Base(path), info.Size(), megabyte)
		}
		if info.Mode().Perm() != 0o644 {
			t.Errorf("%s has mode %v; want 0644", filepath.Base(path), info.Mode().Perm())
		}
		// Whole records only, in order across the files: a rotation
		// never splits a line.
		for _, record := range readJSONLines(t, path) {
			index := record["index"].(float64)
			if index <= lastIndex {
				t.Fatalf("%s: record %v after %v", filepath.Base(path), index, lastIndex)
			}
			lastIndex = index
		}
	}
	if lastIndex != records-1 {
		t.Errorf("last record %v; want %d", lastIndex, records-1)
	}
	// error.log saw no error and was never rotated.
	if errorBackups, _ := filepath.Glob(filepath.Join(config.LogDirectory, "error-*.log")); len(errorBackups) != 0 {
		t.Errorf("error.log rotated: %v", errorBackups)
	}
}

// LOG_DIR is the one variable whose empty value is not its default: it
// turns the log files off.
func TestLoadConfigLogDirectoryEmptyIsNotUnset(t *testing.T) {
	tests := []struct {
		name      string
		variables map[string]string
		want      string
	}{
		{"unset", nil, "logs"},
		{"empty", map[string]string{"LOG_DIR": ""}, ""},
		{"blank", map[string]string{"LOG_DIR": "  "}, ""},
		{"set", map[string]string{"LOG_DIR": " /var/log/pt5 "}, "/var/log/pt5"},
	}
	for _, test := range tests {
		if got := mustLoad(t, test.variables).LogDirectory; got != test.want {
			t.Errorf("%s LOG_DIR: LogDirectory = %q; want %q", test.name, got, test.want)
		}
	}
	// The environment's empty value wins over a .env file's directory.
	dotenvPath := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(dotenvPath, []byte("LOG_DIR=logs\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config, err := LoadConfig(lookupFrom(map[string]string{"LOG_DIR": ""}), dotenvPath)
	if err != nil {
		t.Fatal(err)
	}
	if config.LogDirectory != "" {
		t.Errorf("LOG_DIR= over a .env LOG_DIR=logs: LogDirectory = %q; want empty", config.LogDirectory)
	}
}

// TestNewLoggerWithoutDirectory: an empty LogDirectory (LOG_DIR=) writes no
// file anywhere, and the console still gets every record.
func TestNewLoggerWithoutDirectory(t *testing.T) {
	workingDirectory := t.TempDir()
	t.Chdir(workingDirectory)
	config := mustLoad(t, map[string]string{"NODE_ENV": "production", "JWT_SECRET": "a private secret", "ALLOW_EMBEDDED_BUS": "true", "LOG_DIR": ""})
	if config.LogDirectory != "" {
		t.Fatalf("LOG_DIR= gives LogDirectory %q; want empty", config.LogDirectory)
	}
	var console bytes.Buffer
	logger, closeFiles, err := newLogger(config, &console)
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("info")
	logger.Error("error")
	if err := closeFiles(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(workingDirectory)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("working directory holds %v; want nothing", entries)
	}
	if got := strings.Count(console.String(), "\n"); got != 2 {
		t.Errorf("console = %q; want two JSON lines", console.String())
	}
}

package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"gopkg.in/natefinch/lumberjack.v2"
)

// The log files (docs/operations.md), inside Config.LogDirectory.
const (
	combinedLogName = "combined.log"
	errorLogName    = "error.log"
)

// newLogger builds the process logger (docs/operations.md): JSON lines at
// config.LogLevel and above to combined.log, JSON lines at ERROR to
// error.log, and a copy at config.LogLevel on console (nil for none):
// readable text in development, JSON lines otherwise, for container log
// collectors. Without a LogDirectory there are no files. The directory is
// created when missing; files are appended to, so a restart keeps the
// history, and rotated past LogMaxSizeMegabytes. The returned function
// closes the files; call it last, after everything that logs has stopped.
func newLogger(config Config, console io.Writer) (*slog.Logger, func() error, error) {
	var (
		handlers []slog.Handler
		files    []io.Closer
	)
	closeFiles := func() error {
		var failures []error
		for _, file := range files {
			failures = append(failures, file.Close())
		}
		return errors.Join(failures...)
	}
	if config.LogDirectory != "" {
		if err := os.MkdirAll(config.LogDirectory, 0o755); err != nil {
			return nil, nil, fmt.Errorf("logging: %w", err)
		}
		routes := []struct {
			name    string
			minimum slog.Level
		}{
			{combinedLogName, config.LogLevel},
			{errorLogName, slog.LevelError},
		}
		for _, route := range routes {
			file, err := openLogFile(config, route.name)
			if err != nil {
				closeFiles()
				return nil, nil, err
			}
			files = append(files, file)
			handlers = append(handlers, slog.NewJSONHandler(file, &slog.HandlerOptions{Level: route.minimum, ReplaceAttr: readableDurations}))
		}
	}
	consoleOptions := &slog.HandlerOptions{Level: config.LogLevel, ReplaceAttr: readableDurations}
	switch {
	case console == nil:
	case config.IsDevelopment():
		handlers = append(handlers, slog.NewTextHandler(console, consoleOptions))
	default:
		// Containers collect stderr (docker logs, kubectl logs): the same
		// JSON lines as combined.log go there too.
		handlers = append(handlers, slog.NewJSONHandler(console, consoleOptions))
	}
	return slog.New(slog.NewMultiHandler(handlers...)), closeFiles, nil
}

// openLogFile returns the rotating writer of one log file. The file is
// opened here, not on the first record as lumberjack would, so that an
// unwritable LOG_DIR stops the start-up; creating it here also sets its
// mode, which lumberjack keeps for the files that follow it (its own
// default, 0600, would hide the logs from a collector of another user).
func openLogFile(config Config, name string) (*lumberjack.Logger, error) {
	path := filepath.Join(config.LogDirectory, name)
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("logging: %w", err)
	}
	if err := file.Close(); err != nil {
		return nil, fmt.Errorf("logging: %w", err)
	}
	return &lumberjack.Logger{
		Filename:   path,
		MaxSize:    config.LogMaxSizeMegabytes,
		MaxAge:     config.LogMaxAgeDays,
		MaxBackups: config.LogMaxBackups,
	}, nil
}

// readableDurations writes a time.Duration as its string ("10s", "1m30s")
// rather than the integer nanoseconds slog's JSON handler would; the text
// handler does so already.
func readableDurations(_ []string, attribute slog.Attr) slog.Attr {
	if attribute.Value.Kind() == slog.KindDuration {
		return slog.String(attribute.Key, attribute.Value.Duration().String())
	}
	return attribute
}

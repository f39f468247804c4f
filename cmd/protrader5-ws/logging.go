package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
)

// The log files (docs/operations.md), inside Config.LogDirectory.
const (
	combinedLogName = "combined.log"
	errorLogName    = "error.log"
)

// NewLogger builds the process logger (docs/operations.md): JSON lines at
// config.LogLevel and above to combined.log, JSON lines at ERROR to
// error.log, and a copy at config.LogLevel on stderr: readable text in
// development, JSON lines otherwise (for container log collectors). The directory is created when missing; files are appended to, so
// a restart keeps the history. The returned function closes the files; call
// it last, after everything that logs has stopped.
func NewLogger(config Config) (*slog.Logger, func() error, error) {
	return newLogger(config, os.Stderr)
}

// newLogger is NewLogger with the console writer as a parameter, for tests.
func newLogger(config Config, console io.Writer) (*slog.Logger, func() error, error) {
	directory := config.LogDirectory
	if directory == "" {
		directory = defaultLogDirectory
	}
	if err := os.MkdirAll(directory, 0o755); err != nil {
		return nil, nil, fmt.Errorf("logging: %w", err)
	}
	combined, err := openLogFile(filepath.Join(directory, combinedLogName))
	if err != nil {
		return nil, nil, err
	}
	errorFile, err := openLogFile(filepath.Join(directory, errorLogName))
	if err != nil {
		combined.Close()
		return nil, nil, err
	}
	// Each route filters by its own level; the JSON handlers themselves
	// accept everything so that the fan-out is the single place deciding.
	all := &slog.HandlerOptions{Level: slog.LevelDebug - 4}
	routes := []levelRoute{
		{minimum: config.LogLevel, handler: slog.NewJSONHandler(combined, all)},
		{minimum: slog.LevelError, handler: slog.NewJSONHandler(errorFile, all)},
	}
	switch {
	case console == nil:
	case config.IsDevelopment():
		routes = append(routes, levelRoute{minimum: config.LogLevel, handler: slog.NewTextHandler(console, all)})
	default:
		// Containers collect stderr (docker logs, kubectl logs): the same
		// JSON lines as combined.log go there too.
		routes = append(routes, levelRoute{minimum: config.LogLevel, handler: slog.NewJSONHandler(console, all)})
	}
	closeFiles := func() error {
		return errors.Join(combined.Close(), errorFile.Close())
	}
	return slog.New(newFanoutHandler(routes...)), closeFiles, nil
}

func openLogFile(path string) (*os.File, error) {
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("logging: %w", err)
	}
	return file, nil
}

// levelRoute sends the records at minimum or above to handler.
type levelRoute struct {
	minimum slog.Leveler
	handler slog.Handler
}

// fanoutHandler is a slog.Handler that hands each record to every route whose
// minimum level it reaches (and whose handler is enabled for it). It holds no
// mutable state: safe for concurrent use as far as its handlers are.
type fanoutHandler struct {
	routes []levelRoute
}

var _ slog.Handler = (*fanoutHandler)(nil)

func newFanoutHandler(routes ...levelRoute) *fanoutHandler {
	return &fanoutHandler{routes: routes}
}

func (route levelRoute) enabled(ctx context.Context, level slog.Level) bool {
	return level >= route.minimum.Level() && route.handler.Enabled(ctx, level)
}

// Enabled reports whether any route takes records at level, so callers skip
// building records nobody would write.
func (h *fanoutHandler) Enabled(ctx context.Context, level slog.Level) bool {
	for _, route := range h.routes {
		if route.enabled(ctx, level) {
			return true
		}
	}
	return false
}

// Handle passes record to each route that takes its level. One failing
// handler (a full disk) does not keep the record from the others; their
// errors are joined.
func (h *fanoutHandler) Handle(ctx context.Context, record slog.Record) error {
	var failures []error
	for _, route := range h.routes {
		if !route.enabled(ctx, record.Level) {
			continue
		}
		// Clone, because a handler may keep or modify the record's attributes.
		if err := route.handler.Handle(ctx, record.Clone()); err != nil {
			failures = append(failures, err)
		}
	}
	return errors.Join(failures...)
}

// WithAttrs returns a fan-out whose handlers all carry attributes.
func (h *fanoutHandler) WithAttrs(attributes []slog.Attr) slog.Handler {
	if len(attributes) == 0 {
		return h
	}
	return h.derive(func(handler slog.Handler) slog.Handler { return handler.WithAttrs(attributes) })
}

// WithGroup returns a fan-out whose handlers all open group name.
func (h *fanoutHandler) WithGroup(name string) slog.Handler {
	// An empty group name must be ignored (slog.Handler contract).
	if name == "" {
		return h
	}
	return h.derive(func(handler slog.Handler) slog.Handler { return handler.WithGroup(name) })
}

func (h *fanoutHandler) derive(transform func(slog.Handler) slog.Handler) *fanoutHandler {
	routes := make([]levelRoute, len(h.routes))
	for index, route := range h.routes {
		routes[index] = levelRoute{minimum: route.minimum, handler: transform(route.handler)}
	}
	return &fanoutHandler{routes: routes}
}

package main

import (
	"context"
	"log/slog"
)

// runServe runs the gateway until ctx is cancelled, then drains.
//
// Replaced by the engine wiring at merge.
func runServe(ctx context.Context, config Config, logger *slog.Logger) error {
	<-ctx.Done()
	return nil
}

package ingest

import "context"

// Source is where messages come from: Redis or the embedded bus. cmd runs
// one and reports its readiness on /ready.
type Source interface {
	// Run attaches the source and blocks until ctx is done. It returns nil
	// after a cancellation; an error only when the source cannot run at all.
	Run(ctx context.Context) error
	// Ready reports whether the source is attached; when not, reason is a
	// short stable word for /ready (e.g. "redis_disconnected").
	Ready() (ready bool, reason string)
}

var _ Source = (*Bus)(nil)

package enginetest

import (
	"bytes"
	"sync"
)

// LockedBuffer is a bytes.Buffer that goroutines may write into (a logger,
// a child process's output) while a test reads it.
type LockedBuffer struct {
	mu     sync.Mutex
	buffer bytes.Buffer
}

func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buffer.Write(p)
}

func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buffer.String()
}

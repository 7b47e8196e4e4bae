package badger

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/cubeauth/cubeauth/store"
)

// DefaultMinFreeSpace is the free space below which writes are refused when
// Options.MinFreeSpace is zero. Badger writes through memory-mapped files
// (32 MB memtable logs, 128 MB value-log files, tables flushed from
// memtables): on a full disk a write to such a mapping is not an error but
// a SIGBUS that kills the process. Refusing writes while this much is still
// free keeps the process alive and answering 503.
const DefaultMinFreeSpace = 128 << 20

// errDiskFull is returned by writes while the disk is nearly full.
var errDiskFull = fmt.Errorf("%w: not enough free disk space for writes", store.ErrUnavailable)

// spaceCheckInterval bounds how often a write asks the filesystem.
const spaceCheckInterval = 200 * time.Millisecond

// spaceGuard refuses writes while the data directory's filesystem has less
// than min bytes free. It asks the filesystem at most every
// spaceCheckInterval, on the write path itself.
type spaceGuard struct {
	dir       string
	min       uint64
	low       atomic.Bool
	checkedAt atomic.Int64 // Unix nanoseconds of the last check
}

// enterWrite starts an operation that writes: enter, and refuse while the
// disk is nearly full.
func (s *Store) enterWrite(ctx context.Context) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	if s.space.lowOnSpace() {
		s.leave()
		return errDiskFull
	}
	return nil
}

func (g *spaceGuard) lowOnSpace() bool {
	if g == nil {
		return false
	}
	now := time.Now().UnixNano()
	last := g.checkedAt.Load()
	if now-last >= int64(spaceCheckInterval) && g.checkedAt.CompareAndSwap(last, now) {
		if free, ok := freeBytes(g.dir); ok {
			g.low.Store(free < g.min)
		}
	}
	return g.low.Load()
}

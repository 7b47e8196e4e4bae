package badger

import "time"

// gcDiscardRatio is the share of stale data at which a value-log file is
// rewritten.
const gcDiscardRatio = 0.5

// collectGarbage runs value-log GC every interval until Close. Expired and
// deleted records vanish from reads at once, but their disk space comes back
// only through compaction and this GC, which Badger leaves to the
// application. Open starts exactly one per database.
func (s *Store) collectGarbage(interval time.Duration) {
	defer close(s.gcDone)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-s.stopGC:
			return
		case <-ticker.C:
		}
		// Each successful run rewrote one file; go on until nothing is left
		// to collect (badger.ErrNoRewrite) or Close asks to stop.
		for s.db.RunValueLogGC(gcDiscardRatio) == nil {
			select {
			case <-s.stopGC:
				return
			default:
			}
		}
	}
}

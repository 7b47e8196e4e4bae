package badger

import (
	"fmt"
	"sync/atomic"

	"github.com/cubeauth/cubeauth/store"
)

// groupSync makes commits durable with as few fsyncs as possible: writers
// commit without syncing, then wait here; one goroutine runs a single sync
// for everyone waiting and answers them all. A sync that starts after a
// writer's commit covers that commit, because Badger's write-ahead log is
// written in commit order.
type groupSync struct {
	sync     func() error
	requests chan chan error
	stop     chan struct{}
	done     chan struct{}
	// rounds counts the syncs run, for tests.
	rounds atomic.Uint64
}

// newGroupSync starts the goroutine that calls sync; close stops it.
func newGroupSync(sync func() error) *groupSync {
	g := &groupSync{
		sync:     sync,
		requests: make(chan chan error),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go g.run()
	return g
}

// wait returns after a sync that started after the call, with its error.
func (g *groupSync) wait() error {
	reply := make(chan error, 1)
	select {
	case g.requests <- reply:
	case <-g.done:
		return errClosed
	}
	if err := <-reply; err != nil {
		// An unsynced commit is not acknowledged: the caller must fail closed.
		return fmt.Errorf("syncing: %w: %w", store.ErrUnavailable, redacted(err))
	}
	return nil
}

func (g *groupSync) run() {
	defer close(g.done)
	var batch []chan error
	for {
		select {
		case reply := <-g.requests:
			batch = append(batch[:0], reply)
		case <-g.stop:
			return
		}
		// Take everyone already waiting: they committed before asking. Those
		// who arrive during the sync wait for the next one.
	collect:
		for {
			select {
			case reply := <-g.requests:
				batch = append(batch, reply)
			default:
				break collect
			}
		}
		err := g.sync()
		g.rounds.Add(1)
		for _, reply := range batch {
			reply <- err
		}
	}
}

// close stops the goroutine after the sync in progress, if any.
func (g *groupSync) close() {
	close(g.stop)
	<-g.done
}

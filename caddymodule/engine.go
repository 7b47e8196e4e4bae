package caddymodule

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/cubeauth/cubeauth/authcore"
	"github.com/cubeauth/cubeauth/store"
)

// engines holds one engine per store, keyed by the driver's StoreID.
// Badger allows one opener per directory and Caddy provisions a new config
// before it cleans up the old one, so overlapping configs share one engine.
var engines = caddy.NewUsagePool()

// engineOrder numbers engines in the order they were created, so that
// operators see the stores in a stable order.
var engineOrder atomic.Int64

// engine is everything cubeauth keeps per store: the open store, the
// registry of the WebSocket connections let through over it, the chat
// logins whose XMPP streams end with their sessions, and the services of
// the handlers that use it. It is created unopened when a
// config is provisioned and opened when the first config using it starts,
// so that caddy validate never opens a store.
type engine struct {
	storage Storage
	order   int64

	mu       sync.Mutex
	st       store.Store // nil until opened
	sockets  *socketRegistry
	chat     *chatStreams
	services []*authcore.Service // of running handlers, oldest first
}

// acquireEngine returns the engine of the driver's store, creating it
// unopened for the first handler. Release it with releaseEngine.
func acquireEngine(s Storage) (*engine, error) {
	val, _, err := engines.LoadOrNew(s.StoreID(), func() (caddy.Destructor, error) {
		return &engine{storage: s, order: engineOrder.Add(1)}, nil
	})
	if err != nil {
		return nil, err
	}
	return val.(*engine), nil
}

// releaseEngine drops a handler's use; the last one closes the store.
func releaseEngine(e *engine) error {
	_, err := engines.Delete(e.storage.StoreID())
	return err
}

// Name names the store for operators.
func (e *engine) Name() string { return e.storage.StoreName() }

// open opens the store once; later calls find it open. The store, sockets
// and chat fields do not change while a handler holds the engine.
func (e *engine) open(logger *zap.Logger) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.st == nil {
		st, err := e.storage.OpenStore(logger)
		if err != nil {
			return err
		}
		e.st = st
		e.sockets = newSocketRegistry(st)
		e.chat = newChatStreams(st, logger)
	}
	return nil
}

// addService registers a running handler's service; the returned func
// removes it.
func (e *engine) addService(svc *authcore.Service) (remove func()) {
	e.mu.Lock()
	e.services = append(e.services, svc)
	e.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			e.mu.Lock()
			e.services = slices.DeleteFunc(e.services, func(s *authcore.Service) bool { return s == svc })
			e.mu.Unlock()
		})
	}
}

// newestService is the service of the newest running handler over the
// store, or nil when none runs. During a reload the new config's handlers
// start before the old ones stop, so the newest is always a live one.
func (e *engine) newestService() (*authcore.Service, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.services) == 0 {
		return nil, 0
	}
	return e.services[len(e.services)-1], len(e.services)
}

// Destruct stops watching sockets and closes the store, if it was opened.
func (e *engine) Destruct() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.st == nil {
		return nil
	}
	e.sockets.close()
	e.chat.close()
	if err := e.st.Close(); err != nil {
		return fmt.Errorf("closing store %s: %w", e.Name(), err)
	}
	return nil
}

// runningEngines lists the engines that serve at least one running
// handler, in the order they were created.
func runningEngines() []*engine {
	var out []*engine
	engines.Range(func(_, val any) bool {
		if e := val.(*engine); e.running() {
			out = append(out, e)
		}
		return true
	})
	slices.SortFunc(out, func(a, b *engine) int { return int(a.order - b.order) })
	return out
}

func (e *engine) running() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.services) > 0
}

// RunningStore is a store in use by running cubeauth handlers, as the
// operator surface (admin API, dashboard) sees it.
type RunningStore struct {
	// Name is the store's readable name, without secrets.
	Name string
	// Handlers is how many running handlers use it.
	Handlers int
	// Service is the newest running handler's service over the store.
	Service *authcore.Service
}

// RunningStores lists the stores in use, in the order they were opened.
func RunningStores() []RunningStore {
	var out []RunningStore
	for _, e := range runningEngines() {
		if svc, n := e.newestService(); svc != nil {
			out = append(out, RunningStore{Name: e.Name(), Handlers: n, Service: svc})
		}
	}
	return out
}

package caddymodule

import (
	"context"
	"fmt"
	"reflect"
	"slices"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/cubeauth/cubeauth/store"
)

func init() {
	caddy.RegisterModule(App{})
}

// App is the cubeauth Caddy app. It needs no config: every cubeauth
// handler of a config registers with it while the config is provisioned,
// and when the config starts the app opens the handlers' stores and applies
// their declared apps — once per load, from the union of every handler's
// declarations over each store. caddy validate provisions but never
// starts, so it never opens or writes a store.
type App struct {
	logger   *zap.Logger
	handlers []*Handler
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "cubeauth",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision sets up the app's logger.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	return nil
}

// register adds a provisioned handler. Its declared apps must agree with
// those of the config's other handlers over the same store, checked here
// so that a conflict fails the load (and caddy validate) before anything
// is written.
func (a *App) register(h *Handler) error {
	for _, other := range a.handlers {
		if other.engine != h.engine {
			continue
		}
		for _, mine := range h.apps {
			i := slices.IndexFunc(other.apps, func(c configApp) bool { return c.app.ID == mine.app.ID })
			if i >= 0 && !reflect.DeepEqual(other.apps[i], mine) {
				return fmt.Errorf("app %d is declared differently by two cubeauth handlers over store %s", mine.app.ID, h.engine.Name())
			}
		}
	}
	a.handlers = append(a.handlers, h)
	return nil
}

// Start opens the stores, applies the declared apps to each store and then
// lets the handlers serve.
func (a *App) Start() error {
	declared := map[*engine][]configApp{}
	var order []*engine
	for _, h := range a.handlers {
		if _, ok := declared[h.engine]; !ok {
			order = append(order, h.engine)
		}
		for _, c := range h.apps {
			if !slices.ContainsFunc(declared[h.engine], func(d configApp) bool { return d.app.ID == c.app.ID }) {
				declared[h.engine] = append(declared[h.engine], c)
			}
		}
	}
	for _, h := range a.handlers {
		if err := h.start(); err != nil {
			return err
		}
	}
	for _, e := range order {
		if err := a.applyApps(e, declared[e]); err != nil {
			return err
		}
	}
	for _, h := range a.handlers {
		h.serve()
	}
	return nil
}

// applyApps writes the declared apps to the engine's store and releases
// the pins of apps no handler declares any more.
func (a *App) applyApps(e *engine, apps []configApp) error {
	svc, _ := e.newestService()
	ctx := context.Background()
	ids := make([]int64, 0, len(apps))
	for _, c := range apps {
		ids = append(ids, c.app.ID)
		if err := svc.ApplyConfigApp(ctx, c.app, c.pinned); err != nil {
			return fmt.Errorf("applying app %d to store %s: %w", c.app.ID, e.Name(), err)
		}
		if c.app.Stage == store.StageProduction && c.app.SessionWithoutUser == store.PermissionAllow {
			a.logger.Warn("app is in production but creates users on first session", zap.Int64("app_id", c.app.ID))
		}
	}
	if err := svc.UnpinUndeclaredApps(ctx, ids); err != nil {
		return fmt.Errorf("releasing apps no longer in the config from store %s: %w", e.Name(), err)
	}
	return nil
}

// Stop does nothing: the handlers' Cleanup releases the stores, after the
// next config (if any) has started on them.
func (a *App) Stop() error { return nil }

// Interface guards
var (
	_ caddy.App         = (*App)(nil)
	_ caddy.Provisioner = (*App)(nil)
)

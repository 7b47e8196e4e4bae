package operator

import (
	"github.com/cubeauth/cubeauth/authcore"
	"github.com/cubeauth/cubeauth/caddymodule"
)

// The admin API and the dashboard are created without config and find the
// store to work on among the stores of the running cubeauth handlers, the
// way Caddy's admin modules read shared pools.

// storeInfo names a store for operators.
type storeInfo struct {
	// Name is the store's readable name, without secrets; it is what
	// ?store= takes.
	Name string `json:"name"`
	// Handlers is how many handlers of the running configs use it.
	Handlers int `json:"handlers"`
}

// runningStores lists the stores in use, in the order they were opened.
func runningStores() []storeInfo {
	var out []storeInfo
	for _, s := range caddymodule.RunningStores() {
		out = append(out, storeInfo{Name: s.Name, Handlers: s.Handlers})
	}
	return out
}

// serviceLookupError says why no service could be chosen: none is
// running, or the store selector is missing or names no store in use.
type serviceLookupError struct {
	reason string
	// none is true when no handler is running at all.
	none bool
}

func (e *serviceLookupError) Error() string { return e.reason }

// lookupService returns the newest service over the store that selector
// names; with an empty selector, the only store in use.
func lookupService(selector string) (*authcore.Service, error) {
	running := caddymodule.RunningStores()
	switch {
	case len(running) == 0:
		return nil, &serviceLookupError{reason: "no cubeauth handler is running: load a config with a cubeauth handler", none: true}
	case selector == "" && len(running) > 1:
		return nil, &serviceLookupError{reason: "several cubeauth stores are in use: choose one with ?store= (see GET /cubeauth/stores)"}
	}
	for _, s := range running {
		if selector == "" || selector == s.Name {
			return s.Service, nil
		}
	}
	return nil, &serviceLookupError{reason: "no cubeauth store named " + selector + " (see GET /cubeauth/stores)"}
}

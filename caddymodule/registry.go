package caddymodule

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/cubeauth/cubeauth/authcore"
)

// runningServices is the registry of running authentication services, by store.
// The admin API and the dashboard are created without config and find the
// store to work on here, the way Caddy's admin modules read shared pools.
// Handlers register in Provision and leave in Cleanup; during a reload the
// new config's handlers register before the old ones leave, so the newest
// registration of a store is always a live one.
var runningServices = &serviceRegistry{}

// serviceRegistry maps store keys to the services over each store.
type serviceRegistry struct {
	mu      sync.Mutex
	entries []*registeredService
}

// registeredService is one handler's service over one store.
type registeredService struct {
	storeKey string
	service  *authcore.Service
}

// register adds a handler's service; the returned func removes it.
func (r *serviceRegistry) register(storeKey string, svc *authcore.Service) (unregister func()) {
	e := &registeredService{storeKey: storeKey, service: svc}
	r.mu.Lock()
	r.entries = append(r.entries, e)
	r.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			r.entries = slices.DeleteFunc(r.entries, func(x *registeredService) bool { return x == e })
			r.mu.Unlock()
		})
	}
}

// storeInfo names a store for operators.
type storeInfo struct {
	// Name is the store's key with any password removed; it is what
	// ?store= takes.
	Name string `json:"name"`
	// Handlers is how many handlers of the running configs use it.
	Handlers int `json:"handlers"`
}

// stores lists the stores in use, in the order they were first registered.
func (r *serviceRegistry) stores() []storeInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []storeInfo
	index := map[string]int{}
	for _, e := range r.entries {
		i, ok := index[e.storeKey]
		if !ok {
			i = len(out)
			index[e.storeKey] = i
			out = append(out, storeInfo{Name: storeDisplayName(e.storeKey)})
		}
		out[i].Handlers++
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

// lookup returns the newest service over the store that selector names
// (a display name or key); with an empty selector, the only store in use.
func (r *serviceRegistry) lookup(selector string) (*authcore.Service, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := map[string]bool{}
	var newest *registeredService
	for _, e := range r.entries {
		keys[e.storeKey] = true
		if selector == "" || selector == e.storeKey || selector == storeDisplayName(e.storeKey) {
			newest = e
		}
	}
	switch {
	case len(keys) == 0:
		return nil, &serviceLookupError{reason: "no cubeauth handler is running: load a config with a cubeauth handler", none: true}
	case selector == "" && len(keys) > 1:
		return nil, &serviceLookupError{reason: "several cubeauth stores are in use: choose one with ?store= (see GET /cubeauth/stores)"}
	case newest == nil:
		return nil, &serviceLookupError{reason: "no cubeauth store named " + selector + " (see GET /cubeauth/stores)"}
	}
	return newest.service, nil
}

// dsnPassword finds password=... in a key=value connection string or a
// URL's query.
var dsnPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('[^']*'|[^\s&]+)`)

// storeDisplayName is a store key safe to show: a URL's password and any
// password= are replaced with "xxxxx".
func storeDisplayName(key string) string {
	driver, location, ok := strings.Cut(key, ":")
	if !ok {
		return key
	}
	if u, err := url.Parse(location); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			location = u.Redacted()
		}
	}
	location = dsnPassword.ReplaceAllString(location, "${1}xxxxx")
	return driver + ":" + location
}

package authcore

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/cubeauth/cubeauth/store"
)

// appCache holds every app in memory: apps are few, read on every session
// creation, and change rarely. Any app event empties it; the next lookup
// reloads all apps from the store.
type appCache struct {
	mu    sync.RWMutex
	valid bool
	byID  map[int64]store.App
	byKey map[[32]byte]int64 // SHA-256 of current and previous auth keys
}

func (c *appCache) invalidate() {
	c.mu.Lock()
	c.valid = false
	c.mu.Unlock()
}

func (c *appCache) load(ctx context.Context, st store.Store) error {
	c.mu.RLock()
	valid := c.valid
	c.mu.RUnlock()
	if valid {
		return nil
	}
	apps, err := st.ListApps(ctx)
	if err != nil {
		return storeErr(err, ErrUnknownApp)
	}
	byID := make(map[int64]store.App, len(apps))
	byKey := make(map[[32]byte]int64, len(apps))
	for _, a := range apps {
		byID[a.ID] = a
		byKey[sha256.Sum256([]byte(a.AuthKey))] = a.ID
		if a.PreviousAuthKey != "" {
			byKey[sha256.Sum256([]byte(a.PreviousAuthKey))] = a.ID
		}
	}
	c.mu.Lock()
	c.byID, c.byKey, c.valid = byID, byKey, true
	c.mu.Unlock()
	return nil
}

// App returns the app with this ID.
func (s *Service) App(ctx context.Context, id int64) (store.App, error) {
	if err := s.apps.load(ctx, s.store); err != nil {
		return store.App{}, err
	}
	s.apps.mu.RLock()
	a, ok := s.apps.byID[id]
	s.apps.mu.RUnlock()
	if !ok {
		return store.App{}, ErrUnknownApp
	}
	return a, nil
}

// authorizeApp returns the app when authKey is one of its valid keys.
func (s *Service) authorizeApp(ctx context.Context, id int64, authKey string) (store.App, error) {
	a, err := s.App(ctx, id)
	if err != nil {
		return a, err
	}
	if !keyMatches(a, authKey, s.now()) {
		return store.App{}, ErrUnknownApp
	}
	return a, nil
}

// AppByAuthKey finds the app that an auth key alone identifies, as the
// CB-AuthKey header on signup does.
func (s *Service) AppByAuthKey(ctx context.Context, authKey string) (store.App, error) {
	if err := s.apps.load(ctx, s.store); err != nil {
		return store.App{}, err
	}
	s.apps.mu.RLock()
	id, ok := s.apps.byKey[sha256.Sum256([]byte(authKey))]
	a := s.apps.byID[id]
	s.apps.mu.RUnlock()
	if !ok || !keyMatches(a, authKey, s.now()) {
		return store.App{}, ErrUnknownApp
	}
	return a, nil
}

// keyMatches compares in constant time against the current key and, during
// its grace period, the previous one.
func keyMatches(a store.App, key string, now time.Time) bool {
	if key == "" {
		return false
	}
	ok := subtle.ConstantTimeCompare([]byte(a.AuthKey), []byte(key)) == 1
	if a.PreviousAuthKey != "" && now.Before(a.PreviousAuthKeyExpiresAt) {
		ok = ok || subtle.ConstantTimeCompare([]byte(a.PreviousAuthKey), []byte(key)) == 1
	}
	return ok
}

// Apps returns every app, ordered by ID.
func (s *Service) Apps(ctx context.Context) ([]store.App, error) {
	apps, err := s.store.ListApps(ctx)
	return apps, storeErr(err, ErrNotFound)
}

// ApplyConfigApp stores an app declared in the server configuration. The
// fields named in pinned come from cfg and override what is stored; every
// other field keeps its stored (runtime-managed) value, or cfg's value when
// the app is new.
func (s *Service) ApplyConfigApp(ctx context.Context, cfg store.App, pinned []string) error {
	now := s.now()
	existing, err := s.store.GetApp(ctx, cfg.ID)
	switch {
	case err == nil:
		merged := existing
		for _, f := range pinned {
			copyAppField(&merged, cfg, f)
		}
		merged.Pinned = slices.Clone(pinned)
		if appsEqual(merged, existing) {
			return nil
		}
		cfg = merged
	case storeErr(err, nil) != nil:
		return storeErr(err, nil)
	default:
		cfg.CreatedAt = now
		cfg.Pinned = slices.Clone(pinned)
		if cfg.AuthKey == "" {
			// A new app without a configured key gets one; operators read
			// it through the admin API.
			cfg.AuthKey = uuid.NewString()
		}
	}
	withDefaultStage(&cfg)
	cfg.UpdatedAt = now
	if err := s.store.PutApp(ctx, cfg); err != nil {
		return storeErr(err, nil)
	}
	s.apps.invalidate()
	return nil
}

// UnpinUndeclaredApps hands to runtime management every stored app whose
// fields a configuration pinned but the current one no longer declares, so
// that removing an app block from the config does not leave the app locked
// against the admin API. declared lists the current config's app IDs. (On
// a store shared by several differently configured servers, the last one
// loaded decides.)
func (s *Service) UnpinUndeclaredApps(ctx context.Context, declared []int64) error {
	apps, err := s.store.ListApps(ctx)
	if err != nil {
		return storeErr(err, nil)
	}
	for _, a := range apps {
		if len(a.Pinned) == 0 || slices.Contains(declared, a.ID) {
			continue
		}
		a.Pinned = nil
		a.UpdatedAt = s.now()
		if err := s.store.PutApp(ctx, a); err != nil {
			return storeErr(err, nil)
		}
	}
	s.apps.invalidate()
	return nil
}

// Fields of an app that configuration or the admin API may set.
const (
	FieldName               = "name"
	FieldAuthKey            = "auth_key"
	FieldAuthSecret         = "auth_secret"
	FieldStage              = "stage"
	FieldSessionWithoutUser = "session_without_user"
	FieldRequireSignature   = "require_signature"
	FieldListUsers          = "list_users"
	FieldGuestSessions      = "guest_sessions"
	FieldUserFields         = "user_fields"
	FieldMinPasswordLength  = "min_password_length"
)

func copyAppField(dst *store.App, src store.App, field string) {
	switch field {
	case FieldName:
		dst.Name = src.Name
	case FieldAuthKey:
		dst.AuthKey = src.AuthKey
	case FieldAuthSecret:
		dst.AuthSecret = src.AuthSecret
	case FieldStage:
		dst.Stage = src.Stage
	case FieldSessionWithoutUser:
		dst.SessionWithoutUser = src.SessionWithoutUser
	case FieldRequireSignature:
		dst.RequireSignature = src.RequireSignature
	case FieldListUsers:
		dst.ListUsers = src.ListUsers
	case FieldGuestSessions:
		dst.GuestSessions = src.GuestSessions
	case FieldUserFields:
		dst.UserFields = maps.Clone(src.UserFields)
	case FieldMinPasswordLength:
		dst.MinPasswordLength = src.MinPasswordLength
	}
}

func appsEqual(a, b store.App) bool {
	return a.Name == b.Name && a.AuthKey == b.AuthKey && a.AuthSecret == b.AuthSecret &&
		a.Stage == b.Stage && a.SessionWithoutUser == b.SessionWithoutUser &&
		a.RequireSignature == b.RequireSignature && a.ListUsers == b.ListUsers &&
		a.GuestSessions == b.GuestSessions && maps.Equal(a.UserFields, b.UserFields) &&
		a.MinPasswordLength == b.MinPasswordLength && slices.Equal(a.Pinned, b.Pinned)
}

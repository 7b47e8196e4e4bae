// Package storetest holds the behaviour every store.Store driver must show.
// A driver's test calls Run with a Harness that makes fresh stores:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, storetest.Harness{New: func(t *testing.T) func() store.Store {
//			dir := t.TempDir()
//			return func() store.Store {
//				s, err := badger.Open(badger.Options{Dir: dir})
//				if err != nil {
//					t.Fatal(err)
//				}
//				return s
//			}
//		}})
//	}
//
// Events may be delivered asynchronously (a shared driver learns of other
// processes' changes late), so the suite waits for them with a timeout and
// proves that an event did not come by waiting for a later one instead.
package storetest

import (
	"crypto/rand"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/store"
)

// Harness tells Run how to make stores of one driver.
type Harness struct {
	// New prepares a fresh, empty store location (a directory, a database
	// schema, ...) and returns a function that opens it. Every call of open
	// returns a new handle on the same data; the suite closes one handle
	// before it opens the next, which is how durability is checked. open
	// fails the t given to New when the store cannot be opened. New registers
	// any cleanup of the location with t.
	New func(t *testing.T) (open func() store.Store)
}

// eventTimeout bounds how long the suite waits for an event.
const eventTimeout = 5 * time.Second

// Run runs the conformance suite against the driver that h makes.
func Run(t *testing.T, h Harness) {
	t.Run("apps", func(t *testing.T) { testApps(t, h) })
	t.Run("users", func(t *testing.T) { testUsers(t, h) })
	t.Run("user queries", func(t *testing.T) { testUserQueries(t, h) })
	t.Run("sessions", func(t *testing.T) { testSessions(t, h) })
	t.Run("nonces", func(t *testing.T) { testNonces(t, h) })
	t.Run("password resets", func(t *testing.T) { testPasswordResets(t, h) })
	t.Run("limit counters", func(t *testing.T) { testLimitCounters(t, h) })
	t.Run("identities", func(t *testing.T) { testIdentities(t, h) })
	t.Run("signing keys", func(t *testing.T) { testSigningKeys(t, h) })
	t.Run("chat logins", func(t *testing.T) { testChatLogins(t, h) })
	t.Run("user imports", func(t *testing.T) { testUserImports(t, h) })
	t.Run("events", func(t *testing.T) { testEvents(t, h) })
	t.Run("lifecycle", func(t *testing.T) { testLifecycle(t, h) })
	// Tests that wait for time to pass run in parallel to keep the suite fast.
	t.Run("expiry", func(t *testing.T) {
		t.Run("a guest user disappears when its ExpiresAt passes", func(t *testing.T) {
			t.Parallel()
			testGuestExpiry(t, h)
		})
		t.Run("a session disappears when its ExpiresAt passes", func(t *testing.T) {
			t.Parallel()
			testSessionExpiry(t, h)
		})
		t.Run("a nonce may be used again after its ttl", func(t *testing.T) {
			t.Parallel()
			testNonceExpiry(t, h)
		})
		t.Run("a password reset disappears when its ExpiresAt passes", func(t *testing.T) {
			t.Parallel()
			testPasswordResetExpiry(t, h)
		})
		t.Run("a limit counter window disappears two windows after its start", func(t *testing.T) {
			t.Parallel()
			testLimitCounterExpiry(t, h)
		})
	})
}

// openFresh opens a new empty store that is closed when the test ends.
func openFresh(t *testing.T, h Harness) store.Store {
	t.Helper()
	return openWith(t, h.New(t))
}

// openWith opens a handle with open and closes it when the test ends (Close
// is idempotent, so tests may close it earlier).
func openWith(t *testing.T, open func() store.Store) store.Store {
	t.Helper()
	s := open()
	if s == nil {
		t.Fatal("harness returned a nil store")
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing store: %v", err)
		}
	})
	return s
}

// now returns the current time at the precision every driver keeps
// (PostgreSQL stores microseconds).
func now() time.Time {
	return time.Now().UTC().Truncate(time.Microsecond)
}

// newHash returns a random token hash.
func newHash(t *testing.T) store.TokenHash {
	t.Helper()
	var h store.TokenHash
	if _, err := rand.Read(h[:]); err != nil {
		t.Fatal(err)
	}
	return h
}

// newApp returns an app with every field set.
func newApp(id int64) store.App {
	ts := now()
	return store.App{
		ID:                       id,
		Name:                     fmt.Sprintf("app %d", id),
		AuthKey:                  fmt.Sprintf("6f1c2b8e-0d4a-4c55-9a57-%012d", id),
		PreviousAuthKey:          fmt.Sprintf("0a1b2c3d-0d4a-4c55-9a57-%012d", id),
		PreviousAuthKeyExpiresAt: ts.Add(time.Hour),
		AuthSecret:               "secret",
		Stage:                    store.StageDevelopment,
		SessionWithoutUser:       store.PermissionAllow,
		RequireSignature:         true,
		ListUsers:                store.PermissionDeny,
		GuestSessions:            store.PermissionAllow,
		UserFields:               map[string]string{"email": store.VisibilityPublic, "custom_data": store.VisibilityPrivate},
		MinPasswordLength:        12,
		Pinned:                   []string{"stage", "auth_key"},
		CreatedAt:                ts,
		UpdatedAt:                ts,
	}
}

// newUser returns a user of app with login and email, and every other field
// set so that a driver that drops one is caught.
func newUser(appID int64, login, email string) store.User {
	ts := now()
	tz := 3
	return store.User{
		AppID:         appID,
		Login:         login,
		Email:         email,
		FullName:      "Full " + login,
		Phone:         "+380501234567",
		Website:       "https://example.test/" + login,
		CustomData:    `{"level":1}`,
		Tags:          "a,b",
		ExternalID:    "ext-" + login,
		FacebookID:    "fb-" + login,
		TwitterID:     "tw-" + login,
		Avatar:        "avatar.png",
		Timezone:      &tz,
		PasswordHash:  "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
		CreatedAt:     ts,
		UpdatedAt:     ts,
		LastRequestAt: ts,
	}
}

// newSession returns a session of app and user (zero for an app session)
// that stays valid for an hour.
func newSession(t *testing.T, appID, userID int64) store.Session {
	t.Helper()
	ts := now()
	return store.Session{
		TokenHash:    newHash(t),
		AppID:        appID,
		UserID:       userID,
		Nonce:        "12345",
		Timestamp:    ts.Unix(),
		CreatedAt:    ts,
		UpdatedAt:    ts,
		ExpiresAt:    ts.Add(time.Hour),
		MaxExpiresAt: ts.Add(24 * time.Hour),
	}
}

func mustPutApp(t *testing.T, s store.Store, app store.App) {
	t.Helper()
	if err := s.PutApp(t.Context(), app); err != nil {
		t.Fatalf("PutApp(%d): %v", app.ID, err)
	}
}

// mustCreateApp creates app with CreateApp and returns it with its ID.
func mustCreateApp(t *testing.T, s store.Store, app store.App) store.App {
	t.Helper()
	if err := s.CreateApp(t.Context(), &app); err != nil {
		t.Fatalf("CreateApp: %v", err)
	}
	if app.ID <= 0 {
		t.Fatalf("CreateApp assigned ID %d, want > 0", app.ID)
	}
	return app
}

func mustCreateUser(t *testing.T, s store.Store, u store.User) store.User {
	t.Helper()
	if err := s.CreateUser(t.Context(), &u); err != nil {
		t.Fatalf("CreateUser(%q, %q): %v", u.Login, u.Email, err)
	}
	if u.ID <= 0 {
		t.Fatalf("CreateUser assigned ID %d, want > 0", u.ID)
	}
	return u
}

func mustCreateSession(t *testing.T, s store.Store, sess store.Session) store.Session {
	t.Helper()
	if err := s.CreateSession(t.Context(), &sess); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	if sess.ID <= 0 {
		t.Fatalf("CreateSession assigned ID %d, want > 0", sess.ID)
	}
	return sess
}

// wantErr fails unless err matches target (nil target: err must be nil).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	switch {
	case target == nil && err != nil:
		t.Fatalf("%s: unexpected error: %v", what, err)
	case target != nil && !errors.Is(err, target):
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// normalizeApp, normalizeUser and normalizeSession make values comparable
// with reflect.DeepEqual: times in UTC without monotonic readings, empty
// slices as nil.
func normalizeApp(a store.App) store.App {
	a.PreviousAuthKeyExpiresAt = a.PreviousAuthKeyExpiresAt.UTC()
	a.CreatedAt = a.CreatedAt.UTC()
	a.UpdatedAt = a.UpdatedAt.UTC()
	if len(a.Pinned) == 0 {
		a.Pinned = nil
	}
	return a
}

func normalizeUser(u store.User) store.User {
	u.CreatedAt = u.CreatedAt.UTC()
	u.UpdatedAt = u.UpdatedAt.UTC()
	u.LastRequestAt = u.LastRequestAt.UTC()
	u.ExpiresAt = u.ExpiresAt.UTC()
	return u
}

func normalizeSession(s store.Session) store.Session {
	s.CreatedAt = s.CreatedAt.UTC()
	s.UpdatedAt = s.UpdatedAt.UTC()
	s.ExpiresAt = s.ExpiresAt.UTC()
	s.MaxExpiresAt = s.MaxExpiresAt.UTC()
	return s
}

func wantApp(t *testing.T, what string, got, want store.App) {
	t.Helper()
	if g, w := normalizeApp(got), normalizeApp(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

func wantUser(t *testing.T, what string, got, want store.User) {
	t.Helper()
	if g, w := normalizeUser(got), normalizeUser(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

func wantSession(t *testing.T, what string, got, want store.Session) {
	t.Helper()
	if g, w := normalizeSession(got), normalizeSession(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

// wantUserIDs fails unless users have exactly these IDs in this order.
func wantUserIDs(t *testing.T, what string, users []store.User, ids ...int64) {
	t.Helper()
	got := make([]int64, 0, len(users))
	for _, u := range users {
		got = append(got, u.ID)
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("%s: got user IDs %v, want %v", what, got, ids)
	}
}

// wantSessionIDs fails unless sessions have exactly these IDs in this order.
func wantSessionIDs(t *testing.T, what string, sessions []store.Session, ids ...int64) {
	t.Helper()
	got := make([]int64, 0, len(sessions))
	for _, s := range sessions {
		got = append(got, s.ID)
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("%s: got session IDs %v, want %v", what, got, ids)
	}
}

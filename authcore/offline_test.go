package authcore

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/store"
)

// unreachableStore fails every session read and write with
// store.ErrUnavailable while down is set, as a store whose database is gone.
type unreachableStore struct {
	store.Store
	down atomic.Bool
}

func (u *unreachableStore) GetSession(ctx context.Context, h store.TokenHash) (store.Session, error) {
	if u.down.Load() {
		return store.Session{}, fmt.Errorf("getting session: %w", store.ErrUnavailable)
	}
	return u.Store.GetSession(ctx, h)
}

func (u *unreachableStore) TouchSession(ctx context.Context, h store.TokenHash, at time.Time) error {
	if u.down.Load() {
		return fmt.Errorf("touching session: %w", store.ErrUnavailable)
	}
	return u.Store.TouchSession(ctx, h, at)
}

func TestCachedSessionsOutliveAnUnreachableStoreForTheOfflineGraceOnly(t *testing.T) {
	f := newFixture(t)
	st := &unreachableStore{Store: f.st}
	svc := New(st, Options{Now: f.clock.Now, Hasher: NewHasher(testParams, 1, time.Second), OfflineGrace: 5 * time.Minute})
	t.Cleanup(svc.Close)
	ctx := context.Background()
	login := func(name string) string {
		res, err := svc.CreateSession(ctx, SessionRequest{ClientIP: "192.0.2.1", Params: Params{
			"application_id": "1", "auth_key": testAppKey, "user[login]": name, "user[password]": "supersecret",
		}})
		if err != nil {
			t.Fatalf("login %s: %v", name, err)
		}
		return res.Token
	}
	cached, uncached := login("frank"), login("grace")
	if _, err := svc.Authenticate(ctx, cached); err != nil {
		t.Fatal(err)
	}

	st.down.Store(true)
	if _, err := svc.Authenticate(ctx, uncached); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("an uncached session while the store is down: err = %v, want ErrUnavailable", err)
	}
	for _, step := range []time.Duration{0, 2 * time.Minute, 2 * time.Minute, 59 * time.Second} {
		f.clock.Advance(step)
		if _, err := svc.Authenticate(ctx, cached); err != nil {
			t.Fatalf("a cached session %v into the outage: %v", step, err)
		}
	}
	f.clock.Advance(2 * time.Second) // 5m1s since the store first failed
	if _, err := svc.Authenticate(ctx, cached); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a cached session past the offline grace: err = %v, want ErrUnavailable", err)
	}

	// Back without a restart: both sessions work again.
	st.down.Store(false)
	for _, token := range []string{cached, uncached} {
		if _, err := svc.Authenticate(ctx, token); err != nil {
			t.Fatalf("after the store came back: %v", err)
		}
	}
}

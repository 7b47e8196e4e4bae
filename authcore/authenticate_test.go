package authcore

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/store"
)

// readCountingStore counts the reads that validating a token makes.
type readCountingStore struct {
	store.Store
	sessionReads, userReads atomic.Int64
}

func (c *readCountingStore) GetSession(ctx context.Context, h store.TokenHash) (store.Session, error) {
	c.sessionReads.Add(1)
	return c.Store.GetSession(ctx, h)
}

func (c *readCountingStore) GetUser(ctx context.Context, appID, userID int64) (store.User, error) {
	c.userReads.Add(1)
	return c.Store.GetUser(ctx, appID, userID)
}

func TestAuthenticateReadsOnlyTheSessionAndFollowsALoginChange(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	token := f.mustLogin(t, "erin").Token
	reads := &readCountingStore{Store: f.st}
	uncached := New(reads, Options{Now: f.clock.Now, CacheSize: -1, Hasher: NewHasher(testParams, 1, time.Second)})
	defer uncached.Close()

	id, err := uncached.Authenticate(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	if id.Login != "erin" || id.UserID == 0 {
		t.Fatalf("Authenticate = %+v, want user erin", id)
	}
	if s, u := reads.sessionReads.Load(), reads.userReads.Load(); s != 1 || u != 0 {
		t.Fatalf("Authenticate from the store read %d sessions and %d users, want 1 and 0", s, u)
	}

	if _, err := f.svc.Authenticate(ctx, token); err != nil { // now cached
		t.Fatal(err)
	}
	login := "erin.new"
	if _, err := f.svc.UpdateUser(ctx, id, id.UserID, UserInput{Login: &login}, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	for name, svc := range map[string]*Service{"cached": f.svc, "uncached": uncached} {
		got, err := svc.Authenticate(ctx, token)
		if err != nil {
			t.Fatalf("%s: Authenticate after the rename: %v", name, err)
		}
		if got.Login != login {
			t.Fatalf("%s: Authenticate after the rename: login %q, want %q", name, got.Login, login)
		}
	}
	if u := reads.userReads.Load(); u != 0 {
		t.Fatalf("Authenticate read %d users, want 0", u)
	}
}

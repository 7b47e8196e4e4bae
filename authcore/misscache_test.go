package authcore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/store"
)

// sessionReadStore counts session reads, and runs during calls to
// GetSession whatever duringRead says (another request arriving meanwhile).
type sessionReadStore struct {
	store.Store
	reads      atomic.Int64
	duringRead func()
}

func (c *sessionReadStore) GetSession(ctx context.Context, h store.TokenHash) (store.Session, error) {
	c.reads.Add(1)
	if f := c.duringRead; f != nil {
		f()
	}
	return c.Store.GetSession(ctx, h)
}

func randomToken() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newReadCountingService is a second Service over the fixture's store that
// counts its session reads.
func newReadCountingService(t *testing.T) (*fixture, *sessionReadStore, *Service) {
	f := newFixture(t)
	reads := &sessionReadStore{Store: f.st}
	svc := New(reads, Options{Now: f.clock.Now, Hasher: f.svc.hasher})
	t.Cleanup(func() { svc.unsubscribe() }) // the Hasher is the fixture's to close
	return f, reads, svc
}

func TestUnknownTokensDoNotKeepAValidSessionFromTheCache(t *testing.T) {
	f, reads, svc := newReadCountingService(t)
	ctx := context.Background()
	token := f.mustLogin(t, "paula").Token

	var arrived atomic.Bool
	reads.duringRead = func() {
		if arrived.CompareAndSwap(false, true) { // an unknown token arrives while the valid one is read
			if _, err := svc.Authenticate(ctx, randomToken()); !errors.Is(err, ErrSessionNotFound) {
				t.Errorf("unknown token: %v", err)
			}
		}
	}
	for i := range 3 {
		if _, err := svc.Authenticate(ctx, token); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	// One read for the valid session, one for the unknown token.
	if n := reads.reads.Load(); n != 2 {
		t.Fatalf("%d session reads for 3 requests of one valid session beside an unknown token, want 2", n)
	}
}

func TestARepeatedUnknownTokenCostsOneStoreReadPerMissTTL(t *testing.T) {
	f, reads, svc := newReadCountingService(t)
	ctx := context.Background()
	bogus := randomToken()
	for range 10 {
		if _, err := svc.Authenticate(ctx, bogus); !errors.Is(err, ErrSessionNotFound) {
			t.Fatal(err)
		}
	}
	if n := reads.reads.Load(); n != 1 {
		t.Fatalf("10 requests with one bogus token read the store %d times, want 1", n)
	}
	f.clock.Advance(missTTL)
	_, _ = svc.Authenticate(ctx, bogus)
	if n := reads.reads.Load(); n != 2 {
		t.Fatalf("after the miss TTL: %d reads, want 2", n)
	}
}

func TestASessionCreatedElsewhereUnderAHashThatMissedWorksOnceTheMissExpires(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	token := randomToken()
	if _, err := f.svc.Authenticate(ctx, token); !errors.Is(err, ErrSessionNotFound) {
		t.Fatal(err)
	}
	now := f.clock.Now()
	sess := store.Session{AppID: 1, TokenHash: HashToken(token), CreatedAt: now, UpdatedAt: now,
		ExpiresAt: now.Add(time.Hour), MaxExpiresAt: now.Add(time.Hour)}
	if err := f.st.CreateSession(ctx, &sess); err != nil { // as another node would
		t.Fatal(err)
	}
	f.clock.Advance(missTTL)
	if _, err := f.svc.Authenticate(ctx, token); err != nil {
		t.Fatalf("after the miss TTL: %v", err)
	}
}

func TestTheMissCacheStaysBounded(t *testing.T) {
	c := newMissCache(1024)
	now := time.Now()
	for range 100_000 {
		c.add(HashToken(randomToken()), now)
	}
	if n := c.len(); n > 1024 {
		t.Fatalf("%d misses held, want at most 1024", n)
	}
	h := HashToken(randomToken())
	c.add(h, now)
	if !c.has(h, now) {
		t.Fatal("the newest miss is not held")
	}
	c.forget(h)
	if c.has(h, now) {
		t.Fatal("a forgotten miss is still held")
	}
}

// BenchmarkAuthenticateDuringATokenFlood is valid-session validation from
// the cache, alone and while other goroutines send random tokens as fast
// as they can (each a store read, then a negative-cache entry).
//
//	go test ./authcore/ -run '^$' -bench AuthenticateDuringATokenFlood -benchmem
func BenchmarkAuthenticateDuringATokenFlood(b *testing.B) {
	for _, flooders := range []int{0, 2} {
		b.Run("flooders="+strconv.Itoa(flooders), func(b *testing.B) {
			s := benchService(b, func(o *Options) { o.Hasher = NewHasher(testParams, 1, time.Second) })
			tokens := make([]string, 1000)
			for i := range tokens {
				tokens[i] = mustCreateSession(b, s, appSessionParams())
			}
			ctx := context.Background()
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var flooded atomic.Int64
			for range flooders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						_, _ = s.Authenticate(ctx, randomToken())
						flooded.Add(1)
					}
				}()
			}
			b.ResetTimer()
			i := 0
			for b.Loop() {
				if _, err := s.Authenticate(ctx, tokens[i%len(tokens)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.StopTimer()
			close(stop)
			wg.Wait()
			b.ReportMetric(float64(flooded.Load())/b.Elapsed().Seconds(), "bogus/s")
		})
	}
}

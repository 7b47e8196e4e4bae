package authcore

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/cubeauth/cubeauth/store"
	badgerstore "github.com/cubeauth/cubeauth/store/badger"
)

// Benchmarks of the costs BENCHMARKS.md reports. They run only with -bench;
// names are benchstat-friendly (sub-benchmarks as key=value).
//
//	go test ./authcore/ -run '^$' -bench . -benchmem

const benchPassword = "correct horse battery staple"

// benchService is a Service over a Badger store in a temporary directory,
// with the abuse limits off (every benchmark request comes from one IP) and
// real OWASP hashing unless configured otherwise.
func benchService(b *testing.B, configure ...func(*Options)) *Service {
	b.Helper()
	bs, err := badgerstore.Open(badgerstore.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = bs.Close() })
	opts := Options{Limits: &Limits{}}
	for _, c := range configure {
		c(&opts)
	}
	s := New(bs, opts)
	b.Cleanup(s.Close)
	app := store.App{ID: 1, AuthKey: testAppKey, AuthSecret: testAppSecret, Stage: store.StageDevelopment}
	if err := s.ApplyConfigApp(context.Background(), app, []string{FieldAuthKey, FieldAuthSecret, FieldStage}); err != nil {
		b.Fatal(err)
	}
	return s
}

func appSessionParams() Params {
	return Params{"application_id": "1", "auth_key": testAppKey}
}

func userSessionParams(login string) Params {
	return Params{"application_id": "1", "auth_key": testAppKey,
		"user[login]": login, "user[password]": benchPassword}
}

func mustCreateSession(b *testing.B, s *Service, p Params) string {
	b.Helper()
	res, err := s.CreateSession(context.Background(), SessionRequest{Params: p, ClientIP: "127.0.0.1"})
	if err != nil {
		b.Fatal(err)
	}
	return res.Token
}

// BenchmarkAuthenticate is the proxied path's validation of a user token:
// from the in-memory cache, and from Badger with the cache disabled
// (Options.CacheSize = -1: one session read per request, which brings the
// user's login along).
func BenchmarkAuthenticate(b *testing.B) {
	for _, bc := range []struct {
		name      string
		cacheSize int
	}{{"from=cache", 0}, {"from=badger", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			s := benchService(b, func(o *Options) {
				o.CacheSize = bc.cacheSize
				o.Hasher = NewHasher(testParams, 2, time.Second)
			})
			token := mustCreateSession(b, s, userSessionParams("alice"))
			ctx := context.Background()
			b.Run("par=1", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := s.Authenticate(ctx, token); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("par=%d", runtime.GOMAXPROCS(0)), func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := s.Authenticate(ctx, token); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}

// BenchmarkAuthenticateScale validates tokens drawn from among n stored
// sessions, so a flat cost from 1,000 to 1,000,000 shows that neither the
// cache nor Badger slows down with size. The 1,000,000 case takes a while
// to load; it runs when CUBEAUTH_BENCH_SCALE=1.
func BenchmarkAuthenticateScale(b *testing.B) {
	sizes := []int{1_000, 100_000}
	if os.Getenv("CUBEAUTH_BENCH_SCALE") != "" {
		sizes = append(sizes, 1_000_000)
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) {
			// Both services share one store: the sessions are loaded once.
			// The cache bounds each of its 64 shards to CacheSize/64; the
			// headroom keeps the fullest shard from evicting.
			cached := benchService(b, func(o *Options) { o.CacheSize = n + n/8 + 2048 })
			uncached := New(cached.Store(), Options{CacheSize: -1, Limits: &Limits{}})
			b.Cleanup(uncached.Close)
			tokens := loadSessions(b, cached.Store(), n)
			ctx := context.Background()
			for _, c := range []struct {
				name string
				s    *Service
			}{{"from=cache", cached}, {"from=badger", uncached}} {
				// Warm the cache with every session, as a long-running
				// server would have it.
				for _, t := range tokens {
					if _, err := c.s.Authenticate(ctx, t); err != nil {
						b.Fatal(err)
					}
				}
				b.Run(c.name, func(b *testing.B) {
					b.ReportAllocs()
					i := 0
					for b.Loop() {
						if _, err := c.s.Authenticate(ctx, tokens[i%len(tokens)]); err != nil {
							b.Fatal(err)
						}
						i += 7919 // a prime stride: no locality between requests
					}
				})
			}
		})
	}
}

// loadSessions stores n app sessions with known tokens through the store
// API, from many goroutines so that group sync amortizes the fsyncs.
func loadSessions(b *testing.B, st store.Store, n int) []string {
	b.Helper()
	tokens := make([]string, n)
	now := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				var raw [16]byte
				rand.Read(raw[:])
				tokens[i] = fmt.Sprintf("%x%016x", raw, i)
				sess := store.Session{
					TokenHash: HashToken(tokens[i]), AppID: 1, CreatedAt: now, UpdatedAt: now,
					ExpiresAt: now.Add(2 * time.Hour), MaxExpiresAt: now.Add(720 * time.Hour),
				}
				if err := st.CreateSession(context.Background(), &sess); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	return tokens
}

// BenchmarkCreateSession measures session creation with real OWASP argon2id
// parameters: app sessions (no hashing; one fsynced write, shared by
// concurrent creations), and user sessions for an existing user (one
// argon2id comparison plus that write). Compare the latter with
// BenchmarkArgon2id.
func BenchmarkCreateSession(b *testing.B) {
	b.Run("kind=app/par=1", func(b *testing.B) {
		s := benchService(b)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.CreateSession(ctx, SessionRequest{Params: appSessionParams(), ClientIP: "127.0.0.1"}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sessions/s")
	})
	// Concurrent clients are what group commit is for: 64 creations in
	// flight share each fsync.
	b.Run("kind=app/par=64", func(b *testing.B) {
		s := benchService(b)
		ctx := context.Background()
		b.ReportAllocs()
		b.SetParallelism(64 / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.CreateSession(ctx, SessionRequest{Params: appSessionParams(), ClientIP: "127.0.0.1"}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sessions/s")
	})
	b.Run("kind=user/par=1", func(b *testing.B) {
		s := benchService(b)
		ctx := context.Background()
		mustCreateSession(b, s, userSessionParams("alice")) // creates alice
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.CreateSession(ctx, SessionRequest{Params: userSessionParams("alice"), ClientIP: "127.0.0.1"}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sessions/s")
	})
	// As many logins at once as the hasher runs (one per CPU by default),
	// each for its own user.
	b.Run(fmt.Sprintf("kind=user/par=%d", runtime.GOMAXPROCS(0)), func(b *testing.B) {
		s := benchService(b)
		ctx := context.Background()
		var users atomic.Int64
		for i := range runtime.GOMAXPROCS(0) {
			mustCreateSession(b, s, userSessionParams("user"+strconv.Itoa(i)))
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			p := userSessionParams("user" + strconv.Itoa(int(users.Add(1)-1)%runtime.GOMAXPROCS(0)))
			for pb.Next() {
				if _, err := s.CreateSession(ctx, SessionRequest{Params: p, ClientIP: "127.0.0.1"}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sessions/s")
	})
}

// benchUserSessionOverArgon2id measures what a user session costs beyond
// the argon2id hash it contains, side by side: each iteration creates one
// session for an existing user, then runs one raw argon2.IDKey with the same
// parameters in this goroutine, timing each. Machine load changes both
// alike, so overhead-% (session time / hash time − 1) holds still where the
// two separate benchmarks drift apart. BenchmarkUserSessionOverArgon2id
// (bench_workers_test.go) runs it with h in-process and with worker
// processes, as Caddy runs it by default.
func benchUserSessionOverArgon2id(b *testing.B, h *Hasher) {
	s := benchService(b, func(o *Options) { o.Hasher = h })
	ctx := context.Background()
	mustCreateSession(b, s, userSessionParams("alice")) // creates alice
	p := DefaultArgon2Params
	salt := make([]byte, saltLen)
	rand.Read(salt)
	var inSessions, inHashes time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := s.CreateSession(ctx, SessionRequest{Params: userSessionParams("alice"), ClientIP: "127.0.0.1"}); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		argon2.IDKey([]byte(benchPassword), salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
		inSessions, inHashes = inSessions+mid.Sub(start), inHashes+time.Since(mid)
	}
	n := float64(b.N)
	b.ReportMetric(float64(inSessions.Microseconds())/n, "session-µs")
	b.ReportMetric(float64(inHashes.Microseconds())/n, "argon2id-µs")
	b.ReportMetric(100*(float64(inSessions)/float64(inHashes)-1), "overhead-%")
}

// BenchmarkArgon2id is one raw argon2id hash with the OWASP parameters
// (m=19 MiB, t=2, p=1): the floor under user-session creation.
func BenchmarkArgon2id(b *testing.B) {
	p := DefaultArgon2Params
	salt := make([]byte, saltLen)
	rand.Read(salt)
	b.Run("par=1", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			argon2.IDKey([]byte(benchPassword), salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hashes/s")
	})
	b.Run(fmt.Sprintf("par=%d", runtime.GOMAXPROCS(0)), func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				argon2.IDKey([]byte(benchPassword), salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hashes/s")
	})
}

// BenchmarkHasherVerify is a password check through the Hasher (a turn,
// PHC parsing, argon2id, constant-time compare) with the OWASP parameters:
// between BenchmarkArgon2id and a user-session creation.
func BenchmarkHasherVerify(b *testing.B) {
	h := NewHasher(DefaultArgon2Params, 1, time.Minute)
	ctx := context.Background()
	encoded, err := h.Hash(ctx, benchPassword)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, _, err := h.Verify(ctx, encoded, benchPassword); !ok || err != nil {
			b.Fatal("password refused", err)
		}
	}
}

// BenchmarkVerifySignature is the legacy signed flow's check of a
// ConnectyCube SDK's session request.
func BenchmarkVerifySignature(b *testing.B) {
	p := Params{
		"application_id": "1", "auth_key": testAppKey, "nonce": "1234567",
		"timestamp":   strconv.FormatInt(time.Now().Unix(), 10),
		"user[login]": "alice", "user[password]": benchPassword,
	}
	for _, alg := range []struct {
		name   string
		sha256 bool
	}{{"hmac=sha1", false}, {"hmac=sha256", true}} {
		b.Run(alg.name, func(b *testing.B) {
			sig := Sign(p, testAppSecret, alg.sha256)
			b.ReportAllocs()
			for b.Loop() {
				if !VerifySignature(p, testAppSecret, sig) {
					b.Fatal("signature refused")
				}
			}
		})
	}
}

// BenchmarkHashToken is the SHA-256 of a 64-character token, the part of
// validation that cannot be cached.
func BenchmarkHashToken(b *testing.B) {
	token, _ := newToken()
	b.ReportAllocs()
	for b.Loop() {
		HashToken(token)
	}
}

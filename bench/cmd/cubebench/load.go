package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cubeauth/cubeauth/authcore"
	"github.com/cubeauth/cubeauth/store"
	badgerstore "github.com/cubeauth/cubeauth/store/badger"
)

// loadWriters is how many goroutines write at once during a bulk load:
// enough that each group fsync covers many commits.
const loadWriters = 256

// loadedToken is the token of the i-th loaded session. Tokens are derived,
// not stored, so that any of a million can be named later.
func loadedToken(i int) string {
	sum := sha256.Sum256([]byte("cubebench session " + strconv.Itoa(i)))
	return hex.EncodeToString(sum[:])
}

// loadedLogin is the login of the i-th loaded user.
func loadedLogin(i int) string { return fmt.Sprintf("bulk%07d", i) }

// loadStats says how long a bulk load took.
type loadStats struct {
	users, sessions     int
	usersTook, sessTook time.Duration
	dirBytes            int64
}

// bulkLoad fills the Badger store in dir with n users of app 1 (all with
// one precomputed PHC hash of password: hashing a million passwords would
// take hours) and n user sessions, session i belonging to user i, through
// the store API, before Caddy opens the directory.
func bulkLoad(dir string, n int, password string) (loadStats, error) {
	st, err := badgerstore.Open(badgerstore.Options{Dir: dir})
	if err != nil {
		return loadStats{}, err
	}
	ctx := context.Background()
	app := store.App{ID: 1, AuthKey: benchAuthKey, Stage: store.StageDevelopment, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := st.PutApp(ctx, app); err != nil {
		st.Close()
		return loadStats{}, fmt.Errorf("storing app: %w", err)
	}
	hash, err := authcore.NewHasher(authcore.DefaultArgon2Params, 1, time.Minute).Hash(ctx, password)
	if err != nil {
		st.Close()
		return loadStats{}, err
	}
	userIDs := make([]int64, n)
	stats := loadStats{users: n, sessions: n}
	start := time.Now()
	err = parallel(n, func(i int) error {
		now := time.Now()
		u := store.User{AppID: 1, Login: loadedLogin(i), PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
		if err := st.CreateUser(ctx, &u); err != nil {
			return fmt.Errorf("creating user %d: %w", i, err)
		}
		userIDs[i] = u.ID
		return nil
	})
	stats.usersTook = time.Since(start)
	if err != nil {
		st.Close()
		return stats, err
	}
	start = time.Now()
	err = parallel(n, func(i int) error {
		now := time.Now()
		sess := store.Session{
			TokenHash: authcore.HashToken(loadedToken(i)), AppID: 1, UserID: userIDs[i],
			CreatedAt: now, UpdatedAt: now, Timestamp: now.Unix(),
			ExpiresAt: now.Add(2 * time.Hour), MaxExpiresAt: now.Add(720 * time.Hour),
		}
		if err := st.CreateSession(ctx, &sess); err != nil {
			return fmt.Errorf("creating session %d: %w", i, err)
		}
		return nil
	})
	stats.sessTook = time.Since(start)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	stats.dirBytes = dirSize(dir)
	return stats, err
}

// parallel calls fn(0..n-1) from loadWriters goroutines and returns the
// first error.
func parallel(n int, fn func(i int) error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for range min(n, loadWriters) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					next.Store(int64(n))
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// writeTokenFile writes the tokens of the first n loaded sessions, one per
// line, for rotatingScript.
func writeTokenFile(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for i := range n {
		w.WriteString(loadedToken(i))
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

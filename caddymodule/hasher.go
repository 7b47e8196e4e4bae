package caddymodule

import (
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/cubeauth/cubeauth/authcore"
	"github.com/cubeauth/cubeauth/hashworker"
)

// Importing hashworker also installs its init hook in every Caddy built
// with cubeauth: a worker is this executable, re-run.

// hashers holds the password hashers in use, one per set of settings, so
// that hash_concurrency bounds the hashing of the whole process: every
// handler and store, and both configs of a reload, share one Hasher.
var hashers = caddy.NewUsagePool()

// hasherSettings are what makes two hashers different.
type hasherSettings struct {
	params      authcore.Argon2Params
	concurrency int
	wait        time.Duration
	inProcess   bool
}

func (s hasherSettings) key() string {
	return fmt.Sprintf("hasher:%d/%d/%d/%d/%s/%t", s.params.MemoryKiB, s.params.Time, s.params.Threads,
		s.concurrency, s.wait, s.inProcess)
}

// pooledHasher lets the pool stop a Hasher's workers when its last user is
// gone.
type pooledHasher struct{ *authcore.Hasher }

// Destruct stops the worker processes.
func (p pooledHasher) Destruct() error {
	p.Close()
	return nil
}

// acquireHasher returns the process's Hasher for these settings. Workers
// start at the first login, so acquiring (and caddy validate) starts no
// process.
func acquireHasher(s hasherSettings, logger *zap.Logger) (*authcore.Hasher, string, error) {
	key := s.key()
	val, _, err := hashers.LoadOrNew(key, func() (caddy.Destructor, error) {
		h := authcore.NewHasher(s.params, s.concurrency, s.wait)
		if !s.inProcess {
			pool, err := hashworker.New(s.concurrency, func(err error) {
				logger.Warn("hash worker could not start; hashing in Caddy's process for a minute", zap.Error(err))
			})
			if err != nil {
				logger.Warn("password hashing stays in Caddy's process", zap.Error(err))
			} else {
				h.UseDeriver(pool)
			}
		}
		return pooledHasher{h}, nil
	})
	if err != nil {
		return nil, "", err
	}
	return val.(pooledHasher).Hasher, key, nil
}

func releaseHasher(key string) error {
	_, err := hashers.Delete(key)
	return err
}

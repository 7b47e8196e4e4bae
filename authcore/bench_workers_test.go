package authcore_test

import (
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/authcore"
	"github.com/cubeauth/cubeauth/hashworker"
)

// BenchmarkUserSessionOverArgon2id: see benchUserSessionOverArgon2id. With
// hasher=workers the session's hash runs in a worker process (a copy of this
// test binary, which links hashworker's init), as Caddy runs it by default.
func BenchmarkUserSessionOverArgon2id(b *testing.B) {
	for _, hasher := range []string{"in-process", "workers"} {
		b.Run("hasher="+hasher, func(b *testing.B) {
			h := authcore.NewHasher(authcore.DefaultArgon2Params, 1, time.Minute)
			if hasher == "workers" {
				pool, err := hashworker.New(1, func(err error) { b.Error(err) })
				if err != nil {
					b.Fatal(err)
				}
				h.UseDeriver(pool)
			}
			authcore.BenchUserSessionOverArgon2id(b, h)
		})
	}
}

package badger

import (
	"os"
	"strconv"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/cubeauth/cubeauth/store"
	"github.com/cubeauth/cubeauth/store/storetest"
)

// BenchmarkUserQueries runs storetest's user queries over
// CUBEAUTH_BENCH_USERS users (default 1,000,000), loaded once per run into
// a Badger store in a temporary directory:
//
//	go test -run '^$' -bench UserQueries -benchtime 200x ./store/badger/
func BenchmarkUserQueries(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("CUBEAUTH_BENCH_USERS")); err == nil && v > 0 {
		n = v
	}
	s, err := Open(Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.PutApp(b.Context(), store.App{ID: 1, AuthKey: "k", Stage: store.StageDevelopment}); err != nil {
		b.Fatal(err)
	}
	// The fast path of the loader: putUser, as CreateUser writes, in
	// batches, with IDs 1..n.
	const batch = 2000
	for start := 0; start < n; start += batch {
		err := s.db.Update(func(txn *badger.Txn) error {
			for i := start; i < min(start+batch, n); i++ {
				u := storetest.BenchUser(i)
				u.ID = int64(i + 1)
				if err := putUser(txn, &u); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	storetest.BenchmarkUserQueries(b, s, n)
}

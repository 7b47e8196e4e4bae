package postgres

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/internal/testpg"
	"github.com/cubeauth/cubeauth/store"
)

// TestImportUsers100k times ImportUsers of 100,000 users in batches of
// store.MaxImportBatch on a private PostgreSQL cluster (BENCHMARKS.md). It
// runs only with CUBEAUTH_IMPORT_BENCH=1.
func TestImportUsers100k(t *testing.T) {
	if os.Getenv("CUBEAUTH_IMPORT_BENCH") != "1" {
		t.Skip("set CUBEAUTH_IMPORT_BENCH=1")
	}
	s := openStore(t, testpg.Schema(t))
	now := time.Now()
	if err := s.PutApp(t.Context(), store.App{ID: 1, AuthKey: "k", Stage: store.StageDevelopment, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	const n = 100_000
	start := time.Now()
	for b := 0; b < n; b += store.MaxImportBatch {
		batch := make([]store.User, store.MaxImportBatch)
		for i := range batch {
			batch[i] = store.User{Login: fmt.Sprintf("bench%06d", b+i), Email: fmt.Sprintf("bench%06d@example.com", b+i),
				FullName: "Bench User", PasswordHash: "$2b$04$ol0FD1/f.SCRV.mCj9k5uONZaPDVyLX8m9WsqxYMvJoOzB1QGUDNa",
				CreatedAt: now, UpdatedAt: now}
		}
		if err := s.ImportUsers(t.Context(), 1, batch); err != nil {
			t.Fatal(err)
		}
	}
	imported := time.Since(start)
	start = time.Now()
	var after int64
	count := 0
	for {
		page, err := s.ScanUsers(t.Context(), 1, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		count += len(page)
		after = page[len(page)-1].ID
	}
	if count != n {
		t.Fatalf("scanned %d", count)
	}
	t.Logf("PostgreSQL: ImportUsers %d users: %v; ScanUsers all: %v", n, imported, time.Since(start))
}

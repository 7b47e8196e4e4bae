package storetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cubeauth/cubeauth/store"
)

func testUserImports(t *testing.T, h Harness) {
	t.Run("an imported batch is stored whole, findable by every index, with its hashes", func(t *testing.T) {
		s := openWith(t, h.New(t))
		mustPutApp(t, s, newApp(1))
		batch := make([]store.User, 50)
		for i := range batch {
			batch[i] = newUser(0, fmt.Sprintf("imp%d", i), fmt.Sprintf("imp%d@example.test", i))
			batch[i].PasswordHash = fmt.Sprintf("$2b$04$hash%d", i)
		}
		if err := s.ImportUsers(t.Context(), 1, batch); err != nil {
			t.Fatalf("ImportUsers: %v", err)
		}
		seen := map[int64]bool{}
		for i, u := range batch {
			if u.ID <= 0 || seen[u.ID] || u.AppID != 1 {
				t.Fatalf("user %d: ID %d, app %d", i, u.ID, u.AppID)
			}
			seen[u.ID] = true
			got, err := s.GetUserByLogin(t.Context(), 1, u.Login)
			if err != nil || got.ID != u.ID || got.PasswordHash != u.PasswordHash {
				t.Fatalf("GetUserByLogin(%q): %+v, %v", u.Login, got, err)
			}
			if got, err := s.GetUserByEmail(t.Context(), 1, u.Email); err != nil || got.ID != u.ID {
				t.Fatalf("GetUserByEmail(%q): %+v, %v", u.Email, got, err)
			}
		}
		if _, total, err := s.ListUsers(t.Context(), store.UserQuery{AppID: 1, Limit: 10}); err != nil || total != len(batch) {
			t.Fatalf("ListUsers: total %d, %v", total, err)
		}
		// ScanUsers pages through them all in ID order.
		var after int64
		var scanned []store.User
		for {
			page, err := s.ScanUsers(t.Context(), 1, after, 7)
			if err != nil || len(page) > 7 {
				t.Fatalf("ScanUsers: %d users, %v", len(page), err)
			}
			if len(page) == 0 {
				break
			}
			scanned = append(scanned, page...)
			after = page[len(page)-1].ID
		}
		if len(scanned) != len(batch) {
			t.Fatalf("ScanUsers found %d users, want %d", len(scanned), len(batch))
		}
		for i, u := range scanned {
			if u.ID != batch[i].ID || u.PasswordHash != batch[i].PasswordHash {
				t.Fatalf("scan %d: user %d, want %d", i, u.ID, batch[i].ID)
			}
		}
	})
	t.Run("a collision, stored or within the batch, stores nothing and names the user", func(t *testing.T) {
		s := openWith(t, h.New(t))
		mustPutApp(t, s, newApp(1))
		mustCreateUser(t, s, newUser(1, "taken", "taken@example.test"))
		for _, c := range []struct {
			name  string
			batch []store.User
			index int
			want  error
		}{
			{"stored login", []store.User{newUser(1, "a1", "a1@example.test"), newUser(1, "taken", "x@example.test")}, 1, store.ErrLoginTaken},
			{"stored email", []store.User{newUser(1, "b1", "b1@example.test"), newUser(1, "b2", "b2@example.test"), newUser(1, "b3", "taken@example.test")}, 2, store.ErrEmailTaken},
			{"within the batch", []store.User{newUser(1, "c1", "c1@example.test"), newUser(1, "c1", "c2@example.test")}, 1, store.ErrLoginTaken},
		} {
			err := s.ImportUsers(t.Context(), 1, c.batch)
			var ie *store.ImportError
			if !errors.As(err, &ie) || ie.Index != c.index || !errors.Is(err, c.want) {
				t.Fatalf("%s: %v, want an ImportError at %d wrapping %v", c.name, err, c.index, c.want)
			}
			if _, err := s.GetUserByLogin(t.Context(), 1, c.batch[0].Login); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("%s: the batch's first user was stored: %v", c.name, err)
			}
		}
		if _, total, err := s.ListUsers(t.Context(), store.UserQuery{AppID: 1, Limit: 10}); err != nil || total != 1 {
			t.Fatalf("ListUsers: total %d, %v, want 1", total, err)
		}
	})
}

package storetest

import (
	"cmp"
	"slices"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/store"
)

func newChatLogin(t *testing.T, appID, userID int64, expiresIn time.Duration) store.ChatLogin {
	return store.ChatLogin{TokenHash: newHash(t), AppID: appID, UserID: userID, ExpiresAt: now().Add(expiresIn)}
}

func testChatLogins(t *testing.T, h Harness) {
	t.Run("chat logins are kept durably, replaced and deleted", testChatLoginsDurable(h))
	t.Run("an expired chat login is not listed", testChatLoginExpiry(h))
}

// sortedChatLogins lists s's chat logins ordered by app and user.
func sortedChatLogins(t *testing.T, s store.Store) []store.ChatLogin {
	t.Helper()
	logins, err := s.ListChatLogins(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(logins, func(a, b store.ChatLogin) int {
		return cmp.Or(cmp.Compare(a.AppID, b.AppID), cmp.Compare(a.UserID, b.UserID))
	})
	return logins
}

func testChatLoginsDurable(h Harness) func(t *testing.T) {
	return func(t *testing.T) {
		open := h.New(t)
		s := open()
		ctx := t.Context()
		a, b, c := newChatLogin(t, 1, 10, time.Hour), newChatLogin(t, 1, 11, time.Hour), newChatLogin(t, 2, 10, time.Hour)
		a.PasswordDigest = [32]byte{1, 2, 3} // a password login
		for _, l := range []store.ChatLogin{a, b, c} {
			if err := s.PutChatLogin(ctx, l); err != nil {
				t.Fatal(err)
			}
		}
		// A second put of one token replaces its record.
		b.UserID, b.ExpiresAt = 12, b.ExpiresAt.Add(time.Hour)
		if err := s.PutChatLogin(ctx, b); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteChatLogin(ctx, c.TokenHash); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteChatLogin(ctx, c.TokenHash); err != nil {
			t.Fatalf("deleting a missing chat login: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = openWith(t, open)
		got := sortedChatLogins(t, s)
		if len(got) != 2 || got[0].TokenHash != a.TokenHash || got[1].TokenHash != b.TokenHash ||
			got[0].AppID != 1 || got[0].UserID != 10 || got[1].UserID != 12 ||
			got[0].PasswordDigest != a.PasswordDigest || got[1].PasswordDigest != ([32]byte{}) ||
			!got[0].ExpiresAt.Equal(a.ExpiresAt) || !got[1].ExpiresAt.Equal(b.ExpiresAt) {
			t.Fatalf("after reopening, ListChatLogins = %+v, want a and the replaced b", got)
		}
	}
}

func testChatLoginExpiry(h Harness) func(t *testing.T) {
	return func(t *testing.T) {
		s := openWith(t, h.New(t))
		live, old := newChatLogin(t, 1, 1, time.Hour), newChatLogin(t, 1, 2, 1500*time.Millisecond)
		for _, l := range []store.ChatLogin{live, old} {
			if err := s.PutChatLogin(t.Context(), l); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(2 * time.Second)
		if got := sortedChatLogins(t, s); len(got) != 1 || got[0].TokenHash != live.TokenHash {
			t.Fatalf("ListChatLogins after one expired = %+v, want only the live one", got)
		}
	}
}

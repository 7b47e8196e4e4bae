package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/store"
)

func testLifecycle(t *testing.T, h Harness) {
	t.Run("data written before Close is there after reopening", func(t *testing.T) {
		open := h.New(t)
		s := openWith(t, open)
		app := newApp(1)
		mustPutApp(t, s, app)
		created := mustCreateApp(t, s, newApp(0))
		u := mustCreateUser(t, s, newUser(1, "alice", "alice@example.test"))
		sess := mustCreateSession(t, s, newSession(t, 1, u.ID))
		wantErr(t, "UseNonce", s.UseNonce(t.Context(), 1, "n:1", time.Hour), nil)
		wantErr(t, "Close", s.Close(), nil)

		s = openWith(t, open)
		gotApp, err := s.GetApp(t.Context(), 1)
		wantErr(t, "GetApp after reopening", err, nil)
		wantApp(t, "app after reopening", gotApp, app)
		gotApp, err = s.GetApp(t.Context(), created.ID)
		wantErr(t, "GetApp of the created app after reopening", err, nil)
		wantApp(t, "created app after reopening", gotApp, created)
		gotUser, err := s.GetUserByLogin(t.Context(), 1, "ALICE")
		wantErr(t, "GetUserByLogin after reopening", err, nil)
		wantUser(t, "user after reopening", gotUser, u)
		gotSession, err := s.GetSession(t.Context(), sess.TokenHash)
		wantErr(t, "GetSession after reopening", err, nil)
		wantSession(t, "session after reopening", gotSession, sess)
		wantErr(t, "UseNonce after reopening", s.UseNonce(t.Context(), 1, "n:1", time.Hour), store.ErrNonceUsed)
		dup := newUser(1, "Alice", "")
		wantErr(t, "CreateUser with a taken login after reopening", s.CreateUser(t.Context(), &dup), store.ErrLoginTaken)

		// IDs handed out before reopening are not handed out again.
		u2 := mustCreateUser(t, s, newUser(1, "bob", "bob@example.test"))
		if u2.ID == u.ID {
			t.Fatalf("CreateUser after reopening reused user ID %d", u.ID)
		}
		sess2 := mustCreateSession(t, s, newSession(t, 1, u2.ID))
		if sess2.ID == sess.ID {
			t.Fatalf("CreateSession after reopening reused session ID %d", sess.ID)
		}
	})

	t.Run("methods after Close fail with ErrUnavailable", func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		u := mustCreateUser(t, s, newUser(1, "alice", "alice@example.test"))
		sess := mustCreateSession(t, s, newSession(t, 1, u.ID))
		wantErr(t, "Close", s.Close(), nil)
		wantErr(t, "Close again", s.Close(), nil)

		ctx := t.Context()
		calls := map[string]func() error{
			"GetApp":    func() error { _, err := s.GetApp(ctx, 1); return err },
			"ListApps":  func() error { _, err := s.ListApps(ctx); return err },
			"PutApp":    func() error { return s.PutApp(ctx, newApp(2)) },
			"CreateApp": func() error { a := newApp(0); return s.CreateApp(ctx, &a) },
			"DeleteApp": func() error { return s.DeleteApp(ctx, 1) },
			"CreateUser": func() error {
				nu := newUser(1, "bob", "")
				return s.CreateUser(ctx, &nu)
			},
			"GetUser":            func() error { _, err := s.GetUser(ctx, 1, u.ID); return err },
			"GetUserByLogin":     func() error { _, err := s.GetUserByLogin(ctx, 1, "alice"); return err },
			"GetUserByEmail":     func() error { _, err := s.GetUserByEmail(ctx, 1, "alice@example.test"); return err },
			"UpdateUser":         func() error { return s.UpdateUser(ctx, u) },
			"DeleteUser":         func() error { return s.DeleteUser(ctx, 1, u.ID) },
			"ListUsers":          func() error { _, _, err := s.ListUsers(ctx, store.UserQuery{AppID: 1}); return err },
			"CreateSession":      func() error { ns := newSession(t, 1, 0); return s.CreateSession(ctx, &ns) },
			"GetSession":         func() error { _, err := s.GetSession(ctx, sess.TokenHash); return err },
			"UpdateSession":      func() error { return s.UpdateSession(ctx, sess) },
			"TouchSession":       func() error { return s.TouchSession(ctx, sess.TokenHash, now().Add(time.Hour)) },
			"DeleteSession":      func() error { return s.DeleteSession(ctx, sess.TokenHash) },
			"DeleteUserSessions": func() error { _, err := s.DeleteUserSessions(ctx, 1, u.ID); return err },
			"ListSessions":       func() error { _, _, err := s.ListSessions(ctx, store.SessionQuery{AppID: 1}); return err },
			"UseNonce":           func() error { return s.UseNonce(ctx, 1, "n", time.Hour) },
		}
		for name, call := range calls {
			if err := call(); !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("%s after Close: got error %v, want ErrUnavailable", name, err)
			}
		}
	})
}

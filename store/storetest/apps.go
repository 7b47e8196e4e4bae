package storetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/cubeauth/cubeauth/store"
)

func testApps(t *testing.T, h Harness) {
	t.Run("a stored app reads back equal", func(t *testing.T) {
		s := openFresh(t, h)
		_, err := s.GetApp(t.Context(), 1)
		wantErr(t, "GetApp before PutApp", err, store.ErrNotFound)

		app := newApp(1)
		mustPutApp(t, s, app)
		got, err := s.GetApp(t.Context(), 1)
		wantErr(t, "GetApp", err, nil)
		wantApp(t, "GetApp", got, app)
	})

	t.Run("PutApp replaces an existing app", func(t *testing.T) {
		s := openFresh(t, h)
		app := newApp(1)
		mustPutApp(t, s, app)

		app.Name = "renamed"
		app.Stage = store.StageProduction
		app.SessionWithoutUser = ""
		app.RequireSignature = false
		app.ListUsers, app.GuestSessions, app.UserFields, app.MinPasswordLength = "", "", nil, 0
		app.Pinned = []string{"name"}
		app.UpdatedAt = app.UpdatedAt.Add(1000)
		mustPutApp(t, s, app)

		got, err := s.GetApp(t.Context(), 1)
		wantErr(t, "GetApp", err, nil)
		wantApp(t, "GetApp after replacing", got, app)
		apps, err := s.ListApps(t.Context())
		wantErr(t, "ListApps", err, nil)
		if len(apps) != 1 {
			t.Fatalf("ListApps returned %d apps after replacing one, want 1", len(apps))
		}
	})

	t.Run("ListApps returns every app ordered by ID", func(t *testing.T) {
		s := openFresh(t, h)
		apps, err := s.ListApps(t.Context())
		wantErr(t, "ListApps of an empty store", err, nil)
		if len(apps) != 0 {
			t.Fatalf("ListApps of an empty store returned %d apps", len(apps))
		}

		want := map[int64]store.App{}
		for _, id := range []int64{3, 1, 200, 2} {
			want[id] = newApp(id)
			mustPutApp(t, s, want[id])
		}
		apps, err = s.ListApps(t.Context())
		wantErr(t, "ListApps", err, nil)
		var ids []int64
		for _, a := range apps {
			ids = append(ids, a.ID)
			wantApp(t, "listed app", a, want[a.ID])
		}
		if len(ids) != 4 || ids[0] != 1 || ids[1] != 2 || ids[2] != 3 || ids[3] != 200 {
			t.Fatalf("ListApps returned IDs %v, want [1 2 3 200]", ids)
		}
	})

	t.Run("CreateApp assigns an ID higher than every existing one", func(t *testing.T) {
		s := openFresh(t, h)
		first := mustCreateApp(t, s, newApp(0))
		got, err := s.GetApp(t.Context(), first.ID)
		wantErr(t, "GetApp of the first created app", err, nil)
		wantApp(t, "first created app", got, first)

		five, two := newApp(first.ID+5), newApp(first.ID+2)
		mustPutApp(t, s, five)
		mustPutApp(t, s, two)
		created := mustCreateApp(t, s, newApp(0))
		if created.ID <= five.ID {
			t.Fatalf("CreateApp with apps %d, %d and %d assigned ID %d, want > %d",
				first.ID, two.ID, five.ID, created.ID, five.ID)
		}
		got, err = s.GetApp(t.Context(), created.ID)
		wantErr(t, "GetApp of the created app", err, nil)
		wantApp(t, "created app", got, created)
		for _, want := range []store.App{first, two, five} {
			got, err := s.GetApp(t.Context(), want.ID)
			wantErr(t, "GetApp of an existing app", err, nil)
			wantApp(t, "existing app after CreateApp", got, want)
		}
	})

	t.Run("concurrent CreateApp calls get distinct IDs and replace nothing", func(t *testing.T) {
		s := openFresh(t, h)
		existing := []store.App{newApp(3), newApp(10)}
		for _, a := range existing {
			mustPutApp(t, s, a)
		}

		const creators = 16
		created := make([]store.App, creators)
		errs := make([]error, creators)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range creators {
			wg.Go(func() {
				a := newApp(0)
				a.Name = fmt.Sprintf("created by %d", i)
				<-start
				errs[i] = s.CreateApp(t.Context(), &a)
				created[i] = a
			})
		}
		close(start)
		wg.Wait()

		ids := map[int64]int{}
		for i, a := range created {
			wantErr(t, fmt.Sprintf("CreateApp by creator %d", i), errs[i], nil)
			if other, taken := ids[a.ID]; taken {
				t.Fatalf("creators %d and %d both got app ID %d", other, i, a.ID)
			}
			ids[a.ID] = i
			if a.ID <= 10 {
				t.Fatalf("creator %d got app ID %d, want > 10 (apps 3 and 10 exist)", i, a.ID)
			}
		}
		for _, want := range append(created, existing...) {
			got, err := s.GetApp(t.Context(), want.ID)
			wantErr(t, fmt.Sprintf("GetApp(%d)", want.ID), err, nil)
			wantApp(t, fmt.Sprintf("app %d after concurrent creation", want.ID), got, want)
		}
		apps, err := s.ListApps(t.Context())
		wantErr(t, "ListApps", err, nil)
		if len(apps) != creators+len(existing) {
			t.Fatalf("ListApps returned %d apps, want %d", len(apps), creators+len(existing))
		}
	})

	t.Run("DeleteApp removes only that app", func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		other := newApp(2)
		mustPutApp(t, s, other)

		wantErr(t, "DeleteApp", s.DeleteApp(t.Context(), 1), nil)
		_, err := s.GetApp(t.Context(), 1)
		wantErr(t, "GetApp after DeleteApp", err, store.ErrNotFound)
		got, err := s.GetApp(t.Context(), 2)
		wantErr(t, "GetApp of the other app", err, nil)
		wantApp(t, "other app", got, other)
		apps, err := s.ListApps(t.Context())
		wantErr(t, "ListApps", err, nil)
		if len(apps) != 1 || apps[0].ID != 2 {
			t.Fatalf("ListApps after DeleteApp(1) returned %+v, want only app 2", apps)
		}

		wantErr(t, "DeleteApp of a missing app", s.DeleteApp(t.Context(), 1), store.ErrNotFound)
	})

	t.Run("DeleteApp removes its users and sessions and nothing of other apps", func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		mustPutApp(t, s, newApp(2))
		gone := mustCreateUser(t, s, newUser(1, "alice", "alice@example.test"))
		kept := mustCreateUser(t, s, newUser(2, "alice", "alice@example.test"))
		goneUserSession := mustCreateSession(t, s, newSession(t, 1, gone.ID))
		goneAppSession := mustCreateSession(t, s, newSession(t, 1, 0))
		keptUserSession := mustCreateSession(t, s, newSession(t, 2, kept.ID))
		keptAppSession := mustCreateSession(t, s, newSession(t, 2, 0))

		wantErr(t, "DeleteApp", s.DeleteApp(t.Context(), 1), nil)

		_, err := s.GetUser(t.Context(), 1, gone.ID)
		wantErr(t, "GetUser of the deleted app", err, store.ErrNotFound)
		_, err = s.GetUserByLogin(t.Context(), 1, "alice")
		wantErr(t, "GetUserByLogin of the deleted app", err, store.ErrNotFound)
		_, err = s.GetUserByEmail(t.Context(), 1, "alice@example.test")
		wantErr(t, "GetUserByEmail of the deleted app", err, store.ErrNotFound)
		users, total, err := s.ListUsers(t.Context(), store.UserQuery{AppID: 1})
		wantErr(t, "ListUsers of the deleted app", err, nil)
		if len(users) != 0 || total != 0 {
			t.Fatalf("ListUsers of the deleted app returned %d users, total %d", len(users), total)
		}
		for _, h := range []store.TokenHash{goneUserSession.TokenHash, goneAppSession.TokenHash} {
			_, err = s.GetSession(t.Context(), h)
			wantErr(t, "GetSession of the deleted app", err, store.ErrNotFound)
		}
		sessions, total, err := s.ListSessions(t.Context(), store.SessionQuery{AppID: 1})
		wantErr(t, "ListSessions of the deleted app", err, nil)
		if len(sessions) != 0 || total != 0 {
			t.Fatalf("ListSessions of the deleted app returned %d sessions, total %d", len(sessions), total)
		}

		got, err := s.GetUserByLogin(t.Context(), 2, "alice")
		wantErr(t, "GetUserByLogin of the other app", err, nil)
		wantUser(t, "user of the other app", got, kept)
		for _, want := range []store.Session{keptUserSession, keptAppSession} {
			got, err := s.GetSession(t.Context(), want.TokenHash)
			wantErr(t, "GetSession of the other app", err, nil)
			wantSession(t, "session of the other app", got, want)
		}

		// The login and email indexes went with the users.
		mustPutApp(t, s, newApp(1))
		mustCreateUser(t, s, newUser(1, "alice", "alice@example.test"))
	})
}

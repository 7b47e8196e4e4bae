package authcore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cubeauth/cubeauth/store"
)

// sessionFor creates a session for login on app, with the app's key.
func sessionFor(t *testing.T, svc *Service, app store.App, login string) (SessionResult, error) {
	t.Helper()
	return svc.CreateSession(context.Background(), SessionRequest{ClientIP: "192.0.2.9", Params: Params{
		"application_id": fmt.Sprint(app.ID), "auth_key": app.AuthKey,
		"user[login]": login, "user[password]": "supersecret",
	}})
}

func TestAdminCreateAppGivesTheNextIDAndAUUIDv4Key(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a, err := f.svc.CreateApp(ctx, NewApp{Name: "  Chat  "})
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != 3 || a.Name != "Chat" || a.Stage != store.StageDevelopment || len(a.Pinned) != 0 {
		t.Fatalf("created %+v, want app 3 named Chat in development, nothing pinned", a)
	}
	if u, err := uuid.Parse(a.AuthKey); err != nil || u.Version() != 4 {
		t.Fatalf("auth key %q is not a UUID v4", a.AuthKey)
	}
	b, err := f.svc.CreateApp(ctx, NewApp{Stage: store.StageProduction})
	if err != nil || b.ID != 4 || b.AuthKey == a.AuthKey {
		t.Fatalf("second app %+v, %v: want ID 4 with its own key", b, err)
	}
	// Usable on the next request: the app cache learnt of it.
	if _, err := sessionFor(t, f.svc, a, "alice"); err != nil {
		t.Fatalf("session on the new app: %v", err)
	}
	var verr *ValidationError
	if _, err := f.svc.CreateApp(ctx, NewApp{Stage: "staging"}); !errors.As(err, &verr) {
		t.Fatalf("stage staging: %v, want a validation error", err)
	}
}

func TestAdminUpdateAppRefusesChangesToPinnedFieldsOnly(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// App 1 pins auth_key, auth_secret and stage (see newFixture); pin the
	// name of a new config app 9 and leave the rest to runtime.
	if err := f.svc.ApplyConfigApp(ctx, store.App{ID: 9, Name: "nine", AuthKey: "k9"}, []string{FieldName, FieldAuthKey}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		app        int64
		changes    AppChanges
		wantPinned []string
	}{
		{"a pinned stage", 1, AppChanges{Stage: new(store.StageProduction)}, []string{FieldStage}},
		{"a pinned stage set to its value", 1, AppChanges{Stage: new(store.StageDevelopment)}, nil},
		{"a pinned auth secret", 1, AppChanges{AuthSecret: new("other")}, []string{FieldAuthSecret}},
		{"a pinned auth secret set to its value", 1, AppChanges{AuthSecret: new(testAppSecret)}, nil},
		{"a runtime permission beside a pinned stage", 1, AppChanges{SessionWithoutUser: new(store.PermissionDeny)}, nil},
		{"a pinned name and a runtime stage together", 9, AppChanges{Name: new("renamed"), Stage: new(store.StageProduction)}, []string{FieldName}},
		{"a runtime stage", 9, AppChanges{Stage: new(store.StageProduction)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := f.svc.StoredApp(ctx, tt.app)
			after, err := f.svc.UpdateApp(ctx, tt.app, tt.changes)
			var perr *PinnedError
			switch {
			case tt.wantPinned == nil && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantPinned != nil && !errors.As(err, &perr):
				t.Fatalf("got %v, want a PinnedError for %v", err, tt.wantPinned)
			case tt.wantPinned != nil:
				if !slices.Equal(perr.Fields, tt.wantPinned) || !strings.Contains(err.Error(), "server configuration") {
					t.Fatalf("PinnedError %v (%q), want fields %v", perr.Fields, err, tt.wantPinned)
				}
				stored, _ := f.svc.StoredApp(ctx, tt.app)
				if !appsEqual(stored, before) {
					t.Fatalf("a refused change was stored: %+v", stored)
				}
				return
			}
			if tt.changes.Stage != nil && after.Stage != *tt.changes.Stage {
				t.Fatalf("stage %q, want %q", after.Stage, *tt.changes.Stage)
			}
		})
	}
}

func TestAdminStageAndPermissionApplyToTheNextRequestOfEveryServiceWithoutDroppingSessions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// A second Service over the same store, as another config or handler
	// would have: it learns of changes only through store events.
	other := New(f.st, Options{Now: f.clock.Now, Hasher: NewHasher(testParams, 2, time.Second)})
	t.Cleanup(other.Close)
	app, err := f.svc.CreateApp(ctx, NewApp{})
	if err != nil {
		t.Fatal(err)
	}
	alice, err := sessionFor(t, other, app, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.UpdateApp(ctx, app.ID, AppChanges{Stage: new(store.StageProduction)}); err != nil {
		t.Fatal(err)
	}
	if _, err := sessionFor(t, other, app, "bob"); !errors.Is(err, ErrUserNotFound) {
		t.Fatalf("new login after the switch to production: %v, want ErrUserNotFound", err)
	}
	if _, err := other.Authenticate(ctx, alice.Token); err != nil {
		t.Fatalf("alice's session after the stage switch: %v", err)
	}
	updated, err := f.svc.UpdateApp(ctx, app.ID, AppChanges{SessionWithoutUser: new(store.PermissionAllow)})
	if err != nil {
		t.Fatal(err)
	}
	if len(AppWarnings(updated)) == 0 {
		t.Fatal("production with allow carries no warning")
	}
	if _, err := sessionFor(t, other, app, "bob"); err != nil {
		t.Fatalf("new login with an explicit allow: %v", err)
	}
	// Back to following the stage.
	if _, err := f.svc.UpdateApp(ctx, app.ID, AppChanges{SessionWithoutUser: new("")}); err != nil {
		t.Fatal(err)
	}
	if _, err := sessionFor(t, other, app, "carol"); !errors.Is(err, ErrUserNotFound) {
		t.Fatalf("new login after returning to the stage default: %v", err)
	}
}

func TestAdminRotateAuthKeyKeepsTheOldKeyOnlyForTheGracePeriod(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	app, err := f.svc.CreateApp(ctx, NewApp{})
	if err != nil {
		t.Fatal(err)
	}
	oldKey := app.AuthKey
	rotated, err := f.svc.RotateAuthKey(ctx, app.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.AuthKey == oldKey || uuid.Validate(rotated.AuthKey) != nil {
		t.Fatalf("new key %q", rotated.AuthKey)
	}
	for _, key := range []string{oldKey, rotated.AuthKey} {
		if _, err := f.svc.AppByAuthKey(ctx, key); err != nil {
			t.Fatalf("key during the grace period: %v", err)
		}
	}
	f.clock.Advance(time.Hour)
	if _, err := f.svc.AppByAuthKey(ctx, oldKey); !errors.Is(err, ErrUnknownApp) {
		t.Fatalf("old key after the grace period: %v, want ErrUnknownApp", err)
	}
	if _, err := f.svc.AppByAuthKey(ctx, rotated.AuthKey); err != nil {
		t.Fatalf("new key after the grace period: %v", err)
	}
	// Without grace the old key stops at once.
	again, err := f.svc.RotateAuthKey(ctx, app.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AppByAuthKey(ctx, rotated.AuthKey); !errors.Is(err, ErrUnknownApp) {
		t.Fatalf("key rotated without grace: %v, want ErrUnknownApp", err)
	}
	if again.PreviousAuthKey != "" {
		t.Fatal("a previous key is kept without grace")
	}
	// A key from the configuration is rotated there.
	var perr *PinnedError
	if _, err := f.svc.RotateAuthKey(ctx, 1, time.Hour); !errors.As(err, &perr) {
		t.Fatalf("rotating a configured key: %v, want a PinnedError", err)
	}
	var verr *ValidationError
	if _, err := f.svc.RotateAuthKey(ctx, app.ID, -time.Second); !errors.As(err, &verr) {
		t.Fatalf("negative grace: %v, want a validation error", err)
	}
}

func TestAdminRevocationsRefuseTheTokensOnTheNextRequest(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	alice := f.mustLogin(t, "alice")
	bob1 := f.mustLogin(t, "bob")
	bob2 := f.mustLogin(t, "bob")
	carol := f.mustLogin(t, "carol")
	for _, s := range []SessionResult{alice, bob1, bob2, carol} {
		if _, err := f.svc.Authenticate(ctx, s.Token); err != nil { // now cached
			t.Fatal(err)
		}
	}

	sessions, total, err := f.svc.OperatorSessions(ctx, store.SessionQuery{AppID: 1})
	if err != nil || total != 4 || len(sessions) != 4 {
		t.Fatalf("sessions: %d of %d, %v; want 4", len(sessions), total, err)
	}
	ended, err := f.svc.RevokeSessionByID(ctx, 1, alice.Session.ID)
	if err != nil || ended.TokenHash != HashToken(alice.Token) {
		t.Fatalf("revoke alice's session: %v", err)
	}
	if _, err := f.svc.Authenticate(ctx, alice.Token); !errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("alice's token after revocation: %v", err)
	}
	if _, err := f.svc.RevokeSessionByID(ctx, 1, alice.Session.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoking it again: %v, want ErrNotFound", err)
	}
	if _, err := f.svc.RevokeSessionByID(ctx, 2, bob1.Session.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoking through another app: %v, want ErrNotFound", err)
	}

	n, err := f.svc.RevokeUserSessions(ctx, 1, bob1.User.ID)
	if err != nil || n != 2 {
		t.Fatalf("end bob's sessions: %d, %v; want 2", n, err)
	}
	for _, s := range []SessionResult{bob1, bob2} {
		if _, err := f.svc.Authenticate(ctx, s.Token); !errors.Is(err, ErrSessionNotFound) {
			t.Fatalf("bob's token after ending his sessions: %v", err)
		}
	}
	if _, err := f.svc.OperatorUser(ctx, 1, bob1.User.ID); err != nil {
		t.Fatalf("bob is gone with his sessions: %v", err)
	}

	if err := f.svc.OperatorDeleteUser(ctx, 1, carol.User.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(ctx, carol.Token); !errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("carol's token after her deletion: %v", err)
	}
	if err := f.svc.OperatorDeleteUser(ctx, 1, carol.User.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleting carol again: %v, want ErrNotFound", err)
	}
}

func TestAdminOperatorUsersSearchesAndPages(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, login := range []string{"alice", "alicia", "bob"} {
		f.mustLogin(t, login)
	}
	users, total, err := f.svc.OperatorUsers(ctx, store.UserQuery{AppID: 1, Search: "ALI", Limit: 1})
	if err != nil || total != 2 || len(users) != 1 || users[0].Login != "alice" {
		t.Fatalf("search ALI, limit 1: %v (%d in all), %v; want alice of 2", users, total, err)
	}
	users, _, err = f.svc.OperatorUsers(ctx, store.UserQuery{AppID: 1, Search: "ali", Offset: 1, Limit: 1})
	if err != nil || len(users) != 1 || users[0].Login != "alicia" {
		t.Fatalf("second page: %v, %v; want alicia", users, err)
	}
	if _, _, err := f.svc.OperatorUsers(ctx, store.UserQuery{AppID: 77}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("users of a missing app: %v, want ErrNotFound", err)
	}
}

func TestAdminDeleteAppRefusesConfiguredAppsAndRemovesRuntimeOnes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var perr *PinnedError
	if err := f.svc.DeleteApp(ctx, 1); !errors.As(err, &perr) {
		t.Fatalf("deleting a configured app: %v, want a PinnedError", err)
	}
	app, err := f.svc.CreateApp(ctx, NewApp{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := sessionFor(t, f.svc, app, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.DeleteApp(ctx, app.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(ctx, res.Token); !errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("token of a deleted app: %v", err)
	}
	if _, err := sessionFor(t, f.svc, app, "alice"); !errors.Is(err, ErrUnknownApp) {
		t.Fatalf("session on a deleted app: %v, want ErrUnknownApp", err)
	}
}

func TestAdminAppWarningsFlagProductionAppsThatCreateUsers(t *testing.T) {
	tests := []struct {
		app  store.App
		want int
	}{
		{store.App{Stage: store.StageDevelopment}, 0},
		{store.App{Stage: store.StageDevelopment, SessionWithoutUser: store.PermissionAllow}, 0},
		{store.App{Stage: store.StageProduction}, 0},
		{store.App{Stage: store.StageProduction, SessionWithoutUser: store.PermissionDeny}, 0},
		{store.App{Stage: store.StageProduction, SessionWithoutUser: store.PermissionAllow}, 1},
	}
	for _, tt := range tests {
		if got := AppWarnings(tt.app); len(got) != tt.want {
			t.Errorf("%s/%q: %d warnings %q, want %d", tt.app.Stage, tt.app.SessionWithoutUser, len(got), got, tt.want)
		}
	}
}

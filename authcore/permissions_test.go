package authcore

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/cubeauth/cubeauth/store"
)

func TestTheStageDecidesSessionsWithoutUserUnlessThePermissionIsSet(t *testing.T) {
	for _, tc := range []struct {
		stage, permission string
		allows            bool
	}{
		{store.StageDevelopment, "", true},
		{store.StageProduction, "", false},
		{store.StageDevelopment, store.PermissionDeny, false},
		{store.StageProduction, store.PermissionAllow, true},
	} {
		a := store.App{Stage: tc.stage, SessionWithoutUser: tc.permission}
		if got := AllowsSessionWithoutUser(a); got != tc.allows {
			t.Errorf("stage %s, permission %q: allows %v, want %v", tc.stage, tc.permission, got, tc.allows)
		}
	}
}

func TestOnlyAUserMayActAndOnlyOnItself(t *testing.T) {
	app, alice := Identity{AppID: 1}, Identity{AppID: 1, UserID: 7}
	for _, tc := range []struct {
		name   string
		caller Identity
		user   int64
		want   error
	}{
		{"an app session", app, 7, ErrNeedUser},
		{"a user on itself", alice, 7, nil},
		{"a user on another", alice, 8, ErrForbidden},
	} {
		if err := ownUser(tc.caller, tc.user); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if app.RequireUser() != ErrNeedUser || alice.RequireUser() != nil {
		t.Error("RequireUser must refuse app sessions only")
	}
}

func TestAnAppSessionCannotLogOut(t *testing.T) {
	f := newFixture(t)
	res, err := f.svc.CreateSession(context.Background(), SessionRequest{ClientIP: "192.0.2.1",
		Params: Params{"application_id": "1", "auth_key": testAppKey}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Logout(context.Background(), res.Token); !errors.Is(err, ErrNeedUser) {
		t.Fatalf("logout of an app session: %v, want ErrNeedUser", err)
	}
}

func TestCreatedSessionsNameTheirAppsStage(t *testing.T) {
	f := newFixture(t)
	for app, want := range map[int64]string{1: store.StageDevelopment, 2: store.StageProduction} {
		key := testAppKey
		if app == 2 {
			key += "-prod"
		}
		res, err := f.svc.CreateSession(context.Background(), SessionRequest{ClientIP: "192.0.2.1",
			Params: Params{"application_id": strconv.FormatInt(app, 10), "auth_key": key}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Stage != want {
			t.Errorf("app %d: stage %q, want %q", app, res.Stage, want)
		}
	}
}

func TestAnAppWithoutAStageIsInDevelopmentAndBadValuesAreRefused(t *testing.T) {
	f := newFixture(t)
	a, err := f.svc.CreateApp(context.Background(), NewApp{Name: "new"})
	if err != nil || a.Stage != store.StageDevelopment {
		t.Fatalf("CreateApp without a stage: %v, stage %q; want development", err, a.Stage)
	}
	_, err = f.svc.CreateApp(context.Background(), NewApp{Stage: "staging", SessionWithoutUser: "maybe"})
	var verr *ValidationError
	if !errors.As(err, &verr) || len(verr.Fields[FieldStage]) == 0 || len(verr.Fields[FieldSessionWithoutUser]) == 0 {
		t.Fatalf("CreateApp with a bad stage and permission: %v, want both fields refused", err)
	}
}

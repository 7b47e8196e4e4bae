package authcore

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// fakeIdentityProvider answers "id-<x>" as user <x> (login from logins),
// "down" with a failure and anything else with a refusal.
type fakeIdentityProvider struct{ logins map[string]string }

func (p fakeIdentityProvider) VerifyToken(_ context.Context, token string) (ExternalIdentity, bool, error) {
	switch {
	case token == "down":
		return ExternalIdentity{}, false, errors.New("no answer")
	case len(token) > 3 && token[:3] == "id-":
		return ExternalIdentity{Subject: token[3:], Login: p.logins[token[3:]]}, true, nil
	}
	return ExternalIdentity{}, false, nil
}

func (f *fixture) idpLogin(app int64, token, ip string, idp IdentityProvider) (SessionResult, error) {
	key := testAppKey
	if app == 2 {
		key += "-prod"
	}
	return f.svc.CreateSession(context.Background(), SessionRequest{ClientIP: ip, Params: Params{
		"application_id": fmt.Sprint(app), "auth_key": key, "user[login]": token, "user[password]": "dummy",
	}, Providers: func(int64) AppProviders { return AppProviders{IdentityProvider: idp} }})
}

func TestACustomIdentityProviderSignsInTheBoundUser(t *testing.T) {
	f := newFixture(t)
	f.mustLogin(t, "alice")
	idp := fakeIdentityProvider{logins: map[string]string{"2": "Alice"}}
	first, err := f.idpLogin(1, "id-1", "192.0.2.1", idp)
	if err != nil || !first.UserCreated || first.User.Login != "custom_1" {
		t.Fatalf("first sign-in: %+v, %v; want a new user custom_1", first.User, err)
	}
	again, err := f.idpLogin(1, "id-1", "192.0.2.1", idp)
	if err != nil || again.UserCreated || again.User.ID != first.User.ID {
		t.Fatalf("second sign-in: %+v, %v; want user %d", again.User, err, first.User.ID)
	}
	// A mapped login another user holds is left out, not taken over.
	taken, err := f.idpLogin(1, "id-2", "192.0.2.1", idp)
	if err != nil || taken.User.Login != "" || taken.User.ID == first.User.ID {
		t.Fatalf("sign-in with a taken login: %+v, %v; want a new user without login", taken.User, err)
	}
	if _, err := f.idpLogin(2, "id-3", "192.0.2.1", idp); !errors.Is(err, ErrUserNotFound) {
		t.Fatalf("production app, new user: %v; want ErrUserNotFound", err)
	}
	var busy *BusyError
	if _, err := f.idpLogin(1, "down", "192.0.2.1", idp); !errors.As(err, &busy) || busy.Throttled {
		t.Fatalf("provider down: %v; want a 503 BusyError", err)
	}
	if _, err := f.idpLogin(1, "nope", "192.0.2.1", idp); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("refused token: %v; want ErrBadCredentials", err)
	}
}

func TestRefusedProviderTokensCountAsFailedLogins(t *testing.T) {
	f := newFixture(t)
	idp := fakeIdentityProvider{}
	var err error
	for range 200 {
		if _, err = f.idpLogin(1, "nope", "192.0.2.9", idp); !errors.Is(err, ErrBadCredentials) {
			break
		}
	}
	var busy *BusyError
	if !errors.As(err, &busy) || !busy.Throttled {
		t.Fatalf("after many refused tokens from one address: %v; want throttled", err)
	}
	if _, err := f.idpLogin(1, "id-1", "192.0.2.10", idp); err != nil {
		t.Fatalf("another address: %v", err)
	}
}

func TestAProviderTheAppDoesNotHaveIsUnsupported(t *testing.T) {
	f := newFixture(t)
	_, err := f.svc.CreateSession(context.Background(), SessionRequest{ClientIP: "192.0.2.1", Params: Params{
		"application_id": "1", "auth_key": testAppKey, "provider": "firebase_phone",
		"firebase_phone[project_id]": "p", "firebase_phone[access_token]": "t",
	}})
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("firebase without config: %v; want ErrUnsupported", err)
	}
}

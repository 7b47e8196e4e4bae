package authcore

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/cubeauth/cubeauth/store"
)

// Session providers besides login and password: Firebase phone and email
// sign-in (provider=firebase_phone|firebase_email) and a custom identity
// provider (ConnectyCube's CIdP), which gets the login as its token.
const (
	ProviderFirebasePhone = "firebase_phone"
	ProviderFirebaseEmail = "firebase_email"
	// bindingCIdP is the provider name of custom identity provider bindings.
	bindingCIdP = "cidp"
)

// ExternalIdentity is who an outside identity provider says a client is.
type ExternalIdentity struct {
	// Subject is the provider's user ID; it binds the user.
	Subject string
	// Login, Email and FullName fill a new user; each may be empty.
	Login, Email, FullName string
}

// IdentityProvider asks an app's custom identity provider who holds a
// token. ok is false when the provider refused the token; err is set when
// it could not answer (down, slow, at capacity): never a session then.
type IdentityProvider interface {
	VerifyToken(ctx context.Context, token string) (id ExternalIdentity, ok bool, err error)
}

// FirebaseConfig is an app's Firebase sign-in: the projects whose ID
// tokens it accepts, and Google's signing keys.
type FirebaseConfig struct {
	ProjectIDs []string
	Keys       SigningKeys
}

// AppProviders are the outside identity providers of one app; nil fields
// are not configured.
type AppProviders struct {
	Firebase         *FirebaseConfig
	IdentityProvider IdentityProvider
}

// ProviderLookup returns the providers configured for an app.
type ProviderLookup func(appID int64) AppProviders

// errProviderUnavailable answers a provider that could not answer: 503,
// retry later.
func errProviderUnavailable(err error) error {
	return errors.Join(&BusyError{Reason: "identity provider unavailable", RetryAfter: time.Second}, err)
}

// signInWithFirebase verifies a Firebase ID token of an allowed project and
// signs in the user bound to its uid, creating it when create is true.
func (s *Service) signInWithFirebase(ctx context.Context, app store.App, cfg *FirebaseConfig, p Params, ip string, create bool) (store.User, bool, error) {
	provider := p["provider"]
	if provider != ProviderFirebasePhone && provider != ProviderFirebaseEmail || cfg == nil {
		return store.User{}, false, ErrUnsupported
	}
	fp := p.Sub(provider)
	if fp["access_token"] == "" {
		return store.User{}, false, invalid(provider+"[access_token]", "cannot be blank")
	}
	if err := s.limits.beforeLookup(ip); err != nil {
		return store.User{}, false, err
	}
	projectID := fp["project_id"]
	if !firebaseProjectAllowed(cfg, projectID) {
		s.limits.failed("", ip)
		return store.User{}, false, ErrBadCredentials
	}
	claims, ok, err := VerifyFirebaseToken(ctx, fp["access_token"], projectID, cfg.Keys, s.now())
	if err != nil {
		return store.User{}, false, errProviderUnavailable(err)
	}
	// A phone sign-in's token carries the phone; an email sign-in's the email.
	if ok && provider == ProviderFirebasePhone && claims.Phone == "" || ok && provider == ProviderFirebaseEmail && claims.Email == "" {
		ok = false
	}
	if !ok {
		s.limits.failed("", ip)
		return store.User{}, false, ErrBadCredentials
	}
	u := store.User{Phone: claims.Phone}
	if claims.EmailVerified {
		u.Email = foldName(claims.Email)
	}
	return s.signInBound(ctx, app, "firebase:"+projectID, claims.UID, u, ip, create)
}

// signInWithIdentityProvider asks the app's identity provider about token
// and signs in the user bound to the answer's subject, creating it when
// create is true. A new user's login is the mapped one, or custom_<id> as
// ConnectyCube's.
func (s *Service) signInWithIdentityProvider(ctx context.Context, app store.App, idp IdentityProvider, token, ip string, create bool) (store.User, bool, error) {
	if err := s.limits.beforeLookup(ip); err != nil {
		return store.User{}, false, err
	}
	if len(token) > maxParamValue {
		s.limits.failed("", ip)
		return store.User{}, false, ErrBadCredentials
	}
	id, ok, err := idp.VerifyToken(ctx, token)
	if err != nil {
		return store.User{}, false, errProviderUnavailable(err)
	}
	if !ok || id.Subject == "" || len(id.Subject) > maxShortField {
		s.limits.failed("", ip)
		return store.User{}, false, ErrBadCredentials
	}
	login := id.Login
	if login == "" {
		login = "custom_" + id.Subject
	}
	u := store.User{Login: foldName(login), Email: foldName(id.Email), FullName: id.FullName}
	return s.signInBound(ctx, app, bindingCIdP, id.Subject, u, ip, create)
}

// signInBound finds the user bound to subject at provider or, when create
// is true, creates it from fields (under the signup limits). Concurrent
// first logins make one user: the losers sign in to the winner's. A mapped
// login or email that is invalid or taken by another user is left out
// rather than refusing the sign-in.
func (s *Service) signInBound(ctx context.Context, app store.App, provider, subject string, fields store.User, ip string, create bool) (store.User, bool, error) {
	u, err := s.store.GetUserByIdentity(ctx, app.ID, provider, subject)
	switch {
	case err == nil:
		return u, false, nil
	case !errors.Is(err, store.ErrNotFound):
		return u, false, storeErr(err, nil)
	case !create:
		return u, false, ErrUserNotFound
	}
	if err := s.limits.beforeSignup(ip, app.ID); err != nil {
		return store.User{}, false, err
	}
	now := s.now()
	u = store.User{AppID: app.ID, Phone: fields.Phone, CreatedAt: now, UpdatedAt: now}
	if checkText("login", fields.Login, minLogin, maxLogin, textName) == nil {
		u.Login = fields.Login
	}
	if checkText("email", fields.Email, 0, maxEmail, textName) == nil && strings.Contains(fields.Email, "@") {
		u.Email = fields.Email
	}
	if checkText("full_name", fields.FullName, 0, maxFullName, textProse) == nil {
		u.FullName = fields.FullName
	}
	for {
		err = s.store.CreateUserWithIdentity(ctx, &u, provider, subject)
		switch {
		case err == nil:
			return u, true, nil
		case errors.Is(err, store.ErrIdentityTaken):
			u, err := s.store.GetUserByIdentity(ctx, app.ID, provider, subject)
			return u, false, storeErr(err, ErrUnavailable)
		case errors.Is(err, store.ErrLoginTaken) && u.Login != "":
			u.Login = ""
		case errors.Is(err, store.ErrEmailTaken) && u.Email != "":
			u.Email = ""
		default:
			return store.User{}, false, storeErr(err, ErrUnknownApp)
		}
	}
}

package authcore

import (
	"context"
	"errors"

	"github.com/cubeauth/cubeauth/store"
)

// How sessions find other users. The auth key is public, so an app session
// is anyone: in production it may not list or look up users unless the app
// allows it, and nobody learns through a lookup what the fields they may
// not see hold (a lookup by a private field is refused, whether or not the
// value exists). Each user named counts against the lookup limits of the
// caller's IP and session.

// UserLookup names the users a caller asks for, by ID, login or email: at
// most MaxLookupValues values in all.
type UserLookup struct {
	IDs    []int64
	Logins []string
	Emails []string
	// Offset and Limit page the result; Limit is at most MaxLookupValues.
	Offset, Limit int
	// ClientIP is the caller's address, for the lookup limits.
	ClientIP string
}

// MaxLookupValues bounds the values one lookup may name, and one page.
const MaxLookupValues = 100

// ErrListUsersDenied: the app does not let app and guest sessions list or
// look up users.
var ErrListUsersDenied = errors.New("listing users is not allowed for this session")

// PrivateFieldError refuses a lookup by a field the caller may not see.
type PrivateFieldError struct {
	// Field is the private field's name (UserField* constants).
	Field string
}

func (e *PrivateFieldError) Error() string {
	return e.Field + " is private in this application, so users cannot be looked up by it"
}

// FindUsers returns the users q names, as the caller may see them, and how
// many match in all.
func (s *Service) FindUsers(ctx context.Context, caller Identity, q UserLookup) ([]store.User, int, error) {
	n := len(q.IDs) + len(q.Logins) + len(q.Emails)
	if n > MaxLookupValues {
		return nil, 0, invalid("base", "a request may name at most 100 users")
	}
	app, err := s.mayLookUp(ctx, caller, q.ClientIP, n)
	if err != nil {
		return nil, 0, err
	}
	if len(q.Emails) > 0 && IsPrivateUserField(app, UserFieldEmail) {
		return nil, 0, &PrivateFieldError{Field: UserFieldEmail}
	}
	ids := q.IDs
	for _, names := range []struct {
		values []string
		get    func(context.Context, int64, string) (store.User, error)
	}{{q.Logins, s.store.GetUserByLogin}, {q.Emails, s.store.GetUserByEmail}} {
		for _, v := range names.values {
			u, err := s.userByName(ctx, app.ID, v, names.get)
			switch {
			case err == nil:
				ids = append(ids, u.ID)
			case !errors.Is(err, store.ErrNotFound):
				return nil, 0, storeErr(err, nil)
			}
		}
	}
	if len(ids) == 0 {
		return nil, 0, nil
	}
	if q.Limit <= 0 || q.Limit > MaxLookupValues {
		q.Limit = MaxLookupValues
	}
	users, total, err := s.store.ListUsers(ctx, store.UserQuery{AppID: app.ID, IDs: ids, Offset: q.Offset, Limit: q.Limit})
	if err != nil {
		return nil, 0, storeErr(err, nil)
	}
	for i, u := range users {
		users[i] = visibleTo(caller, app, u)
	}
	return users, total, nil
}

// FindUser returns the one user that q names (one login or one email), or
// ErrNotFound.
func (s *Service) FindUser(ctx context.Context, caller Identity, q UserLookup) (store.User, error) {
	users, _, err := s.FindUsers(ctx, caller, q)
	if err != nil {
		return store.User{}, err
	}
	if len(users) == 0 {
		return store.User{}, ErrNotFound
	}
	return users[0], nil
}

// GetUser returns a user of the caller's app by ID, as the caller may see
// it. A user may always read its own record.
func (s *Service) GetUser(ctx context.Context, caller Identity, userID int64, clientIP string) (store.User, error) {
	var app store.App
	var err error
	if caller.UserID != 0 && caller.UserID == userID {
		app, err = s.App(ctx, caller.AppID)
	} else {
		app, err = s.mayLookUp(ctx, caller, clientIP, 1)
	}
	if err != nil {
		return store.User{}, err
	}
	u, err := s.store.GetUser(ctx, caller.AppID, userID)
	if err != nil {
		return store.User{}, storeErr(err, ErrNotFound)
	}
	return visibleTo(caller, app, u), nil
}

// mayLookUp returns the caller's app when the caller may look up n users
// now: a signed-in user may, an app or guest session only when the app
// allows it, and none beyond the lookup limits.
func (s *Service) mayLookUp(ctx context.Context, caller Identity, clientIP string, n int) (store.App, error) {
	app, err := s.App(ctx, caller.AppID)
	if err != nil {
		return app, err
	}
	if !AllowsListUsers(app) {
		if caller.UserID == 0 {
			return app, ErrListUsersDenied
		}
		// Only when listing is denied does it matter whether the caller is
		// a guest: one more read, for those sessions only.
		u, err := s.store.GetUser(ctx, caller.AppID, caller.UserID)
		if err != nil {
			return app, storeErr(err, ErrSessionNotFound)
		}
		if u.IsGuest {
			return app, ErrListUsersDenied
		}
	}
	if err := s.limits.lookupsIP.takeN(s.limits.clientKey(clientIP), n); err != nil {
		return app, err
	}
	return app, s.limits.lookupsSession.takeN(string(caller.TokenHash[:]), n)
}

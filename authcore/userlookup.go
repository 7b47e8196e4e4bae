package authcore

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/cubeauth/cubeauth/store"
)

// How sessions find other users. The auth key is public, so an app session
// is anyone: in production it may not list or look up users unless the app
// allows it, and nobody learns through a lookup what the fields they may
// not see hold (a lookup by a private field is refused, whether or not the
// value exists). Each user named counts against the lookup limits of the
// caller's IP and session.

// UserSearch is a query for users as a session asks it: users/v2, the v1
// list and the older lookups (by login, email, tags, ...).
type UserSearch struct {
	Where      []store.UserCondition
	SortBy     store.UserField
	Descending bool
	// Offset and Limit page the result; Limit is at most MaxLookupValues
	// (zero or less: MaxLookupValues).
	Offset, Limit int
	// V2 applies the rules of GET /users/v2: at least one condition on a
	// stand-alone field (id, login, email, full_name, phone, external_id,
	// facebook_id, twitter_id, user_tags) with eq, in or start_with; no
	// comparison of those fields; start_with with at least 4 characters,
	// and then at most 5 results.
	V2 bool
	// ClientIP is the caller's address, for the lookup limits.
	ClientIP string
}

// MaxLookupValues bounds the values one search may name, and one page.
const MaxLookupValues = 100

// minPrefix is the shortest start_with users/v2 accepts, and prefixLimit
// the page it then answers.
const (
	minPrefix   = 4
	prefixLimit = 5
)

// ErrListUsersDenied: the app does not let app and guest sessions list or
// look up users.
var ErrListUsersDenied = errors.New("listing users is not allowed for this session")

// PrivateFieldError refuses a search by a field the caller may not see.
type PrivateFieldError struct {
	// Field is the private field's name (UserField* constants).
	Field string
}

func (e *PrivateFieldError) Error() string {
	return e.Field + " is private in this application, so users cannot be looked up by it"
}

// UserPage is one page of a search.
type UserPage struct {
	// Users are the page's users, as the caller may see them.
	Users []store.User
	// Total is how many users match in all.
	Total int
	// Limit is the page size the search used.
	Limit int
}

// FindUsers returns the page of users q selects. Each value named, and
// each user returned beyond them, counts against the lookup limits.
func (s *Service) FindUsers(ctx context.Context, caller Identity, q UserSearch) (UserPage, error) {
	users, total, err := s.findUsers(ctx, caller, &q)
	return UserPage{Users: users, Total: total, Limit: q.Limit}, err
}

func (s *Service) findUsers(ctx context.Context, caller Identity, q *UserSearch) ([]store.User, int, error) {
	n := 0
	for _, c := range q.Where {
		n += len(c.Numbers) + len(c.Text) + len(c.Times)
	}
	if n > MaxLookupValues {
		return nil, 0, invalid("base", "a request may name at most 100 users")
	}
	if q.Limit <= 0 || q.Limit > MaxLookupValues {
		q.Limit = MaxLookupValues
	}
	if q.V2 {
		if err := checkV2(q); err != nil {
			return nil, 0, err
		}
	}
	query := store.UserQuery{Where: foldNames(q.Where), SortBy: q.SortBy, Descending: q.Descending,
		Offset: max(q.Offset, 0), Limit: q.Limit}
	if err := query.Validate(); err != nil {
		return nil, 0, invalid("base", strings.TrimPrefix(err.Error(), store.ErrBadQuery.Error()+": "))
	}
	app, err := s.mayLookUp(ctx, caller, q.ClientIP, max(n, 1))
	if err != nil {
		return nil, 0, err
	}
	for _, f := range searchedFields(*q) {
		if _, settable := privateByDefault[string(f)]; settable && IsPrivateUserField(app, string(f)) {
			return nil, 0, &PrivateFieldError{Field: string(f)}
		}
	}
	query.AppID = app.ID
	users, total, err := s.store.ListUsers(ctx, query)
	if err != nil {
		return nil, 0, storeErr(err, nil)
	}
	if extra := len(users) - max(n, 1); extra > 0 {
		// A list costs what it shows: enumerating an app's users through
		// pages is as bounded as naming them.
		if err := s.limits.lookupsIP.takeN(s.limits.clientKey(q.ClientIP), extra); err != nil {
			return nil, 0, err
		}
		if err := s.limits.lookupsSession.takeN(string(caller.TokenHash[:]), extra); err != nil {
			return nil, 0, err
		}
	}
	for i, u := range users {
		users[i] = visibleTo(caller, app, u)
	}
	return users, total, nil
}

// FindUser returns the first user q selects, or ErrNotFound.
func (s *Service) FindUser(ctx context.Context, caller Identity, q UserSearch) (store.User, error) {
	q.Limit = 1
	users, _, err := s.findUsers(ctx, caller, &q)
	if err != nil {
		return store.User{}, err
	}
	if len(users) == 0 {
		return store.User{}, ErrNotFound
	}
	return users[0], nil
}

// standAlone are the fields users/v2 lets a query stand on.
var standAlone = map[store.UserField]bool{
	store.FieldID: true, store.FieldLogin: true, store.FieldEmail: true, store.FieldFullName: true,
	store.FieldPhone: true, store.FieldExternalID: true, store.FieldFacebookID: true,
	store.FieldTwitterID: true, store.FieldTags: true,
}

// checkV2 applies UserSearch.V2's rules, lowering q.Limit for start_with.
func checkV2(q *UserSearch) error {
	primary := false
	for _, c := range q.Where {
		if !standAlone[c.Field] {
			continue
		}
		switch c.Op {
		case store.OpEq, store.OpIn:
			primary = true
		case store.OpPrefix:
			primary = true
			if len([]rune(strings.TrimSpace(c.Text[0]))) < minPrefix {
				return invalid(string(c.Field), "start_with needs at least 4 characters")
			}
			q.Limit = min(q.Limit, prefixLimit)
		case store.OpGt, store.OpLt, store.OpGte, store.OpLte:
			return invalid(string(c.Field), "cannot be compared; compare created_at, updated_at or last_request_at")
		}
	}
	if !primary {
		return invalid("base", "a query needs a filter on id, login, email, full_name, phone, external_id, "+
			"facebook_id, twitter_id or user_tags with eq, in or start_with")
	}
	return nil
}

// foldNames puts login and email operands in their stored form: folded,
// and also as sent for users stored before logins were folded.
func foldNames(where []store.UserCondition) []store.UserCondition {
	out := slices.Clone(where)
	for i, c := range out {
		if c.Field != store.FieldLogin && c.Field != store.FieldEmail {
			continue
		}
		var text []string
		for _, v := range c.Text {
			text = append(text, foldName(v))
			if foldedBefore(v) && c.Op != store.OpEq && c.Op != store.OpPrefix {
				text = append(text, v)
			}
		}
		if c.Op == store.OpEq && len(c.Text) == 1 && foldedBefore(c.Text[0]) {
			out[i].Op, text = store.OpIn, append(text, c.Text[0])
		}
		out[i].Text = text
	}
	return out
}

// searchedFields are the fields q filters or sorts on.
func searchedFields(q UserSearch) []store.UserField {
	var out []store.UserField
	for _, c := range q.Where {
		out = append(out, c.Field)
	}
	if q.SortBy != "" {
		out = append(out, q.SortBy)
	}
	return out
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

package authcore

import (
	"context"
	"crypto/subtle"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cubeauth/cubeauth/store"
)

// Operator actions: what the admin API, the CLI and the dashboard do. They
// act on any app (no caller identity) and write through the store, whose
// events bring every Service over it — every handler of every loaded config,
// and every node of a shared store — up to date before the next request.

// MaxRotationGrace bounds how long a rotated auth key keeps working.
const MaxRotationGrace = 30 * 24 * time.Hour

// maxOperatorPage bounds one page of users or sessions for operators.
const maxOperatorPage = 500

// PinnedError refuses an operator's change to fields that the server
// configuration sets: the next config load would undo it.
type PinnedError struct {
	// Fields are the pinned fields the change touched (Field* constants).
	Fields []string
}

func (e *PinnedError) Error() string {
	verb := " is"
	if len(e.Fields) > 1 {
		verb = " are"
	}
	return strings.Join(e.Fields, ", ") + verb + " set in the server configuration (Caddyfile or JSON); change it there"
}

// AppChanges is an operator's change to an app. A nil field is left as it is.
type AppChanges struct {
	Name *string
	// Stage is store.StageDevelopment or store.StageProduction.
	Stage *string
	// SessionWithoutUser is store.PermissionAllow, store.PermissionDeny, or
	// "" to follow the stage.
	SessionWithoutUser *string
	// AuthSecret replaces the legacy signing secret; "" removes it.
	AuthSecret       *string
	RequireSignature *bool
	// ListUsers and GuestSessions are permissions like SessionWithoutUser.
	ListUsers, GuestSessions *string
	// UserFields replaces the app's field visibility overrides (an empty
	// map: every field takes its default).
	UserFields *map[string]string
	// MinPasswordLength sets the password policy; 0 is the default.
	MinPasswordLength *int
}

// NewApp is what an operator gives for a new app; zero fields take defaults
// (development stage, permission following the stage).
type NewApp struct {
	Name               string
	Stage              string
	SessionWithoutUser string
}

// CreateApp creates an app at runtime with a new UUID v4 auth key and an App
// ID higher than every existing one; operators creating apps at once get
// distinct IDs.
func (s *Service) CreateApp(ctx context.Context, in NewApp) (store.App, error) {
	now := s.now()
	a := store.App{
		Name:               strings.TrimSpace(in.Name),
		AuthKey:            uuid.NewString(),
		Stage:              in.Stage,
		SessionWithoutUser: in.SessionWithoutUser,
		CreatedAt:          now,
		UpdatedAt:          now,
	}
	withDefaultStage(&a)
	if err := ValidateApp(a); err != nil {
		return a, err
	}
	if err := s.store.CreateApp(ctx, &a); err != nil {
		return a, storeErr(err, nil)
	}
	s.apps.invalidate()
	return a, nil
}

// UpdateApp applies an operator's changes. A change to a field pinned by the
// configuration is refused with a *PinnedError (setting a pinned field to
// the value it already has is not a change).
func (s *Service) UpdateApp(ctx context.Context, id int64, ch AppChanges) (store.App, error) {
	a, err := s.store.GetApp(ctx, id)
	if err != nil {
		return a, storeErr(err, ErrNotFound)
	}
	next := a
	var changed []string
	set := func(field string, differs bool, apply func()) {
		if differs {
			changed = append(changed, field)
			apply()
		}
	}
	if ch.Name != nil {
		name := strings.TrimSpace(*ch.Name)
		set(FieldName, name != a.Name, func() { next.Name = name })
	}
	if ch.Stage != nil {
		set(FieldStage, *ch.Stage != a.Stage, func() { next.Stage = *ch.Stage })
	}
	if ch.SessionWithoutUser != nil {
		set(FieldSessionWithoutUser, *ch.SessionWithoutUser != a.SessionWithoutUser,
			func() { next.SessionWithoutUser = *ch.SessionWithoutUser })
	}
	if ch.AuthSecret != nil {
		differs := subtle.ConstantTimeCompare([]byte(*ch.AuthSecret), []byte(a.AuthSecret)) != 1
		set(FieldAuthSecret, differs, func() { next.AuthSecret = *ch.AuthSecret })
	}
	if ch.RequireSignature != nil {
		set(FieldRequireSignature, *ch.RequireSignature != a.RequireSignature,
			func() { next.RequireSignature = *ch.RequireSignature })
	}
	if ch.ListUsers != nil {
		set(FieldListUsers, *ch.ListUsers != a.ListUsers, func() { next.ListUsers = *ch.ListUsers })
	}
	if ch.GuestSessions != nil {
		set(FieldGuestSessions, *ch.GuestSessions != a.GuestSessions, func() { next.GuestSessions = *ch.GuestSessions })
	}
	if ch.UserFields != nil {
		fields := *ch.UserFields
		if len(fields) == 0 {
			fields = nil
		}
		set(FieldUserFields, !maps.Equal(fields, a.UserFields), func() { next.UserFields = maps.Clone(fields) })
	}
	if ch.MinPasswordLength != nil {
		set(FieldMinPasswordLength, *ch.MinPasswordLength != a.MinPasswordLength,
			func() { next.MinPasswordLength = *ch.MinPasswordLength })
	}
	if err := ValidateApp(next); err != nil {
		return a, err
	}
	if pinned := pinnedAmong(a, changed); len(pinned) > 0 {
		return a, &PinnedError{Fields: pinned}
	}
	if len(changed) == 0 {
		return a, nil
	}
	next.UpdatedAt = s.now()
	if err := s.store.PutApp(ctx, next); err != nil {
		return a, storeErr(err, ErrNotFound)
	}
	s.apps.invalidate()
	return next, nil
}

// RotateAuthKey gives the app a new UUID v4 auth key. The old key keeps
// working for grace (zero: it stops at once); a key rotated out earlier
// stops now, since an app has one previous key at most.
func (s *Service) RotateAuthKey(ctx context.Context, id int64, grace time.Duration) (store.App, error) {
	if grace < 0 || grace > MaxRotationGrace {
		return store.App{}, invalid("grace", "must be between 0 and "+MaxRotationGrace.String())
	}
	a, err := s.store.GetApp(ctx, id)
	if err != nil {
		return a, storeErr(err, ErrNotFound)
	}
	if pinned := pinnedAmong(a, []string{FieldAuthKey}); len(pinned) > 0 {
		return a, &PinnedError{Fields: pinned}
	}
	now := s.now()
	a.PreviousAuthKey, a.PreviousAuthKeyExpiresAt = "", time.Time{}
	if grace > 0 {
		a.PreviousAuthKey, a.PreviousAuthKeyExpiresAt = a.AuthKey, now.Add(grace)
	}
	a.AuthKey = uuid.NewString()
	a.UpdatedAt = now
	if err := s.store.PutApp(ctx, a); err != nil {
		return a, storeErr(err, ErrNotFound)
	}
	s.apps.invalidate()
	return a, nil
}

// DeleteApp removes a runtime-managed app with its users and sessions. An
// app the configuration declares is refused with a *PinnedError: the next
// config load would bring it back.
func (s *Service) DeleteApp(ctx context.Context, id int64) error {
	a, err := s.store.GetApp(ctx, id)
	if err != nil {
		return storeErr(err, ErrNotFound)
	}
	if len(a.Pinned) > 0 {
		return &PinnedError{Fields: slices.Clone(a.Pinned)}
	}
	if err := s.store.DeleteApp(ctx, id); err != nil {
		return storeErr(err, ErrNotFound)
	}
	s.apps.invalidate()
	return nil
}

// StoredApp reads an app from the store rather than the cache, for
// operators who want to see exactly what is kept.
func (s *Service) StoredApp(ctx context.Context, id int64) (store.App, error) {
	a, err := s.store.GetApp(ctx, id)
	return a, storeErr(err, ErrNotFound)
}

// AppWarnings lists what an operator should know about an app's settings.
func AppWarnings(a store.App) []string {
	var w []string
	if a.Stage == store.StageProduction && AllowsSessionWithoutUser(a) {
		w = append(w, "production app allows session creation without an existing user entity: "+
			"anyone with the auth key can create users by logging in; deny it in production")
	}
	if a.Stage == store.StageProduction && a.GuestSessions == store.PermissionAllow {
		w = append(w, "production app allows guest sessions: anyone with the auth key can create users")
	}
	if a.Stage == store.StageProduction && AllowsListUsers(a) {
		w = append(w, "production app lets app and guest sessions list users: anyone with the auth key can read every user's public fields")
	}
	if a.RequireSignature && a.AuthSecret == "" {
		w = append(w, "require_signature is set but there is no auth_secret: every session creation is refused")
	}
	return w
}

// OperatorUsers lists users of any app for operators: q.Search matches
// login, email or full name; at most 500 at a time. It returns the page and
// how many match in all.
func (s *Service) OperatorUsers(ctx context.Context, q store.UserQuery) ([]store.User, int, error) {
	if _, err := s.StoredApp(ctx, q.AppID); err != nil {
		return nil, 0, err
	}
	q.Offset, q.Limit = operatorPage(q.Offset, q.Limit)
	users, total, err := s.store.ListUsers(ctx, q)
	return users, total, storeErr(err, ErrNotFound)
}

// OperatorUser returns a user of any app.
func (s *Service) OperatorUser(ctx context.Context, appID, userID int64) (store.User, error) {
	u, err := s.store.GetUser(ctx, appID, userID)
	return u, storeErr(err, ErrNotFound)
}

// OperatorDeleteUser deletes a user of any app; its sessions end with it.
func (s *Service) OperatorDeleteUser(ctx context.Context, appID, userID int64) error {
	if _, err := s.store.GetUser(ctx, appID, userID); err != nil {
		return storeErr(err, ErrNotFound)
	}
	return storeErr(s.store.DeleteUser(ctx, appID, userID), ErrNotFound)
}

// RevokeUserSessions ends every session of a user and returns how many
// ended. The user goes on existing and may log in again.
func (s *Service) RevokeUserSessions(ctx context.Context, appID, userID int64) (int, error) {
	if _, err := s.store.GetUser(ctx, appID, userID); err != nil {
		return 0, storeErr(err, ErrNotFound)
	}
	hashes, err := s.store.DeleteUserSessions(ctx, appID, userID)
	if err != nil {
		return 0, storeErr(err, ErrNotFound)
	}
	for _, h := range hashes {
		s.sessions.remove(h) // the store's event does this too
	}
	return len(hashes), nil
}

// OperatorSessions lists the unexpired sessions of any app (of one user
// when q.UserID is set), at most 500 at a time, and how many match in all.
func (s *Service) OperatorSessions(ctx context.Context, q store.SessionQuery) ([]store.Session, int, error) {
	if _, err := s.StoredApp(ctx, q.AppID); err != nil {
		return nil, 0, err
	}
	q.Offset, q.Limit = operatorPage(q.Offset, q.Limit)
	sessions, total, err := s.store.ListSessions(ctx, q)
	return sessions, total, storeErr(err, ErrNotFound)
}

// operatorPage bounds a page that operators ask for: no negative offset, and
// at most maxOperatorPage items (also when limit is zero or less).
func operatorPage(offset, limit int) (int, int) {
	if limit <= 0 || limit > maxOperatorPage {
		limit = maxOperatorPage
	}
	return max(offset, 0), limit
}

// RevokeSessionByID ends one session of an app, named by its ID (operators
// never see tokens). It returns the ended session.
func (s *Service) RevokeSessionByID(ctx context.Context, appID, sessionID int64) (store.Session, error) {
	sess, err := s.findSession(ctx, appID, sessionID)
	if err != nil {
		return sess, err
	}
	return sess, s.revoke(ctx, sess.TokenHash)
}

// findSession looks a session up by ID. The store indexes sessions by
// token hash only, so this walks the app's sessions: fine for an
// operator's click, which is rare.
func (s *Service) findSession(ctx context.Context, appID, sessionID int64) (store.Session, error) {
	const page = 1000
	for offset := 0; ; offset += page {
		sessions, total, err := s.store.ListSessions(ctx, store.SessionQuery{AppID: appID, Offset: offset, Limit: page})
		if err != nil {
			return store.Session{}, storeErr(err, ErrNotFound)
		}
		for _, sess := range sessions {
			if sess.ID == sessionID {
				return sess, nil
			}
		}
		if len(sessions) == 0 || offset+len(sessions) >= total {
			return store.Session{}, ErrNotFound
		}
	}
}

// ValidateApp checks the values an operator or a configuration may set.
func ValidateApp(a store.App) error {
	verr := &ValidationError{}
	checkStageAndPermissions(a, verr)
	if err := checkLength(FieldName, a.Name, 0, maxFullName); err != nil {
		verr.add(FieldName, err.(*ValidationError).Fields[FieldName][0])
	}
	if len(a.AuthSecret) > maxShortField {
		verr.add(FieldAuthSecret, "is too long (maximum is 255 characters)")
	}
	if a.RequireSignature && a.AuthSecret == "" {
		verr.add(FieldRequireSignature, "needs an auth_secret")
	}
	return verr.orNil()
}

// pinnedAmong returns the fields of changed that the app's configuration
// pins, in the order of changed.
func pinnedAmong(a store.App, changed []string) []string {
	var out []string
	for _, f := range changed {
		if slices.Contains(a.Pinned, f) {
			out = append(out, f)
		}
	}
	return out
}

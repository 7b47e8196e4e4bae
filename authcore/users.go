package authcore

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cubeauth/cubeauth/store"
)

// Field limits. Login length is ConnectyCube's documented 3–70; the others
// keep a hostile body cheap without refusing real data.
const (
	minLogin       = 3
	maxLogin       = 70
	maxEmail       = 254
	minPassword    = 8
	maxPassword    = 128
	maxFullName    = 200
	maxShortField  = 255
	maxCustomData  = 16 << 10
	maxUsersPerGet = 100
)

// credentials are what a client signs in with.
type credentials struct {
	Login, Email, Password string
}

func credentialsFrom(m map[string]string) credentials {
	return credentials{Login: strings.TrimSpace(m["login"]), Email: strings.TrimSpace(m["email"]), Password: m["password"]}
}

// signIn checks credentials. When the user does not exist and create is
// true, it creates the user with these credentials; concurrent first logins
// for one login create exactly one user (the store's unique index decides,
// and the losers sign in to the winner's user).
func (s *Service) signIn(ctx context.Context, app store.App, c credentials, ip string, create bool) (store.User, bool, error) {
	if c.Login == "" && c.Email == "" {
		return store.User{}, false, invalid("login", "cannot be blank")
	}
	if c.Password == "" {
		return store.User{}, false, invalid("password", "cannot be blank")
	}
	if err := s.limits.beforeLookup(ip); err != nil {
		return store.User{}, false, err
	}
	if tooLong(c.Password, maxPassword) || tooLong(foldName(c.Login), maxLogin) || tooLong(foldName(c.Email), maxEmail) {
		// Longer than anything we store: it cannot match, and hashing it
		// would only cost time.
		s.limits.failed("", ip)
		return store.User{}, false, ErrBadCredentials
	}
	if s.hasher.saturated() {
		// The answer would be 503 after the lookup anyway; in a login storm
		// the lookup is most of what a refused login costs.
		return store.User{}, false, errTooManyLogins()
	}
	u, err := s.findUser(ctx, app.ID, c)
	switch {
	case err == nil:
		return s.signInAs(ctx, u, c.Password, ip)
	case !errors.Is(err, store.ErrNotFound):
		return u, false, storeErr(err, nil)
	case !create:
		if err := s.hasher.VerifyNobody(ctx, c.Password); err != nil {
			return u, false, err
		}
		s.limits.failed("", ip)
		return u, false, ErrUserNotFound
	}
	// Concurrent first logins with the same credentials share one creation
	// (one hash); those with other passwords race in the store.
	key := sharedKey(strconv.FormatInt(app.ID, 10), c.Login, c.Email, c.Password)
	first, shared, err := s.firstLogins.do(ctx, key, func(ctx context.Context) (firstLogin, error) {
		u, created, err := s.createFirstLogin(ctx, app, c, ip)
		return firstLogin{user: u, created: created}, err
	})
	return first.user, first.created && !shared, err
}

// firstLogin is the result of createFirstLogin.
type firstLogin struct {
	user    store.User
	created bool
}

// createFirstLogin creates the user of a first login; when another login
// created it first, it checks the password against that user's.
func (s *Service) createFirstLogin(ctx context.Context, app store.App, c credentials, ip string) (store.User, bool, error) {
	if err := s.limits.beforeSignup(ip, app.ID); err != nil {
		return store.User{}, false, err
	}
	u, err := s.createUser(ctx, app.ID, UserInput{Login: &c.Login, Email: &c.Email, Password: &c.Password}, false)
	var verr *ValidationError
	if errors.As(err, &verr) && (verr.Fields["login"] != nil || verr.Fields["email"] != nil) {
		// Lost a race for this login: the winner's user is the one to use.
		if u, err := s.findUser(ctx, app.ID, c); err == nil {
			return s.signInAs(ctx, u, c.Password, ip)
		}
	}
	return u, err == nil, err
}

// signInAs checks the password of an existing user under the failure
// limits of its account: one account, whether named by login or by email.
func (s *Service) signInAs(ctx context.Context, u store.User, password, ip string) (store.User, bool, error) {
	account := accountKey(u.AppID, u.ID)
	if err := s.limits.beforePasswordCheck(account, ip); err != nil {
		return store.User{}, false, err
	}
	u, _, err := s.checkPassword(ctx, u, password)
	switch {
	case err == nil:
		s.limits.succeeded(account, ip)
	case errors.Is(err, ErrBadCredentials):
		s.limits.failed(account, ip)
	}
	return u, false, err
}

func (s *Service) findUser(ctx context.Context, appID int64, c credentials) (store.User, error) {
	if c.Login != "" {
		return s.userByName(ctx, appID, c.Login, s.store.GetUserByLogin)
	}
	return s.userByName(ctx, appID, c.Email, s.store.GetUserByEmail)
}

// userByName looks a login or email up in its folded form, then, for a
// user stored before names were folded, as given.
func (s *Service) userByName(ctx context.Context, appID int64, name string,
	get func(context.Context, int64, string) (store.User, error),
) (store.User, error) {
	u, err := get(ctx, appID, foldName(name))
	if errors.Is(err, store.ErrNotFound) && foldedBefore(name) {
		u, err = get(ctx, appID, name)
	}
	return u, err
}

func (s *Service) checkPassword(ctx context.Context, u store.User, password string) (store.User, bool, error) {
	// Guests have no password hash: Verify then costs a dummy comparison
	// and fails, so a guest cannot sign in with a password.
	ok, weaker, err := s.hasher.Verify(ctx, u.PasswordHash, password)
	if err != nil {
		return u, false, err
	}
	if !ok {
		return u, false, ErrBadCredentials
	}
	if weaker {
		u = s.rehash(ctx, u, password) // foreign or weaker: to argon2id (rehash.go)
	}
	return u, false, nil
}

// UserInput is the user fields a client may set. A nil field is not set
// (on update: left as it is).
type UserInput struct {
	Login, Email, Password, OldPassword        *string
	FullName, Phone, Website, CustomData, Tags *string
	ExternalID, FacebookID, TwitterID, Avatar  *string
	Timezone                                   *string
}

// UserInputFrom reads user fields from the "user" object of a request body.
func UserInputFrom(p Params) UserInput {
	m := p.Sub("user")
	field := func(name string) *string {
		if v, ok := m[name]; ok {
			return &v
		}
		return nil
	}
	in := UserInput{
		Login: field("login"), Email: field("email"), Password: field("password"),
		OldPassword: field("old_password"), FullName: field("full_name"), Phone: field("phone"),
		Website: field("website"), CustomData: field("custom_data"), Tags: field("tag_list"),
		ExternalID: field("external_id"), FacebookID: field("facebook_id"),
		TwitterID: field("twitter_id"), Avatar: field("avatar"), Timezone: field("timezone"),
	}
	if in.ExternalID == nil {
		in.ExternalID = field("external_user_id")
	}
	return in
}

// CreateUserRequest is a POST /users (signup).
type CreateUserRequest struct {
	// AppID is the app of the caller's session, or of its CB-AuthKey.
	AppID    int64
	Input    UserInput
	ClientIP string
}

// CreateUser signs a user up.
func (s *Service) CreateUser(ctx context.Context, req CreateUserRequest) (store.User, error) {
	if err := s.limits.beforeSignup(s.limits.clientKey(req.ClientIP), req.AppID); err != nil {
		return store.User{}, err
	}
	if req.Input.Password == nil || *req.Input.Password == "" {
		return store.User{}, invalid("password", "cannot be blank")
	}
	// Identical signups at once (a client retrying, a double tap) share one
	// creation and one hash: one is created, the others are told the name
	// is taken, as they would be after it.
	input, err := json.Marshal(req.Input)
	if err != nil {
		return store.User{}, err
	}
	u, shared, err := s.signups.do(ctx, sharedKey(strconv.FormatInt(req.AppID, 10), string(input)),
		func(ctx context.Context) (store.User, error) { return s.createUser(ctx, req.AppID, req.Input, true) })
	if shared && err == nil {
		if req.Input.Login != nil && *req.Input.Login != "" {
			return store.User{}, invalid("login", "has already been taken")
		}
		return store.User{}, invalid("email", "has already been taken")
	}
	return u, err
}

func (s *Service) createUser(ctx context.Context, appID int64, in UserInput, checkPassword bool) (store.User, error) {
	now := s.now()
	u := store.User{AppID: appID, CreatedAt: now, UpdatedAt: now}
	if err := applyUserInput(&u, in, true); err != nil {
		return u, err
	}
	if checkPassword || in.Password != nil {
		if err := s.checkNewPassword(ctx, appID, *in.Password); err != nil {
			return u, err
		}
	}
	hash, err := s.hasher.Hash(ctx, *in.Password)
	if err != nil {
		return u, err
	}
	u.PasswordHash = hash
	return u, s.saveUser(ctx, &u, true)
}

// checkNewPassword checks a new password against its app's policy: at
// least the app's minimum and at most maxPassword characters.
func (s *Service) checkNewPassword(ctx context.Context, appID int64, password string) error {
	app, err := s.App(ctx, appID)
	if err != nil {
		return err
	}
	return checkLength("password", password, MinPasswordLength(app), maxPassword)
}

// saveUser creates or updates u, turning uniqueness conflicts into
// ConnectyCube's per-field validation errors.
func (s *Service) saveUser(ctx context.Context, u *store.User, create bool) error {
	var err error
	if create {
		err = s.store.CreateUser(ctx, u)
	} else {
		err = s.store.UpdateUser(ctx, *u)
	}
	switch {
	case errors.Is(err, store.ErrLoginTaken):
		return invalid("login", "has already been taken")
	case errors.Is(err, store.ErrEmailTaken):
		return invalid("email", "has already been taken")
	}
	return storeErr(err, ErrNotFound)
}

// applyUserInput validates in and copies it onto u. On create a login or an
// email is required. Logins and emails are stored folded (foldName).
func applyUserInput(u *store.User, in UserInput, create bool) error {
	verr := &ValidationError{}
	set := func(dst *string, src *string, field string, minLen, maxLen int, kind textKind) {
		if src == nil {
			return
		}
		v := strings.TrimSpace(*src)
		if field == "login" || field == "email" {
			v = foldName(v)
		}
		if err := checkText(field, v, minLen, maxLen, kind); err != nil {
			verr.add(field, err.(*ValidationError).Fields[field][0])
			return
		}
		*dst = v
	}
	if in.Login != nil && strings.TrimSpace(*in.Login) != "" {
		set(&u.Login, in.Login, "login", minLogin, maxLogin, textName)
	} else if in.Login != nil && !create {
		verr.add("login", "cannot be blank")
	}
	if in.Email != nil && strings.TrimSpace(*in.Email) != "" {
		set(&u.Email, in.Email, "email", 3, maxEmail, textName)
		if !strings.Contains(u.Email, "@") && verr.Fields["email"] == nil {
			verr.add("email", "is invalid")
		}
	} else if in.Email != nil && !create {
		u.Email = ""
	}
	if create && u.Login == "" && u.Email == "" && verr.Fields["login"] == nil {
		verr.add("login", "cannot be blank")
	}
	set(&u.FullName, in.FullName, "full_name", 0, maxFullName, textProse)
	set(&u.Phone, in.Phone, "phone", 0, 40, textName)
	set(&u.Website, in.Website, "website", 0, maxShortField, textName)
	u.Website = normalizeWebsite(u.Website)
	set(&u.Tags, in.Tags, "tag_list", 0, 1000, textProse)
	set(&u.ExternalID, in.ExternalID, "external_id", 0, maxShortField, textName)
	set(&u.FacebookID, in.FacebookID, "facebook_id", 0, maxShortField, textName)
	set(&u.TwitterID, in.TwitterID, "twitter_id", 0, maxShortField, textName)
	set(&u.Avatar, in.Avatar, "avatar", 0, maxShortField, textName)
	if in.CustomData != nil {
		switch {
		case len(*in.CustomData) > maxCustomData:
			verr.add("custom_data", "is too long")
		case hasForbiddenRune(*in.CustomData, textJSON):
			verr.add("custom_data", msgForbiddenRune)
		default:
			u.CustomData = *in.CustomData
		}
	}
	if in.Timezone != nil && *in.Timezone != "" {
		tz, err := strconv.Atoi(*in.Timezone)
		if err != nil || tz < -24*60 || tz > 24*60 {
			verr.add("timezone", "is invalid")
		} else {
			u.Timezone = &tz
		}
	}
	return verr.orNil()
}

// msgForbiddenRune is the field error for hasForbiddenRune.
const msgForbiddenRune = "contains control or bidirectional formatting characters"

// checkText checks a field's length and characters.
func checkText(field, v string, minLen, maxLen int, kind textKind) error {
	if err := checkLength(field, v, minLen, maxLen); err != nil {
		return err
	}
	if hasForbiddenRune(v, kind) {
		return invalid(field, msgForbiddenRune)
	}
	return nil
}

func checkLength(field, v string, minLen, maxLen int) error {
	n := utf8.RuneCountInString(v)
	switch {
	case n < minLen && n == 0:
		return invalid(field, "cannot be blank")
	case n < minLen:
		return invalid(field, "is too short (minimum is "+strconv.Itoa(minLen)+" characters)")
	case tooLong(v, maxLen):
		return invalid(field, "is too long (maximum is "+strconv.Itoa(maxLen)+" characters)")
	}
	return nil
}

// UpdateUser changes the caller's own user. A new password needs the old
// one, and ends every other session of the user. A new email counts
// against the email-change limit of the user and the lookups of clientIP.
func (s *Service) UpdateUser(ctx context.Context, caller Identity, userID int64, in UserInput, clientIP string) (store.User, error) {
	if err := ownUser(caller, userID); err != nil {
		return store.User{}, err
	}
	u, err := s.store.GetUser(ctx, caller.AppID, userID)
	if err != nil {
		return u, storeErr(err, ErrNotFound)
	}
	oldEmail := u.Email
	if err := applyUserInput(&u, in, false); err != nil {
		return u, err
	}
	if u.Email != "" && u.Email != oldEmail {
		// "has already been taken" tells whether someone has the address.
		if err := s.limits.beforeEmailChange(accountKey(caller.AppID, u.ID), s.limits.clientKey(clientIP)); err != nil {
			return u, err
		}
	}
	newPassword := in.Password != nil && *in.Password != ""
	if newPassword {
		if in.OldPassword == nil || *in.OldPassword == "" {
			return u, invalid("old_password", "cannot be blank")
		}
		if err := s.checkNewPassword(ctx, caller.AppID, *in.Password); err != nil {
			return u, err
		}
		account := accountKey(caller.AppID, u.ID)
		if err := s.limits.beforePasswordCheck(account, ""); err != nil {
			return u, err
		}
		ok, _, err := s.hasher.Verify(ctx, u.PasswordHash, *in.OldPassword)
		if err != nil {
			return u, err
		}
		if !ok {
			s.limits.failed(account, "")
			return u, invalid("old_password", "is incorrect")
		}
		if u.PasswordHash, err = s.hasher.Hash(ctx, *in.Password); err != nil {
			return u, err
		}
	}
	u.UpdatedAt = s.now()
	if err := s.saveUser(ctx, &u, false); err != nil {
		return u, err
	}
	if newPassword {
		if err := s.cancelPasswordResets(ctx, u); err != nil {
			return u, err
		}
		return u, s.endOtherSessions(ctx, caller)
	}
	return u, nil
}

// endOtherSessions revokes every session of the caller's user except the
// caller's own, which goes on.
func (s *Service) endOtherSessions(ctx context.Context, caller Identity) error {
	for {
		sessions, _, err := s.store.ListSessions(ctx, store.SessionQuery{AppID: caller.AppID, UserID: caller.UserID, Limit: 1000})
		if err != nil {
			return storeErr(err, nil)
		}
		ended := 0
		for _, sess := range sessions {
			if sess.TokenHash == caller.TokenHash {
				continue
			}
			if err := s.revoke(ctx, sess.TokenHash); err != nil {
				return err
			}
			ended++
		}
		if ended == 0 {
			return nil
		}
	}
}

// DeleteUser deletes the caller's own user and ends all its sessions.
func (s *Service) DeleteUser(ctx context.Context, caller Identity, userID int64) error {
	if err := ownUser(caller, userID); err != nil {
		return err
	}
	return storeErr(s.store.DeleteUser(ctx, caller.AppID, userID), ErrNotFound)
}

// DeleteUserByExternalID deletes the caller's own user by its external ID
// (DELETE /users/external/{id}). Users delete only themselves, and nobody
// learns through it whether another user has that external ID: any other
// value is ErrForbidden.
func (s *Service) DeleteUserByExternalID(ctx context.Context, caller Identity, externalID string) error {
	if err := caller.RequireUser(); err != nil {
		return err
	}
	u, err := s.store.GetUser(ctx, caller.AppID, caller.UserID)
	if err != nil {
		return storeErr(err, ErrSessionNotFound)
	}
	if u.ExternalID == "" || store.FoldText(u.ExternalID) != store.FoldText(strings.TrimSpace(externalID)) {
		return ErrForbidden
	}
	return s.DeleteUser(ctx, caller, u.ID)
}

// normalizeWebsite gives a website without a scheme the http:// the
// ConnectyCube API answers with ("pavalli.com.au" is "http://pavalli.com.au").
func normalizeWebsite(w string) string {
	if w == "" || strings.Contains(w, "://") {
		return w
	}
	return "http://" + w
}

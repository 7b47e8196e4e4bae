package authcore

import (
	"strconv"

	"github.com/cubeauth/cubeauth/store"
)

// The one place that decides what an app's stage allows and what a
// caller's session may do. Stages: development creates users on their first
// session, production does not; an app's explicit session_without_user
// overrides its stage either way.

// AllowsSessionWithoutUser is the effective "session creation without an
// existing user entity" permission: explicit, or following the stage.
func AllowsSessionWithoutUser(a store.App) bool {
	return permitted(a.SessionWithoutUser, a.Stage != store.StageProduction)
}

// AllowsListUsers is the effective "Allow to retrieve a list of users via
// API" permission for app and guest sessions: explicit, or following the
// stage. Signed-in users may always look other users up.
func AllowsListUsers(a store.App) bool {
	return permitted(a.ListUsers, a.Stage != store.StageProduction)
}

// AllowsGuestSessions is the effective guest permission: explicit, or
// following session_without_user, since each guest session creates a user.
func AllowsGuestSessions(a store.App) bool {
	return permitted(a.GuestSessions, AllowsSessionWithoutUser(a))
}

// permitted reads an allow/deny/"" permission.
func permitted(permission string, byDefault bool) bool {
	switch permission {
	case store.PermissionAllow:
		return true
	case store.PermissionDeny:
		return false
	}
	return byDefault
}

// MinPasswordLength is the fewest characters a new password of the app's
// users may have.
func MinPasswordLength(a store.App) int {
	if a.MinPasswordLength > 0 {
		return a.MinPasswordLength
	}
	return minPassword
}

// withDefaultStage gives an app without a stage the development stage.
func withDefaultStage(a *store.App) {
	if a.Stage == "" {
		a.Stage = store.StageDevelopment
	}
}

// checkStageAndPermissions adds to verr what is wrong with an app's stage,
// permissions and user policy.
func checkStageAndPermissions(a store.App, verr *ValidationError) {
	switch a.Stage {
	case store.StageDevelopment, store.StageProduction:
	default:
		verr.add(FieldStage, "must be development or production")
	}
	for _, p := range []struct{ field, value, follows string }{
		{FieldSessionWithoutUser, a.SessionWithoutUser, "the stage"},
		{FieldListUsers, a.ListUsers, "the stage"},
		{FieldGuestSessions, a.GuestSessions, "session_without_user"},
	} {
		switch p.value {
		case "", store.PermissionAllow, store.PermissionDeny:
		default:
			verr.add(p.field, "must be allow, deny or null (follow "+p.follows+")")
		}
	}
	checkUserFields(a.UserFields, verr)
	if n := a.MinPasswordLength; n != 0 && (n < minPassword || n > maxPassword) {
		verr.add(FieldMinPasswordLength, "must be between "+strconv.Itoa(minPassword)+" and "+strconv.Itoa(maxPassword))
	}
}

// RequireUser refuses an app session (ErrNeedUser) what only a user's
// session may do: change its session's user, act on users, and (as the
// proxied path decides) anything but read.
func (id Identity) RequireUser() error {
	if id.UserID == 0 {
		return ErrNeedUser
	}
	return nil
}

// ownUser allows a caller to act on its own user only.
func ownUser(caller Identity, userID int64) error {
	if err := caller.RequireUser(); err != nil {
		return err
	}
	if caller.UserID != userID {
		return ErrForbidden
	}
	return nil
}

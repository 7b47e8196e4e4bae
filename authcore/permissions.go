package authcore

import "github.com/cubeauth/cubeauth/store"

// The one place that decides what an app's stage allows and what a
// caller's session may do. Stages: development creates users on their first
// session, production does not; an app's explicit session_without_user
// overrides its stage either way.

// AllowsSessionWithoutUser is the effective "session creation without an
// existing user entity" permission: explicit, or following the stage.
func AllowsSessionWithoutUser(a store.App) bool {
	switch a.SessionWithoutUser {
	case store.PermissionAllow:
		return true
	case store.PermissionDeny:
		return false
	}
	return a.Stage != store.StageProduction
}

// withDefaultStage gives an app without a stage the development stage.
func withDefaultStage(a *store.App) {
	if a.Stage == "" {
		a.Stage = store.StageDevelopment
	}
}

// checkStageAndPermission adds to verr what is wrong with an app's stage
// and session_without_user values.
func checkStageAndPermission(a store.App, verr *ValidationError) {
	switch a.Stage {
	case store.StageDevelopment, store.StageProduction:
	default:
		verr.add(FieldStage, "must be development or production")
	}
	switch a.SessionWithoutUser {
	case "", store.PermissionAllow, store.PermissionDeny:
	default:
		verr.add(FieldSessionWithoutUser, "must be allow, deny or null (follow the stage)")
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

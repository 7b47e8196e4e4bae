package operator

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/cubeauth/cubeauth/authcore"
	"github.com/cubeauth/cubeauth/store"
	"go.uber.org/zap"
)

func (api *operatorAPI) listApps(w http.ResponseWriter, r *http.Request, t target) error {
	apps, err := t.svc.Apps(r.Context())
	if err != nil {
		return adminDomainError(err, "")
	}
	now := time.Now()
	views := renderAll(apps, func(a store.App) appView { return newAppView(a, now) })
	return writeAdminJSON(w, http.StatusOK, map[string]any{"apps": views})
}

// createAppBody is POST /cubeauth/apps.
type createAppBody struct {
	Name               string  `json:"name"`
	Stage              string  `json:"stage"`
	SessionWithoutUser *string `json:"session_without_user"`
}

func (api *operatorAPI) createApp(w http.ResponseWriter, r *http.Request, t target) error {
	var body createAppBody
	if err := decodeAdminBody(r, &body, true); err != nil {
		return err
	}
	in := authcore.NewApp{Name: body.Name, Stage: body.Stage}
	if body.SessionWithoutUser != nil {
		in.SessionWithoutUser = *body.SessionWithoutUser
	}
	a, err := t.svc.CreateApp(r.Context(), in)
	if err != nil {
		return adminDomainError(err, "")
	}
	api.logger.Info("app created", zap.Int64("app_id", a.ID), zap.String("stage", a.Stage))
	api.warn(a)
	return writeAdminJSON(w, http.StatusCreated, map[string]any{"app": newAppView(a, time.Now())})
}

func (api *operatorAPI) showApp(w http.ResponseWriter, r *http.Request, t target) error {
	a, err := t.svc.StoredApp(r.Context(), t.app)
	if err != nil {
		return adminDomainError(err, "app")
	}
	return writeAdminJSON(w, http.StatusOK, map[string]any{"app": newAppView(a, time.Now())})
}

// updatableFields are the keys PATCH /cubeauth/apps/{id} takes.
var updatableFields = []string{
	authcore.FieldName, authcore.FieldStage, authcore.FieldSessionWithoutUser,
	authcore.FieldAuthSecret, authcore.FieldRequireSignature, authcore.FieldListUsers,
	authcore.FieldGuestSessions, authcore.FieldUserFields, authcore.FieldMinPasswordLength,
}

func (api *operatorAPI) updateApp(w http.ResponseWriter, r *http.Request, t target) error {
	var raw map[string]json.RawMessage
	if err := decodeAdminBody(r, &raw, false); err != nil {
		return err
	}
	var ch authcore.AppChanges
	var names []string
	for key, v := range raw {
		names = append(names, key)
		var err error
		switch key {
		case authcore.FieldName:
			err = json.Unmarshal(v, &ch.Name)
		case authcore.FieldStage:
			err = json.Unmarshal(v, &ch.Stage)
		case authcore.FieldSessionWithoutUser:
			ch.SessionWithoutUser, err = nullablePermission(v)
		case authcore.FieldListUsers:
			ch.ListUsers, err = nullablePermission(v)
		case authcore.FieldGuestSessions:
			ch.GuestSessions, err = nullablePermission(v)
		case authcore.FieldAuthSecret:
			err = json.Unmarshal(v, &ch.AuthSecret)
		case authcore.FieldRequireSignature:
			err = json.Unmarshal(v, &ch.RequireSignature)
		case authcore.FieldUserFields:
			// null (or {}) gives every field its default visibility.
			fields := map[string]string{}
			err = json.Unmarshal(v, &fields)
			if fields == nil {
				fields = map[string]string{}
			}
			ch.UserFields = &fields
		case authcore.FieldMinPasswordLength:
			// null is the default minimum, 0.
			n := new(int)
			err = json.Unmarshal(v, n)
			ch.MinPasswordLength = n
		default:
			return adminError(http.StatusBadRequest, fmt.Sprintf("unknown field %q; an app takes %s",
				key, strings.Join(updatableFields, ", ")))
		}
		if err != nil {
			return adminError(http.StatusBadRequest, fmt.Sprintf("field %q has the wrong type", key))
		}
	}
	sort.Strings(names)
	a, err := t.svc.UpdateApp(r.Context(), t.app, ch)
	if err != nil {
		return adminDomainError(err, "app")
	}
	// Only field names are logged: an auth secret never reaches a log.
	api.logger.Info("app updated", zap.Int64("app_id", a.ID), zap.Strings("fields", names),
		zap.String("stage", a.Stage), zap.Bool("session_without_user_allowed", authcore.AllowsSessionWithoutUser(a)))
	api.warn(a)
	return writeAdminJSON(w, http.StatusOK, map[string]any{"app": newAppView(a, time.Now())})
}

// nullablePermission reads "allow", "deny" or null: null (or "") follows the
// default, so it is still a change, to "".
func nullablePermission(v json.RawMessage) (*string, error) {
	var p *string
	err := json.Unmarshal(v, &p)
	if p == nil {
		p = new(string)
	}
	return p, err
}

// rotateKeyBody is POST /cubeauth/apps/{id}/rotate_key.
type rotateKeyBody struct {
	// Grace is how long the old key keeps working, e.g. "24h"; "0" or
	// empty ends it at once.
	Grace string `json:"grace"`
}

func (api *operatorAPI) rotateKey(w http.ResponseWriter, r *http.Request, t target) error {
	var body rotateKeyBody
	if err := decodeAdminBody(r, &body, true); err != nil {
		return err
	}
	var grace time.Duration
	if body.Grace != "" {
		d, err := caddy.ParseDuration(body.Grace)
		if err != nil {
			return adminError(http.StatusUnprocessableEntity, "grace must be a duration such as 24h")
		}
		grace = d
	}
	a, err := t.svc.RotateAuthKey(r.Context(), t.app, grace)
	if err != nil {
		return adminDomainError(err, "app")
	}
	api.logger.Info("auth key rotated", zap.Int64("app_id", a.ID), zap.Duration("grace", grace))
	return writeAdminJSON(w, http.StatusOK, map[string]any{"app": newAppView(a, time.Now())})
}

func (api *operatorAPI) deleteApp(w http.ResponseWriter, r *http.Request, t target) error {
	if err := t.svc.DeleteApp(r.Context(), t.app); err != nil {
		var perr *authcore.PinnedError
		if errors.As(err, &perr) {
			return adminError(http.StatusConflict, fmt.Sprintf("app %d is declared in the server configuration; remove it there", t.app))
		}
		return adminDomainError(err, "app")
	}
	api.logger.Info("app deleted", zap.Int64("app_id", t.app))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (api *operatorAPI) listUsers(w http.ResponseWriter, r *http.Request, t target) error {
	offset, limit, err := adminPaging(r)
	if err != nil {
		return err
	}
	q := store.UserQuery{AppID: t.app, Search: strings.TrimSpace(r.URL.Query().Get("search")), Offset: offset, Limit: limit}
	users, total, err := t.svc.OperatorUsers(r.Context(), q)
	if err != nil {
		return adminDomainError(err, "app")
	}
	return writeAdminJSON(w, http.StatusOK, map[string]any{
		"users": renderAll(users, newUserView), "total": total, "offset": offset, "limit": limit,
	})
}

func (api *operatorAPI) showUser(w http.ResponseWriter, r *http.Request, t target) error {
	u, err := t.svc.OperatorUser(r.Context(), t.app, t.user)
	if err != nil {
		return adminDomainError(err, "user")
	}
	_, sessions, err := t.svc.OperatorSessions(r.Context(), store.SessionQuery{AppID: t.app, UserID: t.user, Limit: 1})
	if err != nil {
		return adminDomainError(err, "app")
	}
	v := newUserView(u)
	v.Sessions = &sessions
	return writeAdminJSON(w, http.StatusOK, map[string]any{"user": v})
}

func (api *operatorAPI) deleteUser(w http.ResponseWriter, r *http.Request, t target) error {
	if err := t.svc.OperatorDeleteUser(r.Context(), t.app, t.user); err != nil {
		return adminDomainError(err, "user")
	}
	api.logger.Info("user deleted", zap.Int64("app_id", t.app), zap.Int64("user_id", t.user))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (api *operatorAPI) endUserSessions(w http.ResponseWriter, r *http.Request, t target) error {
	n, err := t.svc.RevokeUserSessions(r.Context(), t.app, t.user)
	if err != nil {
		return adminDomainError(err, "user")
	}
	api.logger.Info("user sessions ended", zap.Int64("app_id", t.app), zap.Int64("user_id", t.user), zap.Int("sessions", n))
	return writeAdminJSON(w, http.StatusOK, map[string]any{"ended": n})
}

func (api *operatorAPI) listSessions(w http.ResponseWriter, r *http.Request, t target) error {
	offset, limit, err := adminPaging(r)
	if err != nil {
		return err
	}
	q := store.SessionQuery{AppID: t.app, Offset: offset, Limit: limit}
	if v := r.URL.Query().Get("user_id"); v != "" {
		if q.UserID, err = adminPathID(v, "user"); err != nil {
			return err
		}
	}
	sessions, total, err := t.svc.OperatorSessions(r.Context(), q)
	if err != nil {
		return adminDomainError(err, "app")
	}
	return writeAdminJSON(w, http.StatusOK, map[string]any{
		"sessions": renderAll(sessions, newSessionView), "total": total, "offset": offset, "limit": limit,
	})
}

func (api *operatorAPI) revokeSession(w http.ResponseWriter, r *http.Request, t target) error {
	sess, err := t.svc.RevokeSessionByID(r.Context(), t.app, t.session)
	if err != nil {
		return adminDomainError(err, "session")
	}
	api.logger.Info("session revoked", zap.Int64("app_id", t.app), zap.Int64("session_id", t.session),
		zap.Int64("user_id", sess.UserID), zap.String("token_fingerprint", authcore.Fingerprint(sess.TokenHash)))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// warn logs what AppWarnings says about an app an operator just changed.
func (api *operatorAPI) warn(a store.App) {
	for _, msg := range authcore.AppWarnings(a) {
		api.logger.Warn(msg, zap.Int64("app_id", a.ID))
	}
}

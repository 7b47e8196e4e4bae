package caddymodule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/cubeauth/cubeauth/authcore"
	"github.com/cubeauth/cubeauth/store"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI is the admin.api.cubeauth module: operator routes under
// /cubeauth/ on Caddy's admin endpoint for apps, stages, permissions, users
// and sessions, and the dashboard at /cubeauth/ui/. Like every admin.api
// module it is created without config; it reaches the stores of the running
// cubeauth handlers through their registry, and writes through their
// authcore.Service, so that every handler over the store sees a change on
// its very next request.
type AdminAPI struct {
	api *operatorAPI
}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.cubeauth",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Provision sets up the routes' logger.
func (a *AdminAPI) Provision(ctx caddy.Context) error {
	a.api = &operatorAPI{logger: ctx.Logger()}
	return nil
}

// Routes returns the /cubeauth/ routes.
func (a *AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: operatorPrefix, Handler: caddy.AdminHandlerFunc(a.api.serve)}}
}

// operatorPrefix is where the operator routes live, on the admin endpoint
// and on a site with the cubeauth_dashboard handler.
const operatorPrefix = "/cubeauth/"

// Paging of users and sessions.
const (
	defaultPageSize = 50
	maxPageSize     = 500
)

// operatorAPI answers the operator routes. The admin endpoint and the
// dashboard handler share it, so both offer exactly the same operations.
type operatorAPI struct {
	logger *zap.Logger
}

// serve routes one request. Errors are caddy.APIError values, which the
// admin endpoint (and the dashboard handler, the same way) renders as
// {"error": "..."}.
func (api *operatorAPI) serve(w http.ResponseWriter, r *http.Request) error {
	rest, ok := strings.CutPrefix(r.URL.Path, operatorPrefix)
	if !ok {
		return adminError(http.StatusNotFound, "not found")
	}
	if rest == "ui" || strings.HasPrefix(rest, "ui/") {
		return serveDashboardAsset(w, r, strings.TrimPrefix(rest, "ui"))
	}
	seg := strings.Split(strings.Trim(rest, "/"), "/")
	switch {
	case len(seg) == 1 && seg[0] == "stores":
		if err := requireMethod(r, http.MethodGet); err != nil {
			return err
		}
		return writeAdminJSON(w, http.StatusOK, map[string]any{"stores": emptyIfNil(runningStores())})
	case seg[0] != "apps":
		return adminError(http.StatusNotFound, "not found")
	}
	svc, err := api.service(r)
	if err != nil {
		return err
	}
	if len(seg) == 1 {
		switch r.Method {
		case http.MethodGet:
			return api.listApps(w, r, svc)
		case http.MethodPost:
			return api.createApp(w, r, svc)
		}
		return adminMethodNotAllowed(http.MethodGet, http.MethodPost)
	}
	appID, err := adminPathID(seg[1], "app")
	if err != nil {
		return err
	}
	switch {
	case len(seg) == 2:
		switch r.Method {
		case http.MethodGet:
			return api.showApp(w, r, svc, appID)
		case http.MethodPatch:
			return api.updateApp(w, r, svc, appID)
		case http.MethodDelete:
			return api.deleteApp(w, r, svc, appID)
		}
		return adminMethodNotAllowed(http.MethodGet, http.MethodPatch, http.MethodDelete)
	case len(seg) == 3 && seg[2] == "rotate_key":
		if err := requireMethod(r, http.MethodPost); err != nil {
			return err
		}
		return api.rotateKey(w, r, svc, appID)
	case len(seg) == 3 && seg[2] == "users":
		if err := requireMethod(r, http.MethodGet); err != nil {
			return err
		}
		return api.listUsers(w, r, svc, appID)
	case len(seg) >= 4 && len(seg) <= 5 && seg[2] == "users":
		userID, err := adminPathID(seg[3], "user")
		if err != nil {
			return err
		}
		if len(seg) == 5 {
			if seg[4] != "end_sessions" {
				return adminError(http.StatusNotFound, "not found")
			}
			if err := requireMethod(r, http.MethodPost); err != nil {
				return err
			}
			return api.endUserSessions(w, r, svc, appID, userID)
		}
		switch r.Method {
		case http.MethodGet:
			return api.showUser(w, r, svc, appID, userID)
		case http.MethodDelete:
			return api.deleteUser(w, r, svc, appID, userID)
		}
		return adminMethodNotAllowed(http.MethodGet, http.MethodDelete)
	case len(seg) == 3 && seg[2] == "sessions":
		if err := requireMethod(r, http.MethodGet); err != nil {
			return err
		}
		return api.listSessions(w, r, svc, appID)
	case len(seg) == 4 && seg[2] == "sessions":
		sessionID, err := adminPathID(seg[3], "session")
		if err != nil {
			return err
		}
		if err := requireMethod(r, http.MethodDelete); err != nil {
			return err
		}
		return api.revokeSession(w, r, svc, appID, sessionID)
	}
	return adminError(http.StatusNotFound, "not found")
}

// service picks the service over the store that ?store= names, or the only
// store in use.
func (api *operatorAPI) service(r *http.Request) (*authcore.Service, error) {
	svc, err := lookupService(r.URL.Query().Get("store"))
	var lerr *serviceLookupError
	if errors.As(err, &lerr) {
		status := http.StatusBadRequest
		if lerr.none {
			status = http.StatusServiceUnavailable
		}
		return nil, adminError(status, lerr.reason)
	}
	return svc, err
}

func (api *operatorAPI) listApps(w http.ResponseWriter, r *http.Request, svc *authcore.Service) error {
	apps, err := svc.Apps(r.Context())
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

func (api *operatorAPI) createApp(w http.ResponseWriter, r *http.Request, svc *authcore.Service) error {
	var body createAppBody
	if err := decodeAdminBody(r, &body, true); err != nil {
		return err
	}
	in := authcore.NewApp{Name: body.Name, Stage: body.Stage}
	if body.SessionWithoutUser != nil {
		in.SessionWithoutUser = *body.SessionWithoutUser
	}
	a, err := svc.CreateApp(r.Context(), in)
	if err != nil {
		return adminDomainError(err, "")
	}
	api.logger.Info("app created", zap.Int64("app_id", a.ID), zap.String("stage", a.Stage))
	api.warn(a)
	return writeAdminJSON(w, http.StatusCreated, map[string]any{"app": newAppView(a, time.Now())})
}

func (api *operatorAPI) showApp(w http.ResponseWriter, r *http.Request, svc *authcore.Service, appID int64) error {
	a, err := svc.StoredApp(r.Context(), appID)
	if err != nil {
		return adminDomainError(err, "app")
	}
	return writeAdminJSON(w, http.StatusOK, map[string]any{"app": newAppView(a, time.Now())})
}

// updatableFields are the keys PATCH /cubeauth/apps/{id} takes.
var updatableFields = []string{
	authcore.FieldName, authcore.FieldStage, authcore.FieldSessionWithoutUser,
	authcore.FieldAuthSecret, authcore.FieldRequireSignature,
}

func (api *operatorAPI) updateApp(w http.ResponseWriter, r *http.Request, svc *authcore.Service, appID int64) error {
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
			// null (or "") follows the stage: it must still be set, to "".
			var p *string
			err = json.Unmarshal(v, &p)
			if p == nil {
				p = new(string)
			}
			ch.SessionWithoutUser = p
		case authcore.FieldAuthSecret:
			err = json.Unmarshal(v, &ch.AuthSecret)
		case authcore.FieldRequireSignature:
			err = json.Unmarshal(v, &ch.RequireSignature)
		default:
			return adminError(http.StatusBadRequest, fmt.Sprintf("unknown field %q; an app takes %s",
				key, strings.Join(updatableFields, ", ")))
		}
		if err != nil {
			return adminError(http.StatusBadRequest, fmt.Sprintf("field %q has the wrong type", key))
		}
	}
	sort.Strings(names)
	a, err := svc.UpdateApp(r.Context(), appID, ch)
	if err != nil {
		return adminDomainError(err, "app")
	}
	// Only field names are logged: an auth secret never reaches a log.
	api.logger.Info("app updated", zap.Int64("app_id", a.ID), zap.Strings("fields", names),
		zap.String("stage", a.Stage), zap.Bool("session_without_user_allowed", authcore.AllowsSessionWithoutUser(a)))
	api.warn(a)
	return writeAdminJSON(w, http.StatusOK, map[string]any{"app": newAppView(a, time.Now())})
}

// rotateKeyBody is POST /cubeauth/apps/{id}/rotate_key.
type rotateKeyBody struct {
	// Grace is how long the old key keeps working, e.g. "24h"; "0" or
	// empty ends it at once.
	Grace string `json:"grace"`
}

func (api *operatorAPI) rotateKey(w http.ResponseWriter, r *http.Request, svc *authcore.Service, appID int64) error {
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
	a, err := svc.RotateAuthKey(r.Context(), appID, grace)
	if err != nil {
		return adminDomainError(err, "app")
	}
	api.logger.Info("auth key rotated", zap.Int64("app_id", a.ID), zap.Duration("grace", grace))
	return writeAdminJSON(w, http.StatusOK, map[string]any{"app": newAppView(a, time.Now())})
}

func (api *operatorAPI) deleteApp(w http.ResponseWriter, r *http.Request, svc *authcore.Service, appID int64) error {
	if err := svc.DeleteApp(r.Context(), appID); err != nil {
		var perr *authcore.PinnedError
		if errors.As(err, &perr) {
			return adminError(http.StatusConflict, fmt.Sprintf("app %d is declared in the server configuration; remove it there", appID))
		}
		return adminDomainError(err, "app")
	}
	api.logger.Info("app deleted", zap.Int64("app_id", appID))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (api *operatorAPI) listUsers(w http.ResponseWriter, r *http.Request, svc *authcore.Service, appID int64) error {
	offset, limit, err := adminPaging(r)
	if err != nil {
		return err
	}
	q := store.UserQuery{AppID: appID, Search: strings.TrimSpace(r.URL.Query().Get("search")), Offset: offset, Limit: limit}
	users, total, err := svc.OperatorUsers(r.Context(), q)
	if err != nil {
		return adminDomainError(err, "app")
	}
	return writeAdminJSON(w, http.StatusOK, map[string]any{
		"users": renderAll(users, newUserView), "total": total, "offset": offset, "limit": limit,
	})
}

func (api *operatorAPI) showUser(w http.ResponseWriter, r *http.Request, svc *authcore.Service, appID, userID int64) error {
	u, err := svc.OperatorUser(r.Context(), appID, userID)
	if err != nil {
		return adminDomainError(err, "user")
	}
	_, sessions, err := svc.OperatorSessions(r.Context(), store.SessionQuery{AppID: appID, UserID: userID, Limit: 1})
	if err != nil {
		return adminDomainError(err, "app")
	}
	v := newUserView(u)
	v.Sessions = &sessions
	return writeAdminJSON(w, http.StatusOK, map[string]any{"user": v})
}

func (api *operatorAPI) deleteUser(w http.ResponseWriter, r *http.Request, svc *authcore.Service, appID, userID int64) error {
	if err := svc.OperatorDeleteUser(r.Context(), appID, userID); err != nil {
		return adminDomainError(err, "user")
	}
	api.logger.Info("user deleted", zap.Int64("app_id", appID), zap.Int64("user_id", userID))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (api *operatorAPI) endUserSessions(w http.ResponseWriter, r *http.Request, svc *authcore.Service, appID, userID int64) error {
	n, err := svc.RevokeUserSessions(r.Context(), appID, userID)
	if err != nil {
		return adminDomainError(err, "user")
	}
	api.logger.Info("user sessions ended", zap.Int64("app_id", appID), zap.Int64("user_id", userID), zap.Int("sessions", n))
	return writeAdminJSON(w, http.StatusOK, map[string]any{"ended": n})
}

func (api *operatorAPI) listSessions(w http.ResponseWriter, r *http.Request, svc *authcore.Service, appID int64) error {
	offset, limit, err := adminPaging(r)
	if err != nil {
		return err
	}
	q := store.SessionQuery{AppID: appID, Offset: offset, Limit: limit}
	if v := r.URL.Query().Get("user_id"); v != "" {
		if q.UserID, err = adminPathID(v, "user"); err != nil {
			return err
		}
	}
	sessions, total, err := svc.OperatorSessions(r.Context(), q)
	if err != nil {
		return adminDomainError(err, "app")
	}
	return writeAdminJSON(w, http.StatusOK, map[string]any{
		"sessions": renderAll(sessions, newSessionView), "total": total, "offset": offset, "limit": limit,
	})
}

func (api *operatorAPI) revokeSession(w http.ResponseWriter, r *http.Request, svc *authcore.Service, appID, sessionID int64) error {
	sess, err := svc.RevokeSessionByID(r.Context(), appID, sessionID)
	if err != nil {
		return adminDomainError(err, "session")
	}
	api.logger.Info("session revoked", zap.Int64("app_id", appID), zap.Int64("session_id", sessionID),
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

// appView is an app as operators see it: the auth key (clients carry it
// anyway) but never the auth secret, only whether one is set.
type appView struct {
	ID            int64  `json:"id"`
	Name          string `json:"name"`
	AuthKey       string `json:"auth_key"`
	AuthSecretSet bool   `json:"auth_secret_set"`
	// PreviousAuthKeyExpiresAt is when a rotated-out key stops working;
	// absent when no previous key works any more.
	PreviousAuthKeyExpiresAt *time.Time `json:"previous_auth_key_expires_at,omitempty"`
	Stage                    string     `json:"stage"`
	// SessionWithoutUser is "allow", "deny", or null when it follows the
	// stage; SessionWithoutUserEffective is what applies.
	SessionWithoutUser          *string   `json:"session_without_user"`
	SessionWithoutUserEffective string    `json:"session_without_user_effective"`
	RequireSignature            bool      `json:"require_signature"`
	Pinned                      []string  `json:"pinned"`
	Warnings                    []string  `json:"warnings"`
	CreatedAt                   time.Time `json:"created_at"`
	UpdatedAt                   time.Time `json:"updated_at"`
}

func newAppView(a store.App, now time.Time) appView {
	v := appView{
		ID:                          a.ID,
		Name:                        a.Name,
		AuthKey:                     a.AuthKey,
		AuthSecretSet:               a.AuthSecret != "",
		Stage:                       a.Stage,
		SessionWithoutUserEffective: store.PermissionDeny,
		RequireSignature:            a.RequireSignature,
		Pinned:                      emptyIfNil(a.Pinned),
		Warnings:                    emptyIfNil(authcore.AppWarnings(a)),
		CreatedAt:                   a.CreatedAt,
		UpdatedAt:                   a.UpdatedAt,
	}
	if a.SessionWithoutUser != "" {
		v.SessionWithoutUser = &a.SessionWithoutUser
	}
	if authcore.AllowsSessionWithoutUser(a) {
		v.SessionWithoutUserEffective = store.PermissionAllow
	}
	if a.PreviousAuthKey != "" && now.Before(a.PreviousAuthKeyExpiresAt) {
		v.PreviousAuthKeyExpiresAt = &a.PreviousAuthKeyExpiresAt
	}
	return v
}

// userView is a user as operators see it: never the password hash.
type userView struct {
	ID            int64     `json:"id"`
	AppID         int64     `json:"app_id"`
	Login         string    `json:"login,omitempty"`
	Email         string    `json:"email,omitempty"`
	FullName      string    `json:"full_name,omitempty"`
	Phone         string    `json:"phone,omitempty"`
	ExternalID    string    `json:"external_id,omitempty"`
	IsGuest       bool      `json:"is_guest"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	LastRequestAt time.Time `json:"last_request_at,omitzero"`
	ExpiresAt     time.Time `json:"expires_at,omitzero"`
	// Sessions counts the user's active sessions (single-user answers only).
	Sessions *int `json:"sessions,omitempty"`
}

func newUserView(u store.User) userView {
	return userView{
		ID: u.ID, AppID: u.AppID, Login: u.Login, Email: u.Email, FullName: u.FullName,
		Phone: u.Phone, ExternalID: u.ExternalID, IsGuest: u.IsGuest,
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, LastRequestAt: u.LastRequestAt, ExpiresAt: u.ExpiresAt,
	}
}

// sessionView is a session as operators see it: a short fingerprint of the
// token's hash names it, never the token.
type sessionView struct {
	ID          int64     `json:"id"`
	AppID       int64     `json:"app_id"`
	UserID      *int64    `json:"user_id"`
	Type        string    `json:"type"`
	Fingerprint string    `json:"fingerprint"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// ExpiresAt is the idle expiry as last stored; an active session's may
	// be up to a minute later in memory.
	ExpiresAt    time.Time `json:"expires_at"`
	MaxExpiresAt time.Time `json:"max_expires_at"`
}

func newSessionView(s store.Session) sessionView {
	v := sessionView{
		ID: s.ID, AppID: s.AppID, Type: authcore.SessionTypeApp, Fingerprint: authcore.Fingerprint(s.TokenHash),
		CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, ExpiresAt: s.ExpiresAt, MaxExpiresAt: s.MaxExpiresAt,
	}
	if s.UserID != 0 {
		uid := s.UserID
		v.UserID, v.Type = &uid, authcore.SessionTypeUser
	}
	return v
}

// adminDomainError turns an authcore error into an API error; what names the
// missing thing for a 404.
func adminDomainError(err error, what string) error {
	var perr *authcore.PinnedError
	var verr *authcore.ValidationError
	switch {
	case errors.As(err, &perr):
		return caddy.APIError{HTTPStatus: http.StatusConflict, Err: err, Message: perr.Error()}
	case errors.As(err, &verr):
		return caddy.APIError{HTTPStatus: http.StatusUnprocessableEntity, Err: err, Message: validationMessage(verr)}
	case errors.Is(err, authcore.ErrNotFound):
		if what == "" {
			what = "resource"
		}
		return adminError(http.StatusNotFound, what+" not found")
	case errors.Is(err, authcore.ErrUnavailable):
		return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: err, Message: "store unavailable"}
	}
	return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err, Message: "internal error"}
}

// validationMessage reads "stage must be development or production".
func validationMessage(verr *authcore.ValidationError) string {
	var parts []string
	fields := make([]string, 0, len(verr.Fields))
	for f := range verr.Fields {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	for _, f := range fields {
		parts = append(parts, f+" "+strings.Join(verr.Fields[f], ", "))
	}
	return strings.Join(parts, "; ")
}

func adminError(status int, msg string) error {
	return caddy.APIError{HTTPStatus: status, Err: errors.New(msg), Message: msg}
}

func requireMethod(r *http.Request, methods ...string) error {
	for _, m := range methods {
		if r.Method == m || (m == http.MethodGet && r.Method == http.MethodHead) {
			return nil
		}
	}
	return adminMethodNotAllowed(methods...)
}

func adminMethodNotAllowed(methods ...string) error {
	return adminError(http.StatusMethodNotAllowed, "method not allowed; use "+strings.Join(methods, " or "))
}

// adminPathID parses a positive integer ID from the path or query.
func adminPathID(s, what string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, adminError(http.StatusNotFound, what+" not found: "+strconv.Quote(s)+" is not an ID")
	}
	return id, nil
}

// adminPaging reads ?offset= and ?limit= (default 50, at most 500).
func adminPaging(r *http.Request) (offset, limit int, err error) {
	q := r.URL.Query()
	limit = defaultPageSize
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			return 0, 0, adminError(http.StatusBadRequest, "offset must be a non-negative integer")
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxPageSize {
			return 0, 0, adminError(http.StatusBadRequest, "limit must be between 1 and "+strconv.Itoa(maxPageSize))
		}
	}
	return offset, limit, nil
}

// decodeAdminBody reads a JSON object body into v; an empty body is allowed when
// emptyOK (all fields optional).
func decodeAdminBody(r *http.Request, v any, emptyOK bool) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return adminError(http.StatusBadRequest, "reading body: "+err.Error())
	}
	if len(body) > maxBodyBytes {
		return adminError(http.StatusRequestEntityTooLarge, "request body is too large")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if emptyOK {
			return nil
		}
		return adminError(http.StatusBadRequest, "a JSON object body is required")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) || strings.HasPrefix(err.Error(), "json: unknown field") {
			// These name a field and a type, never a value.
			return adminError(http.StatusBadRequest, "body: "+err.Error())
		}
		// A syntax error may quote the body, which may hold a secret.
		return adminError(http.StatusBadRequest, "body must be a JSON object")
	}
	return nil
}

// writeAdminJSON answers with a JSON body.
func writeAdminJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the status is sent: a write error has no one to go to
	return nil
}

func emptyIfNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Interface guards
var (
	_ caddy.Provisioner = (*AdminAPI)(nil)
	_ caddy.AdminRouter = (*AdminAPI)(nil)
)

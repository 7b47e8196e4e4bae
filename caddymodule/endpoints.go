package caddymodule

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/cubeauth/cubeauth/authcore"
	"github.com/cubeauth/cubeauth/store"
)

var (
	errMethodNotAllowed = errors.New("method not allowed")
	errNoEndpoint       = errors.New("no such endpoint")
)

// endpoint is a terminated path: its handler gets the path's trailing ID
// (users/{id}) when there is one.
type endpoint struct {
	serve func(h *Handler, w http.ResponseWriter, r *http.Request, id string) error
	id    string
}

// endpointFor says whether cubeauth answers this request itself. Paths
// match with or without the ".json" suffix the JS SDKs add.
func (h *Handler) endpointFor(r *http.Request) *endpoint {
	path := strings.TrimSuffix(r.URL.Path, ".json")
	switch path {
	case "/session":
		return &endpoint{serve: (*Handler).serveSession}
	case "/login":
		return &endpoint{serve: (*Handler).serveLogin}
	case "/users":
		return &endpoint{serve: (*Handler).serveUsers}
	case "/users/password/reset":
		return &endpoint{serve: (*Handler).servePasswordReset}
	case resetPagePath:
		return &endpoint{serve: (*Handler).serveResetPage}
	case accountSettingsPath:
		return &endpoint{serve: (*Handler).serveAccountSettings}
	case chatPasswordPath:
		if h.chatSecret != nil {
			return &endpoint{serve: (*Handler).serveChatPassword}
		}
	}
	if rest, ok := strings.CutPrefix(path, "/users/"); ok {
		return &endpoint{serve: (*Handler).serveUser, id: rest}
	}
	if strings.HasPrefix(path, "/session/") {
		return &endpoint{serve: func(*Handler, http.ResponseWriter, *http.Request, string) error { return errNoEndpoint }}
	}
	return nil
}

func (h *Handler) serveEndpoint(w http.ResponseWriter, r *http.Request, ep *endpoint) {
	// Whatever the endpoint read, the rest of the body (and its trailers)
	// comes in before the answer is complete.
	defer awaitTrailers(r)
	h.setCORS(w.Header(), r)
	if r.Method == http.MethodOptions {
		h.answerPreflight(w)
		return
	}
	if err := ep.serve(h, w, r, ep.id); err != nil {
		h.writeError(w, r, err)
	}
}

// authenticated returns the caller's identity and sets the expiry header.
func (h *Handler) authenticated(w http.ResponseWriter, r *http.Request) (authcore.Identity, error) {
	id, err := h.service.Authenticate(r.Context(), requestToken(r))
	if err == nil {
		h.setExpiryHeader(w)
	}
	return id, err
}

func (h *Handler) setExpiryHeader(w http.ResponseWriter) {
	opts := h.service.Options()
	w.Header().Set("CB-Token-ExpirationDate", expirationHeader(opts.Now().Add(opts.SessionTTL)))
}

func (h *Handler) serveSession(w http.ResponseWriter, r *http.Request, _ string) error {
	ctx := r.Context()
	switch r.Method {
	case http.MethodPost:
		p, err := readParams(r)
		if err != nil {
			return err
		}
		// The SDKs send their old (maybe expired) CB-Token here too: ignore it.
		res, err := h.service.CreateSession(ctx, authcore.SessionRequest{Params: p, ClientIP: clientIP(r), Providers: h.providersOf})
		if err != nil {
			return err
		}
		countSessionCreated(res)
		h.setExpiryHeader(w)
		writeJSON(w, http.StatusCreated, map[string]any{"session": renderSession(res, res.Token)})
	case http.MethodGet, http.MethodHead:
		token := requestToken(r)
		res, err := h.service.Session(ctx, token)
		if err != nil {
			return err
		}
		if strings.HasPrefix(r.UserAgent(), extauthAgent) {
			h.chat.tokenLogin(res.Session)
		}
		h.setExpiryHeader(w)
		writeJSON(w, http.StatusOK, map[string]any{"session": renderSession(res, token)})
	case http.MethodDelete:
		if err := h.service.DeleteSession(ctx, requestToken(r)); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
	default:
		return errMethodNotAllowed
	}
	return nil
}

func (h *Handler) serveLogin(w http.ResponseWriter, r *http.Request, _ string) error {
	ctx := r.Context()
	switch r.Method {
	case http.MethodPost:
		p, err := readParams(r)
		if err != nil {
			return err
		}
		u, err := h.service.Login(ctx, authcore.LoginRequest{Token: requestToken(r), Params: p, ClientIP: clientIP(r), Providers: h.providersOf})
		if err != nil {
			return err
		}
		h.setExpiryHeader(w)
		writeJSON(w, http.StatusAccepted, map[string]any{"user": renderUser(u)})
	case http.MethodDelete:
		if err := h.service.Logout(ctx, requestToken(r)); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
	default:
		return errMethodNotAllowed
	}
	return nil
}

// serveUsers is POST /users (signup, with a token or with CB-AuthKey alone)
// and GET /users (the v1 list).
func (h *Handler) serveUsers(w http.ResponseWriter, r *http.Request, _ string) error {
	switch r.Method {
	case http.MethodPost:
		return h.signup(w, r)
	case http.MethodGet, http.MethodHead:
		return h.listUsersV1(w, r, "")
	}
	return errMethodNotAllowed
}

func (h *Handler) signup(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var appID int64
	if token := requestToken(r); token != "" || r.Header.Get("Cb-Authkey") == "" {
		id, err := h.authenticated(w, r)
		if err != nil {
			return err
		}
		appID = id.AppID
	} else {
		app, err := h.service.AppByAuthKey(ctx, r.Header.Get("Cb-Authkey"))
		if err != nil {
			return err
		}
		appID = app.ID
	}
	p, err := readParams(r)
	if err != nil {
		return err
	}
	u, err := h.service.CreateUser(ctx, authcore.CreateUserRequest{AppID: appID, Input: authcore.UserInputFrom(p), ClientIP: clientIP(r)})
	if err != nil {
		return err
	}
	countSignup(u)
	writeJSON(w, http.StatusCreated, map[string]any{"user": renderUser(u)})
	return nil
}

// serveUser is /users/{id}, /users/v2, /users/external/{id} and the older
// lookups (userquery.go).
func (h *Handler) serveUser(w http.ResponseWriter, r *http.Request, rest string) error {
	reading := r.Method == http.MethodGet || r.Method == http.MethodHead
	_, isList := listLookups[rest]
	lookup, isLookup := lookupParams[rest]
	switch {
	case rest == "v2" || isList || isLookup:
		if !reading {
			return errMethodNotAllowed
		}
		if rest == "v2" {
			return h.listUsersV2(w, r)
		}
		if isList {
			return h.listUsersV1(w, r, rest)
		}
		v, err := readQuery(r)
		if err != nil {
			return err
		}
		return h.lookupUser(w, r, lookup.field, v.Get(lookup.param))
	case strings.HasPrefix(rest, "external/"):
		return h.serveExternalUser(w, r, strings.TrimPrefix(rest, "external/"))
	}
	userID, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || userID <= 0 {
		return errNoEndpoint
	}
	id, err := h.authenticated(w, r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		u, err := h.service.GetUser(ctx, id, userID, clientIP(r))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"user": renderUser(u)})
	case http.MethodPut:
		p, err := readParams(r)
		if err != nil {
			return err
		}
		u, err := h.service.UpdateUser(ctx, id, userID, authcore.UserInputFrom(p), clientIP(r))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"user": renderUser(u)})
	case http.MethodDelete:
		if err := h.service.DeleteUser(ctx, id, userID); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
	default:
		return errMethodNotAllowed
	}
	return nil
}

// serveExternalUser is GET and DELETE /users/external/{id}: a user by
// external ID, and a user deleting itself by its own.
func (h *Handler) serveExternalUser(w http.ResponseWriter, r *http.Request, externalID string) error {
	externalID, err := url.PathUnescape(externalID)
	if err != nil || externalID == "" || strings.Contains(externalID, "/") {
		return errNoEndpoint
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return h.lookupUser(w, r, store.FieldExternalID, externalID)
	case http.MethodDelete:
		id, err := h.authenticated(w, r)
		if err != nil {
			return err
		}
		if err := h.service.DeleteUserByExternalID(r.Context(), id, externalID); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
	return errMethodNotAllowed
}

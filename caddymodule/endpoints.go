package caddymodule

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/cubeauth/cubeauth/authcore"
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
// and GET /users (listing, answered like users/v2).
func (h *Handler) serveUsers(w http.ResponseWriter, r *http.Request, _ string) error {
	switch r.Method {
	case http.MethodPost:
		return h.signup(w, r)
	case http.MethodGet, http.MethodHead:
		return h.listUsers(w, r)
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

// serveUser is /users/{id}, /users/v2 and the by_login/by_email lookups.
func (h *Handler) serveUser(w http.ResponseWriter, r *http.Request, rest string) error {
	switch rest {
	case "v2", "by_login", "by_email":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return errMethodNotAllowed
		}
		if rest == "v2" {
			return h.listUsers(w, r)
		}
		return h.lookupUser(w, r, rest)
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

func (h *Handler) lookupUser(w http.ResponseWriter, r *http.Request, by string) error {
	id, err := h.authenticated(w, r)
	if err != nil {
		return err
	}
	v, err := readQuery(r)
	if err != nil {
		return err
	}
	q := authcore.UserLookup{ClientIP: clientIP(r)}
	if by == "by_login" {
		q.Logins = []string{v.Get("login")}
	} else {
		q.Emails = []string{v.Get("email")}
	}
	u, err := h.service.FindUser(r.Context(), id, q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": renderUser(u)})
	return nil
}

// listUsers answers users/v2: filters id, id[in], login, login[in], email,
// email[in]; paging with limit (max 100) and offset.
func (h *Handler) listUsers(w http.ResponseWriter, r *http.Request) error {
	id, err := h.authenticated(w, r)
	if err != nil {
		return err
	}
	v, err := readQuery(r)
	if err != nil {
		return err
	}
	q, err := parseUserQuery(v)
	if err != nil {
		return err
	}
	q.ClientIP = clientIP(r)
	users, total, err := h.service.FindUsers(r.Context(), id, q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"limit": q.Limit, "skip": q.Offset, "total_entries": total, "items": renderAll(users, renderUser),
	})
	return nil
}

func parseUserQuery(v url.Values) (authcore.UserLookup, error) {
	q := authcore.UserLookup{Limit: authcore.MaxLookupValues}
	for key, vals := range v {
		name, op, _ := strings.Cut(key, "[")
		op = strings.TrimSuffix(strings.TrimSuffix(op, "[]"), "]")
		var items []string
		for _, val := range vals {
			if len(items)+strings.Count(val, ",")+1 > authcore.MaxLookupValues {
				// Refused before splitting on: the domain bounds the total too.
				return q, &authcore.ValidationError{Fields: map[string][]string{"base": {"a request may name at most 100 users"}}}
			}
			items = append(items, strings.Split(val, ",")...)
		}
		switch {
		case name == "limit" || name == "per_page":
			n, err := strconv.Atoi(v.Get(key))
			if err != nil || n < 1 {
				return q, invalidQuery(key)
			}
			q.Limit = min(n, authcore.MaxLookupValues)
		case name == "offset" || name == "skip":
			n, err := strconv.Atoi(v.Get(key))
			if err != nil || n < 0 {
				return q, invalidQuery(key)
			}
			q.Offset = n
		case op != "" && op != "in":
			return q, invalidQuery(key)
		case name == "id":
			for _, it := range items {
				n, err := strconv.ParseInt(strings.TrimSpace(it), 10, 64)
				if err != nil {
					return q, invalidQuery(key)
				}
				q.IDs = append(q.IDs, n)
			}
		case name == "login":
			q.Logins = append(q.Logins, items...)
		case name == "email":
			q.Emails = append(q.Emails, items...)
		default:
			return q, invalidQuery(key)
		}
	}
	if len(q.IDs) == 0 && len(q.Logins) == 0 && len(q.Emails) == 0 {
		return q, &authcore.ValidationError{Fields: map[string][]string{"base": {"a filter on id, login or email is required"}}}
	}
	return q, nil
}

func invalidQuery(key string) error {
	return &authcore.ValidationError{Fields: map[string][]string{key: {"is not a supported filter"}}}
}

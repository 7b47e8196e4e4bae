package caddymodule

import (
	"errors"
	htmltemplate "html/template"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/cubeauth/cubeauth/authcore"
)

// resetState is a handler's password reset state.
type resetState struct {
	// noMailer logs, once, why resets are refused.
	noMailer sync.Once
}

// provisionPasswordReset sets up the reset mailer from the smtp and
// password_reset config: Provision's part, which writes nothing.
func (h *Handler) provisionPasswordReset() error {
	h.resets = &resetState{}
	m, err := newResetMailer(h, caddy.NewReplacer())
	if err != nil {
		return err
	}
	if m != nil {
		h.opts.Mailer = m
	}
	if h.PasswordReset != nil {
		h.opts.PasswordResetTTL = time.Duration(h.PasswordReset.TTL)
	}
	logger := h.logger
	h.opts.ReportError = func(err error) {
		// authcore's errors and the SMTP dialogue carry no token or password.
		logger.Error("password reset mail not sent", zap.Error(err))
	}
	return nil
}

// errNoMailerBody answers a reset request when no smtp is configured.
var errNoMailerBody = base("Password reset by email is not configured on this server")

// servePasswordReset is GET and POST /users/password/reset (the docs and
// the Flutter SDK send GET ?email=, JS SDK 6 a POST body): it answers 200
// with no body whether or not a user has the email.
func (h *Handler) servePasswordReset(w http.ResponseWriter, r *http.Request, _ string) error {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		return errMethodNotAllowed
	}
	appID, err := h.callerApp(w, r)
	if err != nil {
		return err
	}
	if !h.service.PasswordResetsEnabled() {
		h.resets.noMailer.Do(func() {
			h.logger.Warn("password reset requested, but no smtp server is configured: " +
				"add smtp { host … from … } and password_reset { link_base_url … } to the cubeauth block")
		})
		countRefusal("no_mailer", nil)
		writeJSON(w, http.StatusNotImplemented, errNoMailerBody)
		return nil
	}
	p, err := readParams(r)
	if err != nil {
		return err
	}
	email := p["email"]
	if email == "" {
		email = p.Sub("user")["email"]
	}
	if email == "" {
		email = r.URL.Query().Get("email")
	}
	if err := h.service.RequestPasswordReset(r.Context(), appID, email, clientIP(r)); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	return nil
}

// callerApp is the app of the request's session token, or of its
// CB-AuthKey when it has no token.
func (h *Handler) callerApp(w http.ResponseWriter, r *http.Request) (int64, error) {
	if requestToken(r) != "" || r.Header.Get("Cb-Authkey") == "" {
		id, err := h.authenticated(w, r)
		return id.AppID, err
	}
	app, err := h.service.AppByAuthKey(r.Context(), r.Header.Get("Cb-Authkey"))
	return app.ID, err
}

// resetPage is the page the link in the mail opens.
var resetPage = htmltemplate.Must(htmltemplate.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{.Title}}</title>
<style>body{font-family:sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem}
label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.4rem;box-sizing:border-box}
button{margin-top:1rem;padding:.5rem 1rem}.error{color:#b00020}</style>
</head><body>
<h1>{{.Title}}</h1>
{{with .Message}}<p id="message">{{.}}</p>{{end}}
{{with .Error}}<p id="error" class="error">{{.}}</p>{{end}}
{{if .Token}}<form method="post" action="edit" autocomplete="off">
<input type="hidden" name="token" value="{{.Token}}">
<label for="password">New password</label>
<input id="password" name="password" type="password" autocomplete="new-password" required minlength="8" maxlength="128">
<label for="password_confirmation">Repeat the new password</label>
<input id="password_confirmation" name="password_confirmation" type="password" autocomplete="new-password" required>
<button id="submit" type="submit">Set the password</button>
</form>{{end}}
</body></html>
`))

// resetPageData is what the page shows. The token, when set, goes in a
// hidden field, so that the form posts it in the body, not in the URL.
type resetPageData struct {
	Title, Message, Error, Token string
}

// serveResetPage is the page of the link in the mail: GET shows a form for
// a pending token, POST (from that form) sets the password.
func (h *Handler) serveResetPage(w http.ResponseWriter, r *http.Request, _ string) error {
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		// The token is in this URL: keep the request out of Caddy's access
		// log, which records the URI as it arrived.
		if r.URL.RawQuery != "" {
			caddyhttp.SetVar(r.Context(), caddyhttp.LogSkipVar, true)
		}
		token := r.URL.Query().Get("token")
		err := h.service.CheckPasswordReset(r.Context(), token)
		if err != nil {
			h.writeResetPage(w, r, err, resetPageData{})
			return nil
		}
		h.writeResetPage(w, r, nil, resetPageData{Title: "Choose a new password", Token: token})
	case http.MethodPost:
		if !sameOrigin(r) {
			h.writeResetPage(w, r, errCrossSite, resetPageData{})
			return nil
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		if err := r.ParseForm(); err != nil {
			h.writeResetPage(w, r, authcore.ErrBadParams, resetPageData{})
			return nil
		}
		token, password := r.PostForm.Get("token"), r.PostForm.Get("password")
		form := resetPageData{Title: "Choose a new password", Token: token}
		if password != r.PostForm.Get("password_confirmation") {
			form.Error = "The two passwords differ."
			h.writeResetPage(w, r, nil, form)
			return nil
		}
		err := h.service.ResetPassword(r.Context(), token, password)
		var verr *authcore.ValidationError
		if errors.As(err, &verr) {
			form.Error = "The password " + strings.Join(verr.Fields["password"], ", ") + "."
			renderResetPage(w, r, http.StatusUnprocessableEntity, form)
			return nil
		}
		if err != nil {
			h.writeResetPage(w, r, err, resetPageData{})
			return nil
		}
		h.writeResetPage(w, r, nil, resetPageData{Title: "Password changed",
			Message: "Your password has been changed, and every session of your account has ended. Sign in with the new password."})
	default:
		return errMethodNotAllowed
	}
	return nil
}

// errCrossSite refuses a POST to the reset page from another site.
var errCrossSite = errors.New("cross-site form submission")

// sameOrigin reports whether a POST comes from a page of this origin.
// Browsers say so in Sec-Fetch-Site; older ones only in Origin, which is
// "null" under the page's Referrer-Policy: no-referrer. A client that sends
// neither is not a browser, so there is no user to forge a request for (and
// the form needs the token from the mail in any case).
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin" || site == "none"
	}
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

// writeResetPage answers the page for err (nil: data as given).
func (h *Handler) writeResetPage(w http.ResponseWriter, r *http.Request, err error, data resetPageData) {
	status := http.StatusOK
	switch {
	case err == nil:
	case errors.Is(err, authcore.ErrNotFound):
		status, data = http.StatusNotFound, resetPageData{Title: "Link expired",
			Error: "This link is invalid, was used already, or has expired. Ask for a new one from the app."}
	case errors.Is(err, errCrossSite):
		status, data = http.StatusForbidden, resetPageData{Title: "Refused", Error: "This form must be sent from its own page."}
	case errors.Is(err, authcore.ErrBadParams):
		status, data = http.StatusBadRequest, resetPageData{Title: "Refused", Error: "The form could not be read."}
	default:
		status, _ = httpError(err)
		if status >= 500 && !isType[*authcore.BusyError](err) {
			h.logger.Error("password reset page failed", zap.Int("status", status), zap.Error(err))
		}
		data = resetPageData{Title: "Try again later", Error: "The server is busy. Try again in a moment."}
	}
	renderResetPage(w, r, status, data)
}

func renderResetPage(w http.ResponseWriter, r *http.Request, status int, data resetPageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_ = resetPage.Execute(w, data)
	}
}

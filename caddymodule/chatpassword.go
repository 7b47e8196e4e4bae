package caddymodule

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/caddyserver/caddy/v2"

	"github.com/cubeauth/cubeauth/authcore"
)

// chatPasswordPath is where cubeauth-extauth checks a chat login's password
// (with chat_password_secret set): a path of cubeauth's own, not of
// ConnectyCube's API, so that no backend route is taken.
const chatPasswordPath = "/cubeauth/chat_password"

// chatSecretScheme is the Authorization scheme of the adapter's shared
// secret: Authorization, because Caddy's access log redacts it (unless
// log_credentials), so the secret is never logged.
const chatSecretScheme = "Extauth "

// errChatSecret refuses a chat password check without the adapter's secret.
var errChatSecret = errors.New("chat password check without the adapter's secret")

// minChatSecret is the shortest secret accepted: it guards a password
// oracle.
const minChatSecret = 16

func (h *Handler) provisionChatPassword() error {
	if h.ChatPasswordSecret == "" {
		return nil
	}
	secret := caddy.NewReplacer().ReplaceKnown(h.ChatPasswordSecret, "")
	if utf8.RuneCountInString(secret) < minChatSecret {
		// The value is not shown: it is a secret, or a placeholder of one.
		return errors.New("chat_password_secret must be at least 16 characters (after placeholders are resolved)")
	}
	h.chatSecret = []byte(secret)
	return nil
}

// serveChatPassword is POST /cubeauth/chat_password with application_id,
// user_id and password (JSON or form), from cubeauth-extauth showing the
// shared secret: 200 {"user": {"id", "login"}} when the password is the
// user's, else 401 like a wrong password at POST /session.
//
// Every request comes from the XMPP server's address, which stands for
// every chat user: authcore counts the checks as one client per app.
func (h *Handler) serveChatPassword(w http.ResponseWriter, r *http.Request, _ string) error {
	if r.Method != http.MethodPost {
		return errMethodNotAllowed
	}
	given, _ := strings.CutPrefix(r.Header.Get("Authorization"), chatSecretScheme)
	if subtle.ConstantTimeCompare([]byte(given), h.chatSecret) != 1 {
		return errChatSecret
	}
	p, err := readParams(r)
	if err != nil {
		return err
	}
	verr := &authcore.ValidationError{Fields: map[string][]string{}}
	ids := map[string]int64{}
	for _, name := range []string{"application_id", "user_id"} {
		n, err := strconv.ParseInt(p[name], 10, 64)
		if err != nil || n <= 0 {
			verr.Fields[name] = []string{"must be a positive integer"}
		}
		ids[name] = n
	}
	if len(verr.Fields) > 0 {
		return verr
	}
	u, err := h.service.CheckUserPassword(r.Context(), ids["application_id"], ids["user_id"], p["password"])
	if err != nil {
		return err
	}
	h.chat.passwordLogin(u)
	writeJSON(w, http.StatusOK, map[string]any{"user": map[string]any{"id": u.ID, "login": u.Login}})
	return nil
}

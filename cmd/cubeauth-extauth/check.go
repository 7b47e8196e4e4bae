package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// chatUser is the XMPP user part of a ConnectyCube JID: "{userID}-{appID}".
type chatUser struct {
	UserID, AppID int64
}

// parseChatUser accepts only the canonical "{userID}-{appID}" form, both
// positive decimal integers without leading zeros.
func parseChatUser(s string) (chatUser, bool) {
	u, a, ok := strings.Cut(s, "-")
	if !ok {
		return chatUser{}, false
	}
	userID, ok1 := positiveID(u)
	appID, ok2 := positiveID(a)
	return chatUser{UserID: userID, AppID: appID}, ok1 && ok2
}

func positiveID(s string) (int64, bool) {
	if s == "" || s[0] == '0' || len(s) > 19 {
		return 0, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// plausibleToken rejects, without asking cubeauth, what cannot be a token:
// empty, overlong, or with characters that are not allowed in a header.
func plausibleToken(s string) bool {
	if s == "" || len(s) > 1024 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// checker asks cubeauth whether a token is a live user session, and (with
// secret set) whether a password is the user's.
type checker struct {
	// api is cubeauth's origin, e.g. "http://127.0.0.1:8080".
	api     string
	client  *http.Client
	timeout time.Duration
	// secret is cubeauth's chat_password_secret; nil: tokens only.
	secret []byte
}

// maxSessionBody bounds the GET /session answer the adapter reads.
const maxSessionBody = 1 << 20

// checkToken reports whether token is a live user session of u.UserID in
// u.AppID, by GET {api}/session.json with the token in CB-Token. A refused
// credential is a result: (false, reason, nil). Only a failure to get an
// answer from cubeauth is an error. Neither reason nor error contains the
// token.
func (c *checker) checkToken(ctx context.Context, u chatUser, token string) (ok bool, reason string, err error) {
	if !plausibleToken(token) {
		return false, "the password is not a session token", nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.api+"/session.json", nil)
	if err != nil {
		return false, "", fmt.Errorf("building the session request: %w", err)
	}
	req.Header.Set("CB-Token", token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "cubeauth-extauth")
	resp, err := c.client.Do(req)
	if err != nil {
		return false, "", fmt.Errorf("asking cubeauth: %w", err) // the URL holds no secret
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxSessionBody))
	if err != nil {
		return false, "", fmt.Errorf("reading cubeauth's answer: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusNotFound:
		return false, "no such session (unknown, expired or revoked token)", nil
	case resp.StatusCode != http.StatusOK:
		return false, "", fmt.Errorf("cubeauth answered %s", resp.Status)
	}
	var v struct {
		Session *struct {
			UserID        json.RawMessage `json:"user_id"`
			ApplicationID json.RawMessage `json:"application_id"`
		} `json:"session"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.Session == nil {
		return false, "", fmt.Errorf("cubeauth's answer is not {\"session\": {...}}")
	}
	userID, hasUser := rawID(v.Session.UserID)
	appID, _ := rawID(v.Session.ApplicationID)
	switch {
	case appID != u.AppID:
		return false, "the session belongs to another application", nil
	case !hasUser:
		return false, "an application session has no user", nil
	case userID != u.UserID:
		return false, "the session belongs to another user", nil
	}
	return true, "", nil
}

// rawID reads a JSON id that may be a number or a string of digits; null and
// anything else give false.
func rawID(raw json.RawMessage) (int64, bool) {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	return positiveID(s)
}

// tokenShaped reports whether s looks like a cubeauth session token (64 hex
// digits): an expired one is not tried as a password, where it would only
// cost a hash and count as a wrong password against its user.
func tokenShaped(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// chatPasswordPath is cubeauth's password check for chat logins.
const chatPasswordPath = "/cubeauth/chat_password"

// checkPassword reports whether password is the password of u, by POST
// {api}/cubeauth/chat_password with the shared secret. cubeauth checks it
// like a login (its hasher, its per-account failure limits) and remembers a
// success for a minute, so reconnecting clients do not cost a hash each.
// Neither reason nor error contains the password or the secret.
func (c *checker) checkPassword(ctx context.Context, u chatUser, password string) (ok bool, reason string, err error) {
	if password == "" || len(password) > 4096 {
		return false, "the password is empty or too long", nil
	}
	body, err := json.Marshal(map[string]any{"application_id": u.AppID, "user_id": u.UserID, "password": password})
	if err != nil {
		return false, "", fmt.Errorf("building the password check: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.api+chatPasswordPath, bytes.NewReader(body))
	if err != nil {
		return false, "", fmt.Errorf("building the password check: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	// Authorization, which Caddy's access log redacts.
	req.Header.Set("Authorization", "Extauth "+string(c.secret))
	req.Header.Set("User-Agent", "cubeauth-extauth")
	resp, err := c.client.Do(req)
	if err != nil {
		return false, "", fmt.Errorf("asking cubeauth: %w", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxSessionBody))
	if err != nil {
		return false, "", fmt.Errorf("reading cubeauth's answer: %w", err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized:
		if bytes.Contains(answer, []byte("Required session does not exist")) {
			// The path went to the backend's side: a token was wanted.
			return false, "", fmt.Errorf("cubeauth does not check chat passwords: set chat_password_secret in its config")
		}
		return false, "neither a live session token nor the user's password", nil
	case http.StatusUnprocessableEntity:
		return false, "neither a live session token nor the user's password", nil
	case http.StatusTooManyRequests:
		return false, "too many wrong passwords for this user: try again later", nil
	case http.StatusForbidden:
		return false, "", fmt.Errorf("cubeauth refused the adapter's secret (set the same chat_password_secret on both)")
	default:
		return false, "", fmt.Errorf("cubeauth answered %s", resp.Status)
	}
	var v struct {
		User *struct {
			ID json.RawMessage `json:"id"`
		} `json:"user"`
	}
	if err := json.Unmarshal(answer, &v); err != nil || v.User == nil {
		return false, "", fmt.Errorf("cubeauth's answer is not {\"user\": {...}}")
	}
	if id, _ := rawID(v.User.ID); id != u.UserID {
		return false, "", fmt.Errorf("cubeauth's answer names another user")
	}
	return true, "", nil
}

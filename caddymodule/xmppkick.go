package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// XMPPKickConfig is where an app's XMPP server (ejabberd) is told to end a
// user's streams when one of the sessions they logged in with ends: its
// HTTP API (mod_http_api), called with the kick_user command.
type XMPPKickConfig struct {
	// URL is the base of ejabberd's HTTP API, such as
	// http://127.0.0.1:5280/api; the command's name is appended. Required.
	URL string `json:"url"`
	// Host is the XMPP virtual host of the app's JIDs
	// ({user id}-{app id}@host), the SDK's endpoints.chat. Required.
	Host string `json:"host"`
	// User and Password are sent with HTTP basic authentication when set
	// (an ejabberd account allowed kick_user by api_permissions).
	// Placeholders ({env.X}, {file.X}) are resolved. Default: none, for an
	// API that admits the sidecar by its address.
	User     string `json:"user,omitempty"`
	Password string `json:"password,omitempty"`
	// Timeout bounds one call. Default: 5s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
}

// maxKickAnswer bounds the part of ejabberd's answer that is read.
const maxKickAnswer = 4 << 10

// xmppKicker ends one app's users' XMPP streams through ejabberd's API.
type xmppKicker struct {
	endpoint string // URL + "/kick_user"
	host     string
	user     string
	password string
	timeout  time.Duration
	client   *http.Client
}

func (c *XMPPKickConfig) validate() error {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("xmpp_kick: url must be an http or https URL")
	}
	if u.User != nil {
		return errors.New("xmpp_kick: put credentials in user and password, not in the url")
	}
	if c.Host == "" || strings.ContainsAny(c.Host, "@/ ") {
		return errors.New("xmpp_kick: host must be the XMPP virtual host, such as chat.example.com")
	}
	if (c.User == "") != (c.Password == "") {
		return errors.New("xmpp_kick: user and password go together")
	}
	if c.Timeout < 0 {
		return errors.New("xmpp_kick: timeout must not be negative")
	}
	return nil
}

// newXMPPKicker builds the kicker of a validated config, resolving the
// placeholders of its credentials with repl.
func newXMPPKicker(c XMPPKickConfig, repl *caddy.Replacer) *xmppKicker {
	k := &xmppKicker{
		endpoint: strings.TrimSuffix(c.URL, "/") + "/kick_user",
		host:     c.Host,
		user:     repl.ReplaceKnown(c.User, ""),
		password: repl.ReplaceKnown(c.Password, ""),
		timeout:  time.Duration(c.Timeout),
	}
	if k.timeout == 0 {
		k.timeout = 5 * time.Second
	}
	k.client = &http.Client{
		Timeout: k.timeout,
		// The API is named by its operator: a redirect is a misconfiguration,
		// and following it would send the credentials elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return k
}

// kick ends every stream of the app's user, and says how many ejabberd
// ended. The SDKs log in as "{user id}-{app id}", so that is the JID's
// local part. The stream cannot be told apart from the user's other
// devices: ejabberd learns the token at SASL, before the resource is bound.
func (k *xmppKicker) kick(ctx context.Context, appID, userID int64) (int, error) {
	body, _ := json.Marshal(map[string]string{
		"user": strconv.FormatInt(userID, 10) + "-" + strconv.FormatInt(appID, 10),
		"host": k.host,
	})
	ctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, k.endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "cubeauth")
	if k.user != "" {
		req.SetBasicAuth(k.user, k.password)
	}
	resp, err := k.client.Do(req)
	if err != nil {
		// The URL error names only the API's URL, which carries no secret.
		return 0, err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxKickAnswer))
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("kick_user: ejabberd answered %d: %.200q", resp.StatusCode, answer)
	}
	return kickedResources(answer)
}

// kickedResources reads kick_user's answer: the number of resources it
// ended, bare (newer ejabberd) or as {"num_resources": n} (23.01).
func kickedResources(answer []byte) (int, error) {
	var n int
	if json.Unmarshal(answer, &n) == nil {
		return n, nil
	}
	var named struct {
		N *int `json:"num_resources"`
	}
	if json.Unmarshal(answer, &named) == nil && named.N != nil {
		return *named.N, nil
	}
	return 0, fmt.Errorf("kick_user: ejabberd's answer is not a count: %.200q", answer)
}

// provisionXMPPKicks builds the declared apps' kickers. Nothing is called
// until a session ends.
func (h *Handler) provisionXMPPKicks(repl *caddy.Replacer) error {
	h.xmppKicks = map[int64]*xmppKicker{}
	for _, ac := range h.Apps {
		if c := ac.XMPPKick; c != nil {
			if err := c.validate(); err != nil {
				return fmt.Errorf("app %d: %w", ac.ID, err)
			}
			h.xmppKicks[ac.ID] = newXMPPKicker(*c, repl)
		}
	}
	return nil
}

// parseXMPPKick reads an app's xmpp_kick block:
//
//	xmpp_kick <api url> {
//		host <xmpp virtual host>     # required, the SDK's endpoints.chat
//		user <jid>                   # basic authentication, with password
//		password <password>
//		timeout <duration>           # default 5s
//	}
func parseXMPPKick(d *caddyfile.Dispenser) (*XMPPKickConfig, error) {
	cfg := &XMPPKickConfig{}
	if d.NextArg() {
		cfg.URL = d.Val()
	}
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "url":
			err = parseString(d, &cfg.URL)
		case "host":
			err = parseString(d, &cfg.Host)
		case "user":
			err = parseString(d, &cfg.User)
		case "password":
			err = parseString(d, &cfg.Password)
		case "timeout":
			err = parseDuration(d, &cfg.Timeout)
		default:
			err = d.Errf("unknown xmpp_kick subdirective %q", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	if err := cfg.validate(); err != nil {
		return nil, d.Err(err.Error())
	}
	return cfg, nil
}

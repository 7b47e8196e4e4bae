package caddymodule

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// AccountSettings is what GET /account_settings answers: some ConnectyCube
// clients ask it first (with CB-Account-Key) for the API and chat endpoints
// to use. Nothing in it is secret, and the client's key is not checked.
type AccountSettings struct {
	// APIEndpoint is the REST API's base URL, e.g. https://api.example.com.
	APIEndpoint string `json:"api_endpoint,omitempty"`
	// ChatEndpoint is the XMPP server's host, e.g. chat.example.com.
	ChatEndpoint string `json:"chat_endpoint,omitempty"`
}

// accountSettingsPath is ConnectyCube's account settings endpoint.
const accountSettingsPath = "/account_settings"

// errNoAccountSettings: the operator configured no account_settings.
var errNoAccountSettings = errors.New("account settings are not configured")

func (a *AccountSettings) validate() error {
	if a == nil {
		return nil
	}
	if u, err := url.Parse(a.APIEndpoint); a.APIEndpoint == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errors.New("account_settings api_endpoint must be an http(s) URL")
	}
	return nil
}

// serveAccountSettings is GET /account_settings: the configured endpoints,
// built from the configuration only (never from the request's Host, which
// the client chooses).
func (h *Handler) serveAccountSettings(w http.ResponseWriter, r *http.Request, _ string) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return errMethodNotAllowed
	}
	if h.AccountSettings == nil {
		return errNoAccountSettings
	}
	writeJSON(w, http.StatusOK, h.AccountSettings)
	return nil
}

func parseAccountSettings(d *caddyfile.Dispenser) (*AccountSettings, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	a := &AccountSettings{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "api_endpoint":
			err = parseString(d, &a.APIEndpoint)
		case "chat_endpoint":
			err = parseString(d, &a.ChatEndpoint)
		default:
			err = d.Errf("unknown account_settings subdirective %q", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	return a, nil
}

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

	"github.com/cubeauth/cubeauth/authcore"
)

// IdentityProviderConfig is an app's custom identity provider (ConnectyCube's
// CIdP): the URL cubeauth asks whether a login is one of its tokens, how the
// token goes into the request, and where the answer says who the user is.
// In templates, {token} is the token (URL-encoded in the query, JSON-escaped
// in the body).
type IdentityProviderConfig struct {
	// URL is the verification endpoint, http or https.
	URL string `json:"url"`
	// Method is GET or POST. Default: GET.
	Method string `json:"method,omitempty"`
	// Query maps query parameters to templates, e.g. {"token": "{token}"}.
	Query map[string]string `json:"query,omitempty"`
	// Headers maps request headers to templates, e.g.
	// {"Authorization": "Bearer {token}"}.
	Headers map[string]string `json:"headers,omitempty"`
	// Body is a JSON body template for POST, e.g. {"token":"{token}"}.
	Body string `json:"body,omitempty"`
	// UserIDPath is the dotted path of the user's ID in the JSON answer,
	// e.g. "user.id". Required.
	UserIDPath string `json:"user_id_path"`
	// LoginPath, EmailPath and FullNamePath fill a new user's fields from
	// the answer. Default: none; the login is then custom_<user id>.
	LoginPath    string `json:"login_path,omitempty"`
	EmailPath    string `json:"email_path,omitempty"`
	FullNamePath string `json:"full_name_path,omitempty"`
	// Timeout bounds one call; a slower provider is answered 503.
	// Default: 5s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// MaxConcurrent bounds the calls in flight; a call that finds none
	// free within the timeout is answered 503. Default: 16.
	MaxConcurrent int `json:"max_concurrent,omitempty"`
}

// maxIdentityAnswer bounds the provider's answer that is read.
const maxIdentityAnswer = 64 << 10

// identityProvider calls one app's custom identity provider. Answers are
// used for their request only, never cached.
type identityProvider struct {
	cfg     IdentityProviderConfig
	timeout time.Duration
	turns   chan struct{}
	client  *http.Client
}

// errIdentityProviderBusy: every call slot stayed taken for the timeout.
var errIdentityProviderBusy = errors.New("identity provider: too many calls at once")

func (c *IdentityProviderConfig) validate() error {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("identity_provider: url must be an http or https URL")
	}
	switch c.Method {
	case "", http.MethodGet, http.MethodPost:
	default:
		return errors.New("identity_provider: method must be GET or POST")
	}
	if c.Body != "" && c.Method != http.MethodPost {
		return errors.New("identity_provider: a body needs method POST")
	}
	if c.UserIDPath == "" {
		return errors.New("identity_provider: user_id_path is required")
	}
	if c.Timeout < 0 || c.MaxConcurrent < 0 {
		return errors.New("identity_provider: timeout and max_concurrent must not be negative")
	}
	return nil
}

func newIdentityProvider(cfg IdentityProviderConfig) *identityProvider {
	p := &identityProvider{cfg: cfg, timeout: time.Duration(cfg.Timeout)}
	if p.timeout <= 0 {
		p.timeout = 5 * time.Second
	}
	n := cfg.MaxConcurrent
	if n <= 0 {
		n = 16
	}
	p.turns = make(chan struct{}, n)
	p.client = &http.Client{
		Timeout: p.timeout,
		// A redirect is not an answer: it is reported as a failure.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return p
}

// VerifyToken asks the provider about token: a 2xx answer with a user ID
// signs in, a 4xx answer refuses, anything else (5xx, redirect, timeout,
// no connection, no ID in a 2xx answer) is a failure.
func (p *identityProvider) VerifyToken(ctx context.Context, token string) (authcore.ExternalIdentity, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	select {
	case p.turns <- struct{}{}:
		defer func() { <-p.turns }()
	case <-ctx.Done():
		return authcore.ExternalIdentity{}, false, errIdentityProviderBusy
	}
	req, err := p.request(ctx, token)
	if err != nil {
		return authcore.ExternalIdentity{}, false, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		// The error names the URL, never the token (which is in the query
		// only when the operator put it there; url.Error would show it).
		return authcore.ExternalIdentity{}, false, errors.New("identity provider: no answer")
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		return authcore.ExternalIdentity{}, false, nil
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return authcore.ExternalIdentity{}, false, fmt.Errorf("identity provider: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxIdentityAnswer))
	if err != nil {
		return authcore.ExternalIdentity{}, false, errors.New("identity provider: answer cut short")
	}
	var answer any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&answer); err != nil {
		return authcore.ExternalIdentity{}, false, errors.New("identity provider: answer is not JSON")
	}
	id := authcore.ExternalIdentity{
		Subject:  jsonPath(answer, p.cfg.UserIDPath),
		Login:    jsonPath(answer, p.cfg.LoginPath),
		Email:    jsonPath(answer, p.cfg.EmailPath),
		FullName: jsonPath(answer, p.cfg.FullNamePath),
	}
	if id.Subject == "" {
		return authcore.ExternalIdentity{}, false, errors.New("identity provider: no user id in the answer")
	}
	return id, true, nil
}

func (p *identityProvider) request(ctx context.Context, token string) (*http.Request, error) {
	u, _ := url.Parse(p.cfg.URL) // validated
	q := u.Query()
	for name, tmpl := range p.cfg.Query {
		q.Set(name, strings.ReplaceAll(tmpl, "{token}", token))
	}
	u.RawQuery = q.Encode()
	method := p.cfg.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if p.cfg.Body != "" {
		escaped, _ := json.Marshal(token)
		body = strings.NewReader(strings.ReplaceAll(p.cfg.Body, "{token}", string(escaped[1:len(escaped)-1])))
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, errors.New("identity provider: bad request")
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	for name, tmpl := range p.cfg.Headers {
		req.Header.Set(name, strings.ReplaceAll(tmpl, "{token}", token))
	}
	return req, nil
}

// jsonPath returns the string or number at a dotted path of v, or "".
func jsonPath(v any, path string) string {
	if path == "" {
		return ""
	}
	for _, name := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[name]
	}
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		if _, err := strconv.ParseInt(x.String(), 10, 64); err == nil {
			return x.String()
		}
	}
	return ""
}

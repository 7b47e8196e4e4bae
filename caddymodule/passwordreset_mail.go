package caddymodule

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"os"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/cubeauth/cubeauth/authcore"
)

// PasswordResetConfig is the mail a password reset sends. On the handler it
// applies to every app; in an app block it overrides the handler's fields
// that it sets.
type PasswordResetConfig struct {
	// Subject is a text/template of the subject line.
	// Default: "Reset your password".
	Subject string `json:"subject,omitempty"`
	// TextTemplate and HTMLTemplate are the bodies: a text/template and an
	// html/template, or {file./path} to read one from a file. They see
	// .Link, .Email, .Login, .AppID, .ExpiresAt and .ExpiresIn ("1 hour").
	// Default: a short note with the link.
	TextTemplate string `json:"text_template,omitempty"`
	HTMLTemplate string `json:"html_template,omitempty"`
	// LinkBaseURL is the public URL at which clients reach cubeauth, such
	// as https://api.example.com: the link in the mail is
	// <link_base_url>/users/password/edit?token=…. Required with smtp (the
	// Host header of a request cannot be trusted to build links).
	LinkBaseURL string `json:"link_base_url,omitempty"`
	// TTL is how long a link works; only on the handler. Default: 1h.
	TTL caddy.Duration `json:"ttl,omitempty"`
}

// resetPagePath is where the link in the mail leads: the page that sets
// the new password.
const resetPagePath = "/users/password/edit"

// Default templates of the reset mail.
const (
	defaultResetSubject = "Reset your password"
	defaultResetText    = `Hello{{with .Login}} {{.}}{{end}},

someone asked to reset the password of the account {{.Email}}.
To choose a new password, open this link within {{.ExpiresIn}}:

{{.Link}}

If it was not you, ignore this mail: your password stays as it is.
`
	defaultResetHTML = `<!doctype html>
<html><body style="font-family:sans-serif">
<p>Hello{{with .Login}} {{.}}{{end}},</p>
<p>someone asked to reset the password of the account {{.Email}}.
To choose a new password, open this link within {{.ExpiresIn}}:</p>
<p><a href="{{.Link}}">Choose a new password</a></p>
<p>If it was not you, ignore this mail: your password stays as it is.</p>
</body></html>
`
)

// resetTemplates are one app's parsed templates.
type resetTemplates struct {
	subject, text *texttemplate.Template
	html          *htmltemplate.Template
	linkBase      string // without a trailing slash
}

// resetMailData is what the templates see.
type resetMailData struct {
	Link, Email, Login, ExpiresIn string
	AppID                         int64
	ExpiresAt                     time.Time
}

// resetMailer is the authcore.Mailer of a handler: templates per app and
// one SMTP server.
type resetMailer struct {
	sender   *smtpSender
	defaults *resetTemplates
	apps     map[int64]*resetTemplates
}

// newResetMailer builds the mailer of h, or returns nil when no smtp is
// configured.
func newResetMailer(h *Handler, repl *caddy.Replacer) (*resetMailer, error) {
	if h.SMTP == nil {
		if h.PasswordReset != nil && h.PasswordReset.LinkBaseURL != "" {
			return nil, errors.New("password_reset needs an smtp server to send its mails")
		}
		return nil, nil
	}
	sender, err := newSMTPSender(h.SMTP, repl)
	if err != nil {
		return nil, err
	}
	base := PasswordResetConfig{}
	if h.PasswordReset != nil {
		base = *h.PasswordReset
	}
	m := &resetMailer{sender: sender, apps: map[int64]*resetTemplates{}}
	if m.defaults, err = parseResetTemplates(base, repl); err != nil {
		return nil, fmt.Errorf("password_reset: %w", err)
	}
	for _, a := range h.Apps {
		if a.PasswordReset == nil {
			continue
		}
		if a.PasswordReset.TTL != 0 {
			return nil, fmt.Errorf("app %d: password_reset ttl is set for all apps, outside the app blocks", a.ID)
		}
		merged := mergeResetConfig(base, *a.PasswordReset)
		if m.apps[a.ID], err = parseResetTemplates(merged, repl); err != nil {
			return nil, fmt.Errorf("app %d: password_reset: %w", a.ID, err)
		}
	}
	if m.defaults.linkBase == "" {
		for _, a := range h.Apps {
			if t := m.apps[a.ID]; t == nil || t.linkBase == "" {
				return nil, fmt.Errorf("smtp needs password_reset { link_base_url <url> } (for every app, or in app %d): "+
					"the link in the mail cannot be built from the request's Host header, which clients choose", a.ID)
			}
		}
		if len(h.Apps) == 0 {
			return nil, errors.New("smtp needs password_reset { link_base_url <url> }")
		}
	}
	return m, nil
}

// mergeResetConfig is base with the fields that over sets.
func mergeResetConfig(base, over PasswordResetConfig) PasswordResetConfig {
	for _, f := range []struct {
		dst *string
		src string
	}{
		{&base.Subject, over.Subject}, {&base.TextTemplate, over.TextTemplate},
		{&base.HTMLTemplate, over.HTMLTemplate}, {&base.LinkBaseURL, over.LinkBaseURL},
	} {
		if f.src != "" {
			*f.dst = f.src
		}
	}
	return base
}

// templateSource is a template given inline, or read from {file./path}.
func templateSource(v, def string) (string, error) {
	if v == "" {
		return def, nil
	}
	if path, ok := strings.CutPrefix(v, "{file."); ok && strings.HasSuffix(path, "}") {
		b, err := os.ReadFile(strings.TrimSuffix(path, "}"))
		return string(b), err
	}
	return v, nil
}

func parseResetTemplates(c PasswordResetConfig, repl *caddy.Replacer) (*resetTemplates, error) {
	t := &resetTemplates{}
	if c.LinkBaseURL != "" {
		base := repl.ReplaceKnown(c.LinkBaseURL, "")
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("link_base_url %q must be an http(s) URL without query, such as https://api.example.com", base)
		}
		t.linkBase = strings.TrimSuffix(base, "/")
	}
	subject, err := templateSource(c.Subject, defaultResetSubject)
	if err != nil {
		return nil, fmt.Errorf("subject: %w", err)
	}
	text, err := templateSource(c.TextTemplate, defaultResetText)
	if err != nil {
		return nil, fmt.Errorf("text_template: %w", err)
	}
	html, err := templateSource(c.HTMLTemplate, defaultResetHTML)
	if err != nil {
		return nil, fmt.Errorf("html_template: %w", err)
	}
	if t.subject, err = texttemplate.New("subject").Option("missingkey=error").Parse(subject); err != nil {
		return nil, err
	}
	if t.text, err = texttemplate.New("text").Option("missingkey=error").Parse(text); err != nil {
		return nil, err
	}
	if t.html, err = htmltemplate.New("html").Option("missingkey=error").Parse(html); err != nil {
		return nil, err
	}
	// Render once with sample data, so that a template that fails on
	// every mail fails the config load instead.
	if _, err := t.render(resetMailData{Link: "https://example.com/x", Email: "a@example.com", ExpiresIn: "1 hour"}); err != nil {
		return nil, err
	}
	return t, nil
}

// rendered is a mail's subject and bodies.
type rendered struct{ subject, text, html string }

func (t *resetTemplates) render(d resetMailData) (rendered, error) {
	var s, txt, html bytes.Buffer
	if err := t.subject.Execute(&s, d); err != nil {
		return rendered{}, fmt.Errorf("subject: %w", err)
	}
	if err := t.text.Execute(&txt, d); err != nil {
		return rendered{}, fmt.Errorf("text_template: %w", err)
	}
	if err := t.html.Execute(&html, d); err != nil {
		return rendered{}, fmt.Errorf("html_template: %w", err)
	}
	return rendered{s.String(), txt.String(), html.String()}, nil
}

// templatesFor are the app's templates, or the handler's.
func (m *resetMailer) templatesFor(appID int64) *resetTemplates {
	if t := m.apps[appID]; t != nil {
		return t
	}
	return m.defaults
}

// SendPasswordReset renders the app's templates and sends the mail.
func (m *resetMailer) SendPasswordReset(ctx context.Context, pr authcore.PasswordResetMail) error {
	t := m.templatesFor(pr.AppID)
	if t.linkBase == "" {
		return fmt.Errorf("app %d has no password_reset link_base_url", pr.AppID)
	}
	d := resetMailData{
		Link:  t.linkBase + resetPagePath + "?token=" + url.QueryEscape(pr.Token),
		Email: pr.To, Login: pr.Login, AppID: pr.AppID, ExpiresAt: pr.ExpiresAt,
		ExpiresIn: humanDuration(time.Until(pr.ExpiresAt)),
	}
	r, err := t.render(d)
	if err != nil {
		return err
	}
	msg := mailMessage{From: m.sender.from, To: pr.To, Subject: r.subject, Text: r.text, HTML: r.html,
		Date: time.Now(), FromHost: m.sender.fromHost()}
	return m.sender.send(ctx, pr.To, msg.bytes())
}

// humanDuration writes d rounded to minutes or hours, as "1 hour" or
// "30 minutes".
func humanDuration(d time.Duration) string {
	unit, n := "minute", int((d+30*time.Second)/time.Minute)
	if n >= 60 && n%60 == 0 {
		unit, n = "hour", n/60
	}
	if n != 1 {
		unit += "s"
	}
	return fmt.Sprintf("%d %s", max(n, 1), unit)
}

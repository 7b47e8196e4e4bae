package caddymodule

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/cubeauth/cubeauth/authcore"
	"github.com/cubeauth/cubeauth/internal/testsmtp"
)

func resetHandler(srv *testsmtp.Server, tlsMode, ca, password string) *Handler {
	return &Handler{
		SMTP: &SMTPConfig{Host: srv.Host, Port: srv.Port, TLS: tlsMode, Username: "mailer", Password: password,
			From: "Example <no-reply@example.test>", CAFile: ca, Timeout: caddy.Duration(5 * time.Second)},
		PasswordReset: &PasswordResetConfig{LinkBaseURL: "https://api.example.test/"},
		Apps: []AppConfig{{ID: 7, PasswordReset: &PasswordResetConfig{
			Subject: "Reset for app {{.AppID}}", LinkBaseURL: "https://seven.example.test/auth",
			TextTemplate: "Link: {{.Link}} ({{.ExpiresIn}})", HTMLTemplate: `<a href="{{.Link}}">{{.Login}}</a>`,
		}}},
	}
}

func TestResetMailsGoOverSTARTTLSOrImplicitTLSWithAuthAndPerAppTemplates(t *testing.T) {
	for _, mode := range []string{smtpStartTLS, smtpTLS} {
		t.Run(mode, func(t *testing.T) {
			srv := testsmtp.Start(t, testsmtp.Options{ImplicitTLS: mode == smtpTLS, Username: "mailer", Password: "s3cret-pw"})
			m, err := newResetMailer(resetHandler(srv, mode, srv.WriteCA(t, t.TempDir()), "s3cret-pw"), caddy.NewReplacer())
			if err != nil {
				t.Fatal(err)
			}
			token := strings.Repeat("ab", 32)
			mail := authcore.PasswordResetMail{AppID: 1, To: "alice@example.test", Login: "alice", Token: token, ExpiresAt: time.Now().Add(time.Hour)}
			if err := m.SendPasswordReset(t.Context(), mail); err != nil {
				t.Fatal(err)
			}
			mail.AppID, mail.Login = 7, "<b>alice</b>"
			if err := m.SendPasswordReset(t.Context(), mail); err != nil {
				t.Fatal(err)
			}
			got := srv.WaitFor(t, 2, 5*time.Second)
			for _, g := range got {
				if !g.TLS || g.AuthUser != "mailer" || g.From != "no-reply@example.test" || len(g.To) != 1 || g.To[0] != "alice@example.test" {
					t.Fatalf("envelope %+v, want over TLS, authenticated, from no-reply to alice", g)
				}
			}
			def, err := got[0].Parse()
			if err != nil {
				t.Fatal(err)
			}
			link := "https://api.example.test/users/password/edit?token=" + token
			if def.Subject != defaultResetSubject || !strings.Contains(def.Text, link) || !strings.Contains(def.HTML, `href="`+link+`"`) ||
				!strings.Contains(def.Text, "1 hour") {
				t.Fatalf("default mail: subject %q, text %q, html %q; want the link %s valid 1 hour", def.Subject, def.Text, def.HTML, link)
			}
			app7, err := got[1].Parse()
			if err != nil {
				t.Fatal(err)
			}
			link7 := "https://seven.example.test/auth/users/password/edit?token=" + token
			if app7.Subject != "Reset for app 7" || app7.Text != "Link: "+link7+" (1 hour)" ||
				app7.HTML != `<a href="`+link7+`">&lt;b&gt;alice&lt;/b&gt;</a>` {
				t.Fatalf("app 7's mail: %q / %q / %q", app7.Subject, app7.Text, app7.HTML)
			}
		})
	}
}

func TestResetMailsRefuseAnUntrustedServerAndAWrongPasswordWithoutShowingIt(t *testing.T) {
	srv := testsmtp.Start(t, testsmtp.Options{Username: "mailer", Password: "s3cret-pw"})
	mail := authcore.PasswordResetMail{AppID: 1, To: "alice@example.test", Token: strings.Repeat("cd", 32), ExpiresAt: time.Now().Add(time.Hour)}
	untrusted, err := newResetMailer(resetHandler(srv, smtpStartTLS, "", "s3cret-pw"), caddy.NewReplacer())
	if err != nil {
		t.Fatal(err)
	}
	if err := untrusted.SendPasswordReset(t.Context(), mail); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a server whose certificate is not trusted: %v, want a certificate error", err)
	}
	wrong, err := newResetMailer(resetHandler(srv, smtpStartTLS, srv.WriteCA(t, t.TempDir()), "wrong-pw-123"), caddy.NewReplacer())
	if err != nil {
		t.Fatal(err)
	}
	err = wrong.SendPasswordReset(t.Context(), mail)
	if err == nil || strings.Contains(err.Error(), "wrong-pw-123") || strings.Contains(err.Error(), mail.Token) {
		t.Fatalf("a wrong password: %v, want an error that shows neither password nor token", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("%d messages delivered, want none", n)
	}
}

func TestResetMailConfigNeedsALinkBaseURLAndValidSettings(t *testing.T) {
	srv := testsmtp.Start(t, testsmtp.Options{})
	for name, mutate := range map[string]func(h *Handler){
		"no link_base_url":      func(h *Handler) { h.PasswordReset = nil; h.Apps = []AppConfig{{ID: 1}} },
		"a link with a query":   func(h *Handler) { h.PasswordReset.LinkBaseURL = "https://x.test/?a=b" },
		"an unknown tls mode":   func(h *Handler) { h.SMTP.TLS = "ssl" },
		"no from":               func(h *Handler) { h.SMTP.From = "" },
		"a broken template":     func(h *Handler) { h.PasswordReset.TextTemplate = "{{.Link" },
		"a template field typo": func(h *Handler) { h.PasswordReset.Subject = "{{.Linkk}}" },
		"ttl in an app":         func(h *Handler) { h.Apps[0].PasswordReset.TTL = caddy.Duration(time.Minute) },
	} {
		h := resetHandler(srv, smtpStartTLS, "", "pw")
		mutate(h)
		if _, err := newResetMailer(h, caddy.NewReplacer()); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if m, err := newResetMailer(&Handler{}, caddy.NewReplacer()); m != nil || err != nil {
		t.Fatalf("no smtp: %v, %v; want no mailer and no error", m, err)
	}
}

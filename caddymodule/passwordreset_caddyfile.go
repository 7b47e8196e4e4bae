package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// parseSMTP reads
//
//	smtp {
//		host <name>
//		port <n>
//		tls starttls|tls|none
//		username <name>
//		password <secret>     # a placeholder such as {env.SMTP_PASSWORD}
//		from <address>
//		ca_file <path>
//		timeout <duration>
//	}
func (h *Handler) parseSMTP(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	c := &SMTPConfig{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "host":
			err = parseString(d, &c.Host)
		case "port":
			err = parseInt(d, &c.Port)
		case "tls":
			err = parseString(d, &c.TLS)
			if err == nil && c.TLS != smtpStartTLS && c.TLS != smtpTLS && c.TLS != smtpPlain {
				err = d.Errf("smtp tls must be starttls, tls or none")
			}
		case "username":
			err = parseString(d, &c.Username)
		case "password":
			err = parseString(d, &c.Password)
		case "from":
			err = parseString(d, &c.From)
		case "ca_file":
			err = parseString(d, &c.CAFile)
		case "timeout":
			err = parseDuration(d, &c.Timeout)
		default:
			err = d.Errf("unknown smtp subdirective %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	h.SMTP = c
	return nil
}

// parsePasswordReset reads
//
//	password_reset {
//		subject <template>
//		text_template <template>|{file./path}
//		html_template <template>|{file./path}
//		link_base_url <url>
//		ttl <duration>        # outside app blocks only
//	}
func parsePasswordReset(d *caddyfile.Dispenser, inApp bool) (*PasswordResetConfig, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	c := &PasswordResetConfig{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "subject":
			err = parseString(d, &c.Subject)
		case "text_template":
			err = parseString(d, &c.TextTemplate)
		case "html_template":
			err = parseString(d, &c.HTMLTemplate)
		case "link_base_url":
			err = parseString(d, &c.LinkBaseURL)
		case "ttl":
			if inApp {
				return nil, d.Errf("password_reset ttl applies to every app: set it outside the app blocks")
			}
			err = parseDuration(d, &c.TTL)
		default:
			err = d.Errf("unknown password_reset subdirective %q", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// parseFirebase reads an app's firebase block:
//
//	firebase {
//		project_ids <id...>
//		keys_url <url>      # default: Google's securetoken certificates
//	}
func parseFirebase(d *caddyfile.Dispenser) (*FirebaseAppConfig, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	cfg := &FirebaseAppConfig{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "project_ids":
			err = parseList(d, &cfg.ProjectIDs)
		case "keys_url":
			err = parseString(d, &cfg.KeysURL)
		default:
			err = d.Errf("unknown firebase subdirective %q", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	if len(cfg.ProjectIDs) == 0 {
		return nil, d.Err("firebase needs project_ids")
	}
	return cfg, nil
}

// parseIdentityProvider reads an app's identity_provider block; {token} in
// a template is the login the client sent:
//
//	identity_provider <url> {
//		method GET|POST              # default GET
//		query <name> <template>      # e.g. query token {token}
//		header <name> <template>     # e.g. header Authorization "Bearer {token}"
//		body <template>              # POST only, e.g. `{"token":"{token}"}`
//		user_id_path <path>          # required, e.g. user.id
//		login_path <path>
//		email_path <path>
//		full_name_path <path>
//		timeout <duration>           # default 5s
//		max_concurrent <n>           # default 16
//	}
func parseIdentityProvider(d *caddyfile.Dispenser) (*IdentityProviderConfig, error) {
	cfg := &IdentityProviderConfig{}
	if d.NextArg() {
		cfg.URL = d.Val()
	}
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	pair := func(dst *map[string]string) error {
		args := d.RemainingArgs()
		if len(args) != 2 {
			return d.ArgErr()
		}
		if *dst == nil {
			*dst = map[string]string{}
		}
		(*dst)[args[0]] = args[1]
		return nil
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "url":
			err = parseString(d, &cfg.URL)
		case "method":
			err = parseString(d, &cfg.Method)
		case "query":
			err = pair(&cfg.Query)
		case "header":
			err = pair(&cfg.Headers)
		case "body":
			err = parseString(d, &cfg.Body)
		case "user_id_path":
			err = parseString(d, &cfg.UserIDPath)
		case "login_path":
			err = parseString(d, &cfg.LoginPath)
		case "email_path":
			err = parseString(d, &cfg.EmailPath)
		case "full_name_path":
			err = parseString(d, &cfg.FullNamePath)
		case "timeout":
			err = parseDuration(d, &cfg.Timeout)
		case "max_concurrent":
			err = parseInt(d, &cfg.MaxConcurrent)
		default:
			err = d.Errf("unknown identity_provider subdirective %q", d.Val())
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

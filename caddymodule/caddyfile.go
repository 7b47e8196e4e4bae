package caddymodule

import (
	"slices"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/cubeauth/cubeauth/authcore"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("cubeauth", parseCaddyfile)
	// Authentication runs where Caddy's own basic_auth does: before any
	// handler that answers or proxies, so no "order" line is needed.
	httpcaddyfile.RegisterDirectiveOrder("cubeauth", httpcaddyfile.Before, "basic_auth")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var m Handler
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return &m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	cubeauth {
//		storage badger [<dir>] {        # default: Caddy's data dir + /cubeauth
//			offline_grace <duration>    # cached sessions while the store fails, default 5m
//		}
//		storage postgres <dsn> {        # the block is optional
//			max_conns <n>               # pool size, default 10
//			connect_timeout <duration>  # default 5s
//			query_timeout <duration>    # default 5s
//			reconcile_interval <duration> # default 5s
//			offline_grace <duration>    # as for badger
//		}
//		session_ttl <duration>          # idle expiry, default 2h
//		session_max_age <duration>      # absolute lifetime, default 720h
//		guest_ttl <duration>            # guest users and sessions, default 24h
//		header_prefix <prefix>          # default X-Cube-
//		pass_credentials                # forward the token to the backend
//		preflight_with_token            # require a token on CORS preflights
//		backend_errors answer|caddy     # who answers backend errors, default answer
//		cors_origins <origin...>        # default *
//		session_cache_size <n>          # -1 disables, default 100000
//		hash_concurrency <n>            # default: number of CPUs - 1, at least 1
//		hash_wait <duration>            # default 5s
//		hash_in_process                 # hash in Caddy's process, not in workers
//		argon2 <memory_kib> <time>      # default 19456 2 (OWASP)
//		app_session_websockets          # let app sessions open WebSockets
//		chat_password_secret <secret>   # POST /cubeauth/chat_password for cubeauth-extauth
//		account_settings {              # GET /account_settings
//			api_endpoint <url>
//			chat_endpoint <host>
//		}
//		limits {                        # <count>/<duration> or off
//			failures_per_account_ip 10/15m
//			failures_per_account 100/1h
//			failures_per_ip 100/15m
//			sessions_per_ip 600/1m
//			sessions_per_app off
//			logins_per_ip 600/1m
//			signups_per_ip 60/1m
//			signups_per_app off
//			lookups_per_ip 3000/1m      # users looked up or listed
//			lookups_per_session 600/1m
//			ipv6_prefix 64              # IPv6 clients counted per /64
//		}
//		smtp {                          # password reset mails; see parseSMTP
//			host <name>
//			port <n>                    # default 587, 465 with tls, 25 with none
//			tls starttls|tls|none       # default starttls
//			username <name>
//			password {env.SMTP_PASSWORD}
//			from <address>
//			ca_file <path>              # extra roots to verify the server
//			timeout <duration>          # default 30s
//		}
//		password_reset {                # the reset mail of every app
//			link_base_url <url>         # required with smtp
//			subject <template>
//			text_template <template>|{file./path}
//			html_template <template>|{file./path}
//			ttl <duration>              # how long a link works, default 1h
//		}
//		assertion {                     # signed identity for the backend; alone: defaults
//			alg ES256|EdDSA             # default ES256
//			issuer <iss>                # default cubeauth
//			audience <aud>              # default the request's Host
//			ttl <duration>              # default 30s
//			bind_request                # method, path and jti in every assertion
//			header <name>               # default X-Cube-Assertion
//			rotate_every <duration>     # default 24h
//			key_encryption_key <secret> [<previous>...]  # seals the private keys in the store; {env.X}
//		}
//		app <id> {
//			name <label>
//			auth_key <key>
//			auth_secret <secret>
//			stage development|production
//			session_without_user allow|deny
//			require_signature
//			list_users allow|deny       # app and guest sessions; default: by stage
//			guest_sessions allow|deny   # default: as session_without_user
//			public_user_fields <field...>   # e.g. email; see authcore.UserFieldNames
//			private_user_fields <field...>  # e.g. custom_data
//			min_password_length <n>     # 8 to 128 characters, default 8
//			password_reset { … }        # as above, but ttl
//			firebase { … }              # Firebase sign-in; see parseFirebase
//			identity_provider <url> { … }   # custom IdP; see parseIdentityProvider
//			xmpp_kick <api url> { … }       # end XMPP streams with their sessions; see parseXMPPKick
//		}
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "storage":
			err = h.parseStorage(d)
		case "session_ttl":
			err = parseDuration(d, &h.SessionTTL)
		case "session_max_age":
			err = parseDuration(d, &h.SessionMaxAge)
		case "guest_ttl":
			err = parseDuration(d, &h.GuestTTL)
		case "hash_wait":
			err = parseDuration(d, &h.HashWait)
		case "header_prefix":
			err = parseString(d, &h.HeaderPrefix)
		case "pass_credentials":
			h.PassCredentials, err = true, noArgs(d)
		case "preflight_with_token":
			h.PreflightWithToken, err = true, noArgs(d)
		case "backend_errors":
			err = parseString(d, &h.BackendErrors)
		case "forwarded_cors":
			err = parseString(d, &h.ForwardedCORS)
		case "cors_origins":
			h.CORSOrigins = d.RemainingArgs()
			if len(h.CORSOrigins) == 0 {
				err = d.ArgErr()
			}
		case "session_cache_size":
			err = parseInt(d, &h.SessionCacheSize)
		case "hash_concurrency":
			err = parseInt(d, &h.HashConcurrency)
		case "hash_in_process":
			h.HashInProcess, err = true, noArgs(d)
		case "limits":
			err = h.parseLimits(d)
		case "argon2":
			err = h.parseArgon2(d)
		case "app":
			err = h.parseApp(d)
		case "app_session_websockets":
			h.AppSessionWebSockets, err = true, noArgs(d)
		case "chat_password_secret":
			err = parseString(d, &h.ChatPasswordSecret)
		case "account_settings":
			h.AccountSettings, err = parseAccountSettings(d)
		case "assertion":
			h.Assertion, err = parseAssertion(d)
		case "smtp":
			err = h.parseSMTP(d)
		case "password_reset":
			h.PasswordReset, err = parsePasswordReset(d, false)
		default:
			err = d.Errf("unknown subdirective %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// parseStorage hands the rest of the storage line, and its block, to the
// driver's own Caddyfile parser.
func (h *Handler) parseStorage(d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return d.Errf("storage takes a driver: storage badger [<dir>] | storage postgres <dsn>")
	}
	driver := d.Val()
	mod, err := caddyfile.UnmarshalModule(d, "cubeauth.storage."+driver)
	if err != nil {
		return err
	}
	h.StorageRaw = caddyconfig.JSONModuleObject(mod, "driver", driver, nil)
	return nil
}

func (h *Handler) parseLimits(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	if h.Limits == nil {
		h.Limits = &LimitsConfig{}
	}
	var scratch authcore.Limits
	fields := h.Limits.fields(&scratch)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if name == "ipv6_prefix" {
			if err := parseInt(d, &h.Limits.IPv6Prefix); err != nil {
				return err
			}
			if _, err := h.Limits.limits(); err != nil {
				return d.Err(err.Error())
			}
			continue
		}
		i := slices.IndexFunc(fields, func(f limitField) bool { return f.name == name })
		if i < 0 {
			return d.Errf("unknown limit %q", name)
		}
		if err := parseString(d, fields[i].config); err != nil {
			return err
		}
		if _, err := authcore.ParseRate(*fields[i].config); err != nil {
			return d.Errf("limit %s: %v", name, err)
		}
	}
	return nil
}

func (h *Handler) parseArgon2(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) != 2 {
		return d.ArgErr()
	}
	m, err1 := strconv.ParseUint(args[0], 10, 32)
	t, err2 := strconv.ParseUint(args[1], 10, 32)
	if err1 != nil || err2 != nil || m < 8 || t < 1 {
		return d.Errf("argon2 takes memory in KiB (at least 8) and a time cost (at least 1)")
	}
	h.Argon2 = &Argon2Config{MemoryKiB: uint32(m), Time: uint32(t)}
	return nil
}

func (h *Handler) parseApp(d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	id, err := strconv.ParseInt(d.Val(), 10, 64)
	if err != nil || id <= 0 {
		return d.Errf("app id must be a positive integer, got %q", d.Val())
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	app := AppConfig{ID: id}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "name":
			err = parseString(d, &app.Name)
		case "auth_key":
			err = parseString(d, &app.AuthKey)
		case "auth_secret":
			err = parseString(d, &app.AuthSecret)
		case "stage":
			err = parseString(d, &app.Stage)
			if err == nil && app.Stage != "development" && app.Stage != "production" {
				err = d.Errf("stage must be development or production")
			}
		case "session_without_user":
			err = parsePermission(d, &app.SessionWithoutUser)
		case "require_signature":
			app.RequireSignature, err = true, noArgs(d)
		case "list_users":
			err = parsePermission(d, &app.ListUsers)
		case "guest_sessions":
			err = parsePermission(d, &app.GuestSessions)
		case "public_user_fields":
			err = parseList(d, &app.PublicUserFields)
		case "private_user_fields":
			err = parseList(d, &app.PrivateUserFields)
		case "min_password_length":
			err = parseInt(d, &app.MinPasswordLength)
		case "password_reset":
			app.PasswordReset, err = parsePasswordReset(d, true)
		case "firebase":
			app.Firebase, err = parseFirebase(d)
		case "identity_provider":
			app.IdentityProvider, err = parseIdentityProvider(d)
		case "xmpp_kick":
			app.XMPPKick, err = parseXMPPKick(d)
		default:
			err = d.Errf("unknown app subdirective %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	h.Apps = append(h.Apps, app)
	return nil
}

// parsePermission reads allow or deny.
func parsePermission(d *caddyfile.Dispenser, dst *string) error {
	name := d.Val()
	if err := parseString(d, dst); err != nil {
		return err
	}
	if *dst != "allow" && *dst != "deny" {
		return d.Errf("%s must be allow or deny", name)
	}
	return nil
}

// parseList reads one or more arguments, adding to what is there.
func parseList(d *caddyfile.Dispenser, dst *[]string) error {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.ArgErr()
	}
	*dst = append(*dst, args...)
	return nil
}

func parseString(d *caddyfile.Dispenser, dst *string) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	*dst = d.Val()
	return noArgs(d)
}

func parseInt(d *caddyfile.Dispenser, dst *int) error {
	var s string
	if err := parseString(d, &s); err != nil {
		return err
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return d.Errf("%s: not an integer: %q", d.Val(), s)
	}
	*dst = n
	return nil
}

func parseDuration(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	var s string
	if err := parseString(d, &s); err != nil {
		return err
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil {
		return d.Errf("invalid duration %q: %v", s, err)
	}
	*dst = caddy.Duration(dur)
	return nil
}

func noArgs(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)

package caddymodule

import (
	"fmt"

	"github.com/cubeauth/cubeauth/authcore"
)

// Argon2Config is the argon2id cost of new password hashes.
type Argon2Config struct {
	// MemoryKiB is the memory per hash in KiB. Default: 19456.
	MemoryKiB uint32 `json:"memory_kib,omitempty"`
	// Time is the number of passes. Default: 2.
	Time uint32 `json:"time,omitempty"`
}

func (c *Argon2Config) params() authcore.Argon2Params {
	p := authcore.DefaultArgon2Params
	if c != nil && c.MemoryKiB > 0 {
		p.MemoryKiB = c.MemoryKiB
	}
	if c != nil && c.Time > 0 {
		p.Time = c.Time
	}
	return p
}

// LimitsConfig overrides abuse limits. Each is "<count>/<duration>"
// (such as "10/15m") or "off"; an empty field keeps the default.
type LimitsConfig struct {
	// FailuresPerAccountIP bounds wrong passwords for one account from one
	// client IP. Default: 10/15m.
	FailuresPerAccountIP string `json:"failures_per_account_ip,omitempty"`
	// FailuresPerAccount bounds wrong passwords for one account from
	// everywhere (NIST 800-63B: at most 100). Default: 100/1h.
	FailuresPerAccount string `json:"failures_per_account,omitempty"`
	// FailuresPerIP bounds wrong passwords and unknown logins from one
	// client IP. Default: 100/15m.
	FailuresPerIP string `json:"failures_per_ip,omitempty"`
	// SessionsPerIP bounds session creations from one client IP.
	// Default: 600/1m.
	SessionsPerIP string `json:"sessions_per_ip,omitempty"`
	// SessionsPerApp bounds session creations for one app. Default: off.
	SessionsPerApp string `json:"sessions_per_app,omitempty"`
	// LoginsPerIP bounds POST /login (an app session signing a user in)
	// from one client IP. Default: 600/1m.
	LoginsPerIP string `json:"logins_per_ip,omitempty"`
	// SignupsPerIP bounds user creations from one client IP.
	// Default: 60/1m.
	SignupsPerIP string `json:"signups_per_ip,omitempty"`
	// SignupsPerApp bounds user creations for one app. Default: off.
	SignupsPerApp string `json:"signups_per_app,omitempty"`
	// LookupsPerIP bounds the users that sessions from one client IP look
	// up or list (each user named counts one). Default: 3000/1m.
	LookupsPerIP string `json:"lookups_per_ip,omitempty"`
	// LookupsPerSession bounds the users one session looks up or lists.
	// Default: 600/1m.
	LookupsPerSession string `json:"lookups_per_session,omitempty"`
	// EmailChangesPerUser bounds how often one user sets a new email (the
	// answer tells whether the address is taken). Default: 10/1h.
	EmailChangesPerUser string `json:"email_changes_per_user,omitempty"`
	// IPv6Prefix is how many leading bits of an IPv6 client address the
	// per-IP limits count as one client (clients rotate addresses inside
	// their /64 for free); 128 counts every address apart. Default: 64.
	IPv6Prefix int `json:"ipv6_prefix,omitempty"`
}

// fields pairs each configured limit with its name and its place in l.
func (c *LimitsConfig) fields(l *authcore.Limits) []limitField {
	return []limitField{
		{"failures_per_account_ip", &c.FailuresPerAccountIP, &l.FailuresPerAccountIP},
		{"failures_per_account", &c.FailuresPerAccount, &l.FailuresPerAccount},
		{"failures_per_ip", &c.FailuresPerIP, &l.FailuresPerIP},
		{"sessions_per_ip", &c.SessionsPerIP, &l.SessionsPerIP},
		{"sessions_per_app", &c.SessionsPerApp, &l.SessionsPerApp},
		{"logins_per_ip", &c.LoginsPerIP, &l.LoginsPerIP},
		{"signups_per_ip", &c.SignupsPerIP, &l.SignupsPerIP},
		{"signups_per_app", &c.SignupsPerApp, &l.SignupsPerApp},
		{"lookups_per_ip", &c.LookupsPerIP, &l.LookupsPerIP},
		{"lookups_per_session", &c.LookupsPerSession, &l.LookupsPerSession},
		{"email_changes_per_user", &c.EmailChangesPerUser, &l.EmailChangesPerUser},
	}
}

type limitField struct {
	name   string
	config *string
	rate   *authcore.Rate
}

// limits applies the overrides to authcore.DefaultLimits.
func (c *LimitsConfig) limits() (authcore.Limits, error) {
	l := authcore.DefaultLimits
	if c == nil {
		return l, nil
	}
	if c.IPv6Prefix != 0 {
		if c.IPv6Prefix < 1 || c.IPv6Prefix > 128 {
			return l, fmt.Errorf("limit ipv6_prefix must be between 1 and 128")
		}
		l.IPv6Prefix = c.IPv6Prefix
	}
	for _, f := range c.fields(&l) {
		if *f.config == "" {
			continue
		}
		r, err := authcore.ParseRate(*f.config)
		if err != nil {
			return l, fmt.Errorf("limit %s: %w", f.name, err)
		}
		*f.rate = r
	}
	return l, nil
}

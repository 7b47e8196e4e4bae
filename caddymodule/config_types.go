package caddymodule

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/cubeauth/cubeauth/authcore"
)

// FlexInt is an integer that JSON may give as a number or a string, as
// ConnectyCube clients send application IDs both ways.
type FlexInt int64

// UnmarshalJSON accepts 42 and "42".
func (f *FlexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("not an integer: %s", b)
	}
	*f = FlexInt(n)
	return nil
}

// MarshalJSON writes a JSON number.
func (f FlexInt) MarshalJSON() ([]byte, error) {
	return json.Marshal(int64(f))
}

// StorageConfig says where cubeauth keeps its data.
type StorageConfig struct {
	// Driver is "badger" (embedded, the default) or "postgres".
	Driver string `json:"driver,omitempty"`
	// Path is Badger's data directory. Default: Caddy's data directory +
	// "/cubeauth". Placeholders are replaced.
	Path string `json:"path,omitempty"`
	// DSN is the PostgreSQL connection string. Placeholders such as
	// {env.DATABASE_URL} are replaced.
	DSN string `json:"dsn,omitempty"`
	// MaxConns bounds the PostgreSQL connection pool; each node also keeps
	// one listener connection. Default: 10.
	MaxConns int `json:"max_conns,omitempty"`
	// ConnectTimeout bounds establishing a PostgreSQL connection.
	// Default: 5s.
	ConnectTimeout caddy.Duration `json:"connect_timeout,omitempty"`
	// QueryTimeout bounds every PostgreSQL operation, so that an
	// unreachable database answers 503 instead of hanging. Default: 5s.
	QueryTimeout caddy.Duration `json:"query_timeout,omitempty"`
	// ReconcileInterval is how often a PostgreSQL node reads the other
	// nodes' changes without being notified: the longest a lost
	// notification leaves a cache stale. Default: 5s.
	ReconcileInterval caddy.Duration `json:"reconcile_interval,omitempty"`
	// OfflineGrace is how long sessions already in a node's cache keep
	// working while the store is unreachable; after it they are answered
	// 503 until the store is back. Any driver. Default: 5m.
	OfflineGrace caddy.Duration `json:"offline_grace,omitempty"`
}

// offlineGrace is the configured grace, zero (authcore's default) when
// there is no storage config.
func (c *StorageConfig) offlineGrace() time.Duration {
	if c == nil {
		return 0
	}
	return time.Duration(c.OfflineGrace)
}

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

// LimitsConfig overrides abuse limits by name, each "<count>/<duration>"
// or "off": failures_per_account_ip, failures_per_account, failures_per_ip,
// sessions_per_ip, sessions_per_app, signups_per_ip, signups_per_app.
type LimitsConfig map[string]string

// limits applies the overrides to authcore.DefaultLimits.
func (c LimitsConfig) limits() (authcore.Limits, error) {
	l := authcore.DefaultLimits
	fields := map[string]*authcore.Rate{
		authcore.LimitFailuresPerAccountIP: &l.FailuresPerAccountIP,
		authcore.LimitFailuresPerAccount:   &l.FailuresPerAccount,
		authcore.LimitFailuresPerIP:        &l.FailuresPerIP,
		authcore.LimitSessionsPerIP:        &l.SessionsPerIP,
		authcore.LimitSessionsPerApp:       &l.SessionsPerApp,
		authcore.LimitSignupsPerIP:         &l.SignupsPerIP,
		authcore.LimitSignupsPerApp:        &l.SignupsPerApp,
	}
	for name, value := range c {
		dst, ok := fields[name]
		if !ok {
			return l, fmt.Errorf("unknown limit %q", name)
		}
		r, err := authcore.ParseRate(value)
		if err != nil {
			return l, fmt.Errorf("limit %s: %w", name, err)
		}
		*dst = r
	}
	return l, nil
}

package authcore

import (
	"runtime"
	"time"
)

// Options configure a Service. Zero values take the documented defaults.
type Options struct {
	// SessionTTL is the idle expiry: a session ends this long after its last
	// request. Default: 2h, as ConnectyCube.
	SessionTTL time.Duration
	// SessionMaxAge is the absolute lifetime of a session, however active.
	// Default: 720h (30 days).
	SessionMaxAge time.Duration
	// GuestTTL is the lifetime of a guest user and its session. Default: 24h.
	GuestTTL time.Duration
	// SignatureSkew is how far a signed timestamp may be from the server's
	// clock. Default: 60m, as ConnectyCube.
	SignatureSkew time.Duration
	// CacheSize bounds the validated sessions kept in memory. Default:
	// 100000. Negative disables the cache (every request reads the store).
	CacheSize int
	// Hasher hashes passwords. Default: argon2id with OWASP parameters, as
	// many at once as there are CPUs less one (at least one), waiting at
	// most 5s for a turn, in-process. Whoever made the Hasher closes it.
	Hasher *Hasher
	// Limits are the abuse limits. Default: DefaultLimits; set a Rate to
	// its zero value to turn that limit off.
	Limits *Limits
	// OfflineGrace is how long sessions already in the cache keep working
	// while the store is unreachable (store.ErrUnavailable); afterwards they
	// need the store again and are answered ErrUnavailable until it is back.
	// Sessions not in the cache, and every write, fail at once. Default: 5m.
	// Negative: no grace.
	OfflineGrace time.Duration
	// Mailer sends password reset mails. Default: none, and
	// RequestPasswordReset is refused.
	Mailer Mailer
	// PasswordResetTTL is how long a password reset link works. Default: 1h.
	PasswordResetTTL time.Duration
	// ReportError hears of failures in work done after a request was
	// answered (password reset mails). The errors carry no secrets.
	// Default: they are dropped.
	ReportError func(error)
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// DefaultHashConcurrency is how many passwords a Hasher hashes at once
// unless told otherwise: the CPU count less one (at least one), so that
// hashing never takes every CPU from the proxied requests.
func DefaultHashConcurrency() int { return max(1, runtime.NumCPU()-1) }

func (o Options) withDefaults() Options {
	if o.SessionTTL <= 0 {
		o.SessionTTL = 2 * time.Hour
	}
	if o.SessionMaxAge <= 0 {
		o.SessionMaxAge = 720 * time.Hour
	}
	if o.GuestTTL <= 0 {
		o.GuestTTL = 24 * time.Hour
	}
	if o.SignatureSkew <= 0 {
		o.SignatureSkew = time.Hour
	}
	if o.CacheSize == 0 {
		o.CacheSize = 100_000
	}
	if o.Hasher == nil {
		o.Hasher = NewHasher(DefaultArgon2Params, DefaultHashConcurrency(), 5*time.Second)
	}
	if o.Limits == nil {
		l := DefaultLimits
		o.Limits = &l
	}
	if o.OfflineGrace == 0 {
		o.OfflineGrace = 5 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PasswordResetTTL <= 0 {
		o.PasswordResetTTL = time.Hour
	}
	if o.ReportError == nil {
		o.ReportError = func(error) {}
	}
	return o
}

// touchInterval is how stale the stored expiry may get before a request
// writes a new one: min(60s, ttl/10), so sliding expiry costs at most one
// write per session per minute whatever the request rate.
func (o Options) touchInterval() time.Duration {
	return min(time.Minute, o.SessionTTL/10)
}

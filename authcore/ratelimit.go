package authcore

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Rate is "Count events per Per". The zero Rate means no limit.
type Rate struct {
	Count int
	Per   time.Duration
}

// ParseRate reads "10/15m" (or "off").
func ParseRate(s string) (Rate, error) {
	if s == "off" || s == "0" {
		return Rate{}, nil
	}
	count, per, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(count)
	if !ok || err != nil || n < 1 {
		return Rate{}, fmt.Errorf("rate %q: want <count>/<duration>, such as 10/15m, or off", s)
	}
	d, err := time.ParseDuration(per)
	if err != nil || d <= 0 {
		return Rate{}, fmt.Errorf("rate %q: bad duration", s)
	}
	return Rate{Count: n, Per: d}, nil
}

// String writes the rate as ParseRate reads it.
func (r Rate) String() string {
	if r.Count == 0 {
		return "off"
	}
	per := r.Per.String() // "1h0m0s" reads better as "1h"
	if strings.HasSuffix(per, "m0s") {
		per = strings.TrimSuffix(per, "0s")
	}
	if strings.HasSuffix(per, "h0m") {
		per = strings.TrimSuffix(per, "0m")
	}
	return strconv.Itoa(r.Count) + "/" + per
}

// Limits are the abuse limits. Failure-driven limits are on by default:
// they only ever touch clients that keep getting passwords wrong, so they
// do not throttle the many honest users behind one NAT. Pure volume limits
// are generous by default, or off.
type Limits struct {
	// FailuresPerAccountIP bounds wrong passwords for one account from one
	// client IP. Default: 10/15m.
	FailuresPerAccountIP Rate
	// FailuresPerAccount bounds wrong passwords for one account from
	// everywhere, as NIST 800-63B asks (at most 100). Default: 100/1h.
	FailuresPerAccount Rate
	// FailuresPerIP bounds wrong passwords and unknown logins from one
	// client IP across accounts (credential stuffing). Default: 100/15m.
	FailuresPerIP Rate
	// SessionsPerIP bounds session creations from one IP. Default: 600/1m.
	SessionsPerIP Rate
	// SessionsPerApp bounds session creations for one app. Default: off.
	SessionsPerApp Rate
	// SignupsPerIP bounds user creations from one IP. Default: 60/1m.
	SignupsPerIP Rate
	// SignupsPerApp bounds user creations for one app. Default: off.
	SignupsPerApp Rate
}

// DefaultLimits are the limits used when none are configured.
var DefaultLimits = Limits{
	FailuresPerAccountIP: Rate{10, 15 * time.Minute},
	FailuresPerAccount:   Rate{100, time.Hour},
	FailuresPerIP:        Rate{100, 15 * time.Minute},
	SessionsPerIP:        Rate{600, time.Minute},
	SignupsPerIP:         Rate{60, time.Minute},
}

// Names of the limits, as metrics and errors report them.
const (
	LimitFailuresPerAccountIP = "failures_per_account_ip"
	LimitFailuresPerAccount   = "failures_per_account"
	LimitFailuresPerIP        = "failures_per_ip"
	LimitSessionsPerIP        = "sessions_per_ip"
	LimitSessionsPerApp       = "sessions_per_app"
	LimitSignupsPerIP         = "signups_per_ip"
	LimitSignupsPerApp        = "signups_per_app"
)

// limiter counts events per key in a sliding window (two fixed windows,
// weighted), in bounded memory.
type limiter struct {
	name string
	rate Rate
	now  func() time.Time

	mu      sync.Mutex
	windows map[string]*window
}

type window struct {
	start         int64 // start of the current window, Unix nanoseconds
	current, prev int
}

// maxLimiterKeys bounds each limiter's memory. Past it, expired keys are
// dropped, then arbitrary ones: an attacker flushing counters with many
// keys gains little, since each key is one IP or one account.
const maxLimiterKeys = 100_000

func newLimiter(name string, rate Rate, now func() time.Time) *limiter {
	if rate.Count == 0 {
		return nil
	}
	return &limiter{name: name, rate: rate, now: now, windows: map[string]*window{}}
}

// count returns the events of key in the sliding window ending now.
func (l *limiter) countLocked(key string, now int64) (*window, float64) {
	w := l.windows[key]
	per := int64(l.rate.Per)
	if w == nil {
		if len(l.windows) >= maxLimiterKeys {
			l.evictLocked(now)
		}
		w = &window{start: now - now%per}
		l.windows[key] = w
	}
	switch elapsed := now - w.start; {
	case elapsed >= 2*per:
		w.start, w.current, w.prev = now-now%per, 0, 0
	case elapsed >= per:
		w.start, w.prev, w.current = w.start+per, w.current, 0
	}
	weight := 1 - float64(now-w.start)/float64(per)
	return w, float64(w.prev)*weight + float64(w.current)
}

func (l *limiter) evictLocked(now int64) {
	per := int64(l.rate.Per)
	for k, w := range l.windows {
		if now-w.start >= 2*per {
			delete(l.windows, k)
		}
	}
	for k := range l.windows {
		if len(l.windows) < maxLimiterKeys {
			break
		}
		delete(l.windows, k)
	}
}

// allow reports whether one more event for key is within the rate; when it
// is not, it says how long to wait.
func (l *limiter) check(key string) error {
	if l == nil || key == "" {
		return nil
	}
	now := l.now().UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	w, n := l.countLocked(key, now)
	if n < float64(l.rate.Count) {
		return nil
	}
	return &BusyError{
		Reason:     "too many requests, try again later",
		RetryAfter: max(time.Second, time.Duration(w.start+int64(l.rate.Per)-now)),
		Throttled:  true,
		Limit:      l.name,
	}
}

// add records one event for key.
func (l *limiter) add(key string) {
	if l == nil || key == "" {
		return
	}
	now := l.now().UnixNano()
	l.mu.Lock()
	w, _ := l.countLocked(key, now)
	w.current++
	l.mu.Unlock()
}

// take checks and records one event.
func (l *limiter) take(key string) error {
	if err := l.check(key); err != nil {
		return err
	}
	l.add(key)
	return nil
}

// reset forgets key (a successful login clears its account+IP failures).
func (l *limiter) reset(key string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	delete(l.windows, key)
	l.mu.Unlock()
}

// limiters are a Service's limits in force.
type limiters struct {
	failuresAccountIP, failuresAccount, failuresIP *limiter
	sessionsIP, sessionsApp, signupsIP, signupsApp *limiter
}

func newLimiters(l Limits, now func() time.Time) limiters {
	return limiters{
		failuresAccountIP: newLimiter(LimitFailuresPerAccountIP, l.FailuresPerAccountIP, now),
		failuresAccount:   newLimiter(LimitFailuresPerAccount, l.FailuresPerAccount, now),
		failuresIP:        newLimiter(LimitFailuresPerIP, l.FailuresPerIP, now),
		sessionsIP:        newLimiter(LimitSessionsPerIP, l.SessionsPerIP, now),
		sessionsApp:       newLimiter(LimitSessionsPerApp, l.SessionsPerApp, now),
		signupsIP:         newLimiter(LimitSignupsPerIP, l.SignupsPerIP, now),
		signupsApp:        newLimiter(LimitSignupsPerApp, l.SignupsPerApp, now),
	}
}

// accountKey names an account for the failure limits.
func accountKey(appID int64, c credentials) string {
	name := c.Login
	if name == "" {
		name = "@" + c.Email
	}
	return strconv.FormatInt(appID, 10) + ":" + strings.ToLower(name)
}

// beforePasswordCheck refuses, before any hashing, a client that has failed
// too often for this account or from its IP.
func (ls *limiters) beforePasswordCheck(account, ip string) error {
	if err := ls.failuresAccountIP.check(account + "|" + ip); err != nil {
		return err
	}
	if err := ls.failuresAccount.check(account); err != nil {
		return err
	}
	return ls.failuresIP.check(ip)
}

// failed records a wrong password (or an unknown login).
func (ls *limiters) failed(account, ip string) {
	ls.failuresAccountIP.add(account + "|" + ip)
	ls.failuresAccount.add(account)
	ls.failuresIP.add(ip)
}

// succeeded clears the failures of this account from this IP; the
// account-wide and IP-wide counts stay, so an attacker cannot reset them by
// logging in to an account of its own.
func (ls *limiters) succeeded(account, ip string) {
	ls.failuresAccountIP.reset(account + "|" + ip)
}

package authcore

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cubeauth/cubeauth/store"
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
	// LoginsPerIP bounds POST /login requests (an existing session signing
	// a user in) from one IP. Default: 600/1m.
	LoginsPerIP Rate
	// SignupsPerIP bounds user creations from one IP. Default: 60/1m.
	SignupsPerIP Rate
	// SignupsPerApp bounds user creations for one app. Default: off.
	SignupsPerApp Rate
	// LookupsPerIP bounds the users that sessions from one IP look up or
	// list (each user named counts one). Default: 3000/1m.
	LookupsPerIP Rate
	// LookupsPerSession bounds the users one session looks up or lists.
	// Default: 600/1m.
	LookupsPerSession Rate
	// EmailChangesPerUser bounds how often one user sets a new email: the
	// answer tells whether another user has it, so without a bound a
	// signed-up user would be an oracle for every address. Each change
	// also counts as a lookup of the client's IP. Default: 10/1h.
	EmailChangesPerUser Rate
	// IPv6Prefix is how many leading bits of an IPv6 client address the
	// per-IP limits count as one client. Default: 64 (0 means the default);
	// 128 counts each address apart.
	IPv6Prefix int
	// ReportSharedCounters hears when the store's shared counters start
	// failing (an error; the local limits alone apply until they answer
	// again) and when they answer again (nil). An interface rather than a
	// func keeps Limits comparable. Default: dropped.
	ReportSharedCounters ErrorReporter
}

// ErrorReporter hears of errors handled out of a request's sight.
type ErrorReporter interface {
	ReportError(err error)
}

// DefaultIPv6Prefix is the IPv6 prefix length counted as one client: a /64
// is what one subscriber or server is usually given.
const DefaultIPv6Prefix = 64

// DefaultLimits are the limits used when none are configured.
var DefaultLimits = Limits{
	FailuresPerAccountIP: Rate{10, 15 * time.Minute},
	FailuresPerAccount:   Rate{100, time.Hour},
	FailuresPerIP:        Rate{100, 15 * time.Minute},
	SessionsPerIP:        Rate{600, time.Minute},
	LoginsPerIP:          Rate{600, time.Minute},
	SignupsPerIP:         Rate{60, time.Minute},
	LookupsPerIP:         Rate{3000, time.Minute},
	LookupsPerSession:    Rate{600, time.Minute},
	EmailChangesPerUser:  Rate{10, time.Hour},
	IPv6Prefix:           DefaultIPv6Prefix,
}

// Names of the limits, as metrics and errors report them.
const (
	LimitFailuresPerAccountIP = "failures_per_account_ip"
	LimitFailuresPerAccount   = "failures_per_account"
	LimitFailuresPerIP        = "failures_per_ip"
	LimitSessionsPerIP        = "sessions_per_ip"
	LimitSessionsPerApp       = "sessions_per_app"
	LimitLoginsPerIP          = "logins_per_ip"
	LimitSignupsPerIP         = "signups_per_ip"
	LimitSignupsPerApp        = "signups_per_app"
	LimitLookupsPerIP         = "lookups_per_ip"
	LimitLookupsPerSession    = "lookups_per_session"
	LimitEmailChangesPerUser  = "email_changes_per_user"
)

// limiter counts events per key in a sliding window (two fixed windows,
// weighted), in bounded memory.
//
// Only events create state: check never stores anything, so refused
// requests and keys that never fail cost no memory. Entries sit in one of
// two lists ordered by expiry (the window of their last event), so that
// making room is O(1): an entry under its limit ("open") is evicted first,
// soonest-expiring first; an entry over its limit ("blocked") is never
// evicted while it is blocked. When every entry is blocked a new key cannot
// be tracked: a failure limiter (failClosed) then refuses new keys, since
// forgetting a failure would let a brute force through; a volume limiter
// lets them pass untracked, since refusing would turn a flood into an outage
// for everyone and the volume it fails to count costs no password guess.
type limiter struct {
	name       string
	rate       Rate
	now        func() time.Time
	failClosed bool
	maxKeys    int

	mu      sync.Mutex
	entries map[string]*limitEntry
	// open and blocked are ordered by start, oldest (soonest to expire)
	// first: an event moves its entry to the back, and every event is in
	// the newest window.
	open, blocked limitList
}

type limitEntry struct {
	key           string
	start         int64 // start of the window of the last event, Unix nanoseconds
	current, prev int
	list          *limitList
	before, after *limitEntry
}

// limitList is an intrusive doubly linked list of entries.
type limitList struct{ front, back *limitEntry }

func (ll *limitList) pushBack(e *limitEntry) {
	e.list, e.before, e.after = ll, ll.back, nil
	if ll.back != nil {
		ll.back.after = e
	} else {
		ll.front = e
	}
	ll.back = e
}

func (ll *limitList) remove(e *limitEntry) {
	if e.before != nil {
		e.before.after = e.after
	} else {
		ll.front = e.after
	}
	if e.after != nil {
		e.after.before = e.before
	} else {
		ll.back = e.before
	}
	e.list, e.before, e.after = nil, nil, nil
}

// maxLimiterKeys bounds each limiter's memory.
const maxLimiterKeys = 100_000

func newLimiter(name string, rate Rate, now func() time.Time, failClosed bool) *limiter {
	if rate.Count == 0 {
		return nil
	}
	return &limiter{name: name, rate: rate, now: now, failClosed: failClosed,
		maxKeys: maxLimiterKeys, entries: map[string]*limitEntry{}}
}

// windowAt returns e's windows as they stand at now, without changing e.
func (l *limiter) windowAt(e *limitEntry, now int64) (start int64, current, prev int) {
	per := int64(l.rate.Per)
	start, current, prev = e.start, e.current, e.prev
	switch elapsed := now - start; {
	case elapsed >= 2*per:
		return now - now%per, 0, 0
	case elapsed >= per:
		return start + per, 0, current
	}
	return start, current, prev
}

// countAt returns the events of e in the sliding window ending now.
func (l *limiter) countAt(e *limitEntry, now int64) float64 {
	start, current, prev := l.windowAt(e, now)
	weight := 1 - float64(now-start)/float64(l.rate.Per)
	return float64(prev)*weight + float64(current)
}

func (l *limiter) blockedAt(e *limitEntry, now int64) bool {
	return l.countAt(e, now) >= float64(l.rate.Count)
}

func (l *limiter) expiredAt(e *limitEntry, now int64) bool {
	return now-e.start >= 2*int64(l.rate.Per)
}

func (l *limiter) dropLocked(e *limitEntry) {
	e.list.remove(e)
	delete(l.entries, e.key)
}

// sweepLocked drops a few expired entries from the fronts of the lists, so
// that memory follows the traffic down as well as up; a constant amount of
// work per event.
func (l *limiter) sweepLocked(now int64) {
	for _, ll := range []*limitList{&l.open, &l.blocked} {
		for range 2 {
			if e := ll.front; e != nil && l.expiredAt(e, now) {
				l.dropLocked(e)
			}
		}
	}
}

// roomLocked reports whether a new key can be stored, evicting the open
// entry that expires soonest, or a blocked one whose block has lifted.
func (l *limiter) roomLocked(now int64, evict bool) bool {
	if len(l.entries) < l.maxKeys {
		return true
	}
	victim := l.open.front
	if victim == nil {
		if e := l.blocked.front; e != nil && !l.blockedAt(e, now) {
			victim = e
		}
	}
	if victim == nil {
		return false
	}
	if evict {
		l.dropLocked(victim)
	}
	return true
}

func (l *limiter) busy(start, now int64) *BusyError {
	return &BusyError{
		Reason:     "too many requests, try again later",
		RetryAfter: max(time.Second, time.Duration(start+int64(l.rate.Per)-now)),
		Throttled:  true,
		Limit:      l.name,
	}
}

// check reports whether one more event for key is within the rate; when it
// is not, it says how long to wait. It stores nothing.
func (l *limiter) check(key string) error { return l.checkN(key, 1) }

// checkN is check for n events at once. More events than the rate allows
// in a whole window count as the rate's whole count.
func (l *limiter) checkN(key string, n int) error {
	if l == nil || key == "" {
		return nil
	}
	now := l.now().UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.checkLocked(key, n, now)
}

func (l *limiter) checkLocked(key string, n int, now int64) error {
	e := l.entries[key]
	if e == nil {
		if l.failClosed && !l.roomLocked(now, false) {
			return l.busy(l.blocked.front.start, now)
		}
		return nil
	}
	if l.countAt(e, now)+float64(min(n, l.rate.Count)-1) < float64(l.rate.Count) {
		return nil
	}
	start, _, _ := l.windowAt(e, now)
	return l.busy(start, now)
}

// add records one event for key.
func (l *limiter) add(key string) { l.addN(key, 1) }

// addN records n events for key.
func (l *limiter) addN(key string, n int) {
	if l == nil || key == "" {
		return
	}
	now := l.now().UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.addLocked(key, n, now)
}

func (l *limiter) addLocked(key string, n int, now int64) {
	l.sweepLocked(now)
	e := l.entries[key]
	if e == nil {
		if !l.roomLocked(now, true) {
			return // every entry is blocked; see the type's comment
		}
		e = &limitEntry{key: key}
		l.entries[key] = e
	} else {
		e.list.remove(e)
	}
	e.start, e.current, e.prev = l.windowAt(e, now)
	e.current += min(n, l.rate.Count)
	if l.blockedAt(e, now) {
		l.blocked.pushBack(e)
	} else {
		l.open.pushBack(e)
	}
}

// take checks and records one event.
func (l *limiter) take(key string) error { return l.takeN(key, 1) }

// takeN checks and records n events at once, under one lock: concurrent
// requests cannot all pass the check before any is counted.
func (l *limiter) takeN(key string, n int) error {
	if l == nil || key == "" {
		return nil
	}
	now := l.now().UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkLocked(key, n, now); err != nil {
		return err
	}
	l.addLocked(key, n, now)
	return nil
}

// reset forgets key (a successful login clears its account+IP failures).
func (l *limiter) reset(key string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	if e := l.entries[key]; e != nil {
		l.dropLocked(e)
	}
	l.mu.Unlock()
}

// len counts the keys held.
func (l *limiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// limiters are a Service's limits in force. The failure limits and the
// limits on creations (sessions, logins, signups, email changes, password
// reset mails) count in the store's shared counters as well
// (sharedlimit.go); the lookup limits count reads on every request and
// stay in memory.
type limiters struct {
	failuresAccountIP, failuresAccount, failuresIP           *sharedLimiter
	sessionsIP, sessionsApp, loginsIP, signupsIP, signupsApp *sharedLimiter
	emailChangesUser                                         *sharedLimiter
	resetsAddress, resetsIP                                  *sharedLimiter
	lookupsIP, lookupsSession                                *limiter
	ipv6Prefix                                               int
}

// newLimiters returns the limits l in force, shared through counters.
func newLimiters(l Limits, now func() time.Time, counters store.LimitCounters) limiters {
	prefix := l.IPv6Prefix
	if prefix <= 0 || prefix > 128 {
		prefix = DefaultIPv6Prefix
	}
	health := &counterHealth{now: now, report: func(error) {}}
	if l.ReportSharedCounters != nil {
		health.report = l.ReportSharedCounters.ReportError
	}
	shared := func(name string, rate Rate, failClosed bool) *sharedLimiter {
		return newSharedLimiter(newLimiter(name, rate, now, failClosed), counters, health)
	}
	return limiters{
		failuresAccountIP: shared(LimitFailuresPerAccountIP, l.FailuresPerAccountIP, true),
		failuresAccount:   shared(LimitFailuresPerAccount, l.FailuresPerAccount, true),
		failuresIP:        shared(LimitFailuresPerIP, l.FailuresPerIP, true),
		sessionsIP:        shared(LimitSessionsPerIP, l.SessionsPerIP, false),
		sessionsApp:       shared(LimitSessionsPerApp, l.SessionsPerApp, false),
		loginsIP:          shared(LimitLoginsPerIP, l.LoginsPerIP, false),
		signupsIP:         shared(LimitSignupsPerIP, l.SignupsPerIP, false),
		signupsApp:        shared(LimitSignupsPerApp, l.SignupsPerApp, false),
		emailChangesUser:  shared(LimitEmailChangesPerUser, l.EmailChangesPerUser, false),
		resetsAddress:     shared(LimitPasswordResetsPerAddress, passwordResetsPerAddress, false),
		resetsIP:          shared(LimitPasswordResetsPerIP, passwordResetsPerIP, false),
		lookupsIP:         newLimiter(LimitLookupsPerIP, l.LookupsPerIP, now, false),
		lookupsSession:    newLimiter(LimitLookupsPerSession, l.LookupsPerSession, now, false),
		ipv6Prefix:        prefix,
	}
}

// clientKey is the key of a client IP in the per-IP limits: an IPv4
// address, or the IPv6 prefix holding the address, since one client
// usually has a whole /64 to rotate through.
func (ls *limiters) clientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(ls.ipv6Prefix)
	if err != nil {
		return a.String()
	}
	return p.String()
}

// accountKey names an existing user for the failure limits: failures by
// login and by email count against the same account.
func accountKey(appID, userID int64) string {
	return strconv.FormatInt(appID, 10) + ":" + strconv.FormatInt(userID, 10)
}

// beforeSignup refuses a user creation over the signup limits of its
// client (a clientKey) or its app: signups, first logins that create the
// user, and guests alike.
func (ls *limiters) beforeSignup(client string, appID int64) error {
	if err := ls.signupsIP.take(client); err != nil {
		return err
	}
	return ls.signupsApp.take(strconv.FormatInt(appID, 10))
}

// beforeEmailChange refuses a new email over the limits of the account or
// of its client's lookups.
func (ls *limiters) beforeEmailChange(account, client string) error {
	if err := ls.emailChangesUser.take(account); err != nil {
		return err
	}
	return ls.lookupsIP.take(client)
}

// beforeLookup refuses, before the user is read, a client IP that has
// failed too often across accounts.
func (ls *limiters) beforeLookup(ip string) error {
	return ls.failuresIP.check(ip)
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

// failed records a wrong password, or with account "" an unknown login:
// an account that does not exist has nothing to protect, so only the IP
// counts it, and junk logins cannot fill the account limiters.
func (ls *limiters) failed(account, ip string) {
	if account != "" {
		ls.failuresAccountIP.add(account + "|" + ip)
		ls.failuresAccount.add(account)
	}
	ls.failuresIP.add(ip)
}

// succeeded clears the failures of this account from this IP; the
// account-wide and IP-wide counts stay, so an attacker cannot reset them by
// logging in to an account of its own.
func (ls *limiters) succeeded(account, ip string) {
	ls.failuresAccountIP.reset(account + "|" + ip)
}

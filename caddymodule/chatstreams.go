package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/cubeauth/cubeauth/store"
)

// extauthAgent is the User-Agent of cmd/cubeauth-extauth: its session
// lookups are chat logins. A client could send it too, but then only has
// its own user's streams ended at its own logout.
const extauthAgent = "cubeauth-extauth"

// maxChatLogins bounds the chat logins remembered per store. Entries leave
// when their session ends or passes its absolute lifetime; past the bound,
// the oldest half is forgotten (their streams then outlive a logout).
const maxChatLogins = 1 << 20

// maxKicksInFlight bounds the calls to XMPP servers at once.
const maxKicksInFlight = 8

// chatUser is an app's user.
type chatUser struct{ appID, userID int64 }

// chatLogin is a token an XMPP server accepted as a chat password.
type chatLogin struct {
	user  chatUser
	until time.Time // the session's absolute expiry
}

// chatStreams ends users' XMPP streams when the sessions they logged in
// with end: the token of every chat login the adapter asked about is
// remembered, and when the store says that session ended (logout, password
// change, revoke, deletion; on any node of a fleet), the app's XMPP server
// is told to end the user's streams. Streams that logged in with the
// user's password end when the password changes or the user is deleted.
// It lives in the store's engine, so a reload forgets nothing, and the
// logins are kept in the store too, so a restart forgets nothing either:
// the first handler with kickers loads them and ends the streams of those
// whose session ended (or password changed) while the node was down.
type chatStreams struct {
	st          store.Store
	logger      *zap.Logger
	unsubscribe func()
	turns       chan struct{}
	now         func() time.Time

	mu     sync.Mutex
	tokens map[store.TokenHash]chatLogin
	// passwords holds, for users logged in to chat with their password, a
	// digest of the password hash they logged in against.
	passwords map[chatUser][sha256.Size]byte
	// kickers are the running handlers' apps' kickers, oldest first: the
	// newest handler that declares an app decides.
	kickers []*kickerSet

	// storeLocks order the store writes of one chat login (by the first
	// byte of its key), so that a delete and a put of it never cross.
	storeLocks [64]sync.Mutex

	loadOnce sync.Once
	// loaded is closed once the stored chat logins are in tokens.
	loaded    chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// chatStoreTimeout bounds one store call for a chat login, chatLoadTimeout
// the listing of them all; chatLoadRetry is the wait before loading them
// again after a failure.
const (
	chatStoreTimeout = 5 * time.Second
	chatLoadTimeout  = time.Minute
	chatLoadRetry    = 10 * time.Second
)

// kickerSet is one handler's apps' kickers.
type kickerSet struct{ apps map[int64]*xmppKicker }

// newChatStreams follows st's events until close.
func newChatStreams(st store.Store, logger *zap.Logger) *chatStreams {
	c := &chatStreams{
		st: st, logger: logger, now: time.Now,
		turns:     make(chan struct{}, maxKicksInFlight),
		tokens:    map[store.TokenHash]chatLogin{},
		passwords: map[chatUser][sha256.Size]byte{},
		loaded:    make(chan struct{}),
		done:      make(chan struct{}),
	}
	c.unsubscribe = st.Subscribe(c.onEvent)
	return c
}

// close stops following the store's events.
func (c *chatStreams) close() {
	c.closeOnce.Do(func() {
		c.unsubscribe()
		close(c.done)
	})
}

// addKickers registers a running handler's kickers; the returned func
// removes them.
func (c *chatStreams) addKickers(k map[int64]*xmppKicker) (remove func()) {
	set := &kickerSet{apps: k}
	c.mu.Lock()
	c.kickers = append(c.kickers, set)
	c.mu.Unlock()
	first := false
	c.loadOnce.Do(func() {
		first = true
		go c.load()
	})
	if !first {
		// Logins of these apps loaded before they had a kicker were left
		// for now: their sessions may have ended while the node was down.
		go func() {
			select {
			case <-c.loaded:
				c.recheckApps(func(appID int64) bool { return k[appID] != nil })
			case <-c.done:
			}
		}()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			c.kickers = slices.DeleteFunc(c.kickers, func(s *kickerSet) bool { return s == set })
			c.mu.Unlock()
		})
	}
}

// kickerOf is the app's kicker, or nil. c.mu must be held.
func (c *chatStreams) kickerOf(appID int64) *xmppKicker {
	for i := len(c.kickers) - 1; i >= 0; i-- {
		if k := c.kickers[i].apps[appID]; k != nil {
			return k
		}
	}
	return nil
}

// load adds the chat logins kept in the store (seen before a restart, or
// by other nodes of a fleet) to those remembered, then ends the streams of
// those whose session ended meanwhile. A failed load is tried again.
func (c *chatStreams) load() {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), chatLoadTimeout)
		logins, err := c.st.ListChatLogins(ctx)
		cancel()
		if err == nil {
			c.mu.Lock()
			for _, l := range logins {
				u := chatUser{l.AppID, l.UserID}
				if l.PasswordDigest != ([sha256.Size]byte{}) {
					if _, ok := c.passwords[u]; !ok && len(c.passwords) < maxChatLogins {
						c.passwords[u] = l.PasswordDigest
					}
				} else if _, ok := c.tokens[l.TokenHash]; !ok && len(c.tokens) < maxChatLogins {
					c.tokens[l.TokenHash] = chatLogin{user: u, until: l.ExpiresAt}
				}
			}
			c.mu.Unlock()
			close(c.loaded)
			c.recheck()
			return
		}
		c.logger.Warn("loading the chat logins kept in the store; trying again", zap.Error(err))
		select {
		case <-c.done:
			return
		case <-time.After(chatLoadRetry):
		}
	}
}

// tokenLogin remembers that an XMPP server accepted sess's token as the
// chat password of its user, if the app's streams are to be ended. A new
// login is kept in the store before the XMPP server hears yes, so a
// restart right after does not forget it.
func (c *chatStreams) tokenLogin(sess store.Session) {
	u := chatUser{sess.AppID, sess.UserID}
	c.mu.Lock()
	if u.userID == 0 || c.kickerOf(u.appID) == nil {
		c.mu.Unlock()
		return
	}
	old, known := c.tokens[sess.TokenHash]
	if !known && len(c.tokens) >= maxChatLogins {
		c.pruneLocked()
	}
	c.tokens[sess.TokenHash] = chatLogin{user: u, until: sess.MaxExpiresAt}
	c.mu.Unlock()
	if known && old.user == u {
		return // a reconnect: stored already
	}
	c.keep(store.ChatLogin{TokenHash: sess.TokenHash, AppID: u.appID, UserID: u.userID, ExpiresAt: sess.MaxExpiresAt},
		c.tokenRemembered(sess.TokenHash))
}

// tokenRemembered and passwordRemembered report, called with c.mu held,
// whether a login is still remembered.
func (c *chatStreams) tokenRemembered(h store.TokenHash) func() bool {
	return func() bool { _, ok := c.tokens[h]; return ok }
}

func (c *chatStreams) passwordRemembered(u chatUser) func() bool {
	return func() bool { _, ok := c.passwords[u]; return ok }
}

// keep stores l durably. A login that remembered says was forgotten while
// it was written (its delete may have run first) is deleted again.
func (c *chatStreams) keep(l store.ChatLogin, remembered func() bool) {
	lock := &c.storeLocks[l.TokenHash[0]&63]
	lock.Lock()
	defer lock.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), chatStoreTimeout)
	defer cancel()
	if err := c.st.PutChatLogin(ctx, l); err != nil {
		c.logger.Warn("could not keep a chat login in the store; a restart will forget it",
			zap.Int64("app_id", l.AppID), zap.Int64("user_id", l.UserID), zap.Error(err))
		return
	}
	c.mu.Lock()
	still := remembered()
	c.mu.Unlock()
	if !still {
		_ = c.st.DeleteChatLogin(ctx, l.TokenHash)
	}
}

// dropStored deletes the stored chat logins of hashes, off the caller's
// path (a missing one is no error: another node may have deleted it).
func (c *chatStreams) dropStored(hashes ...store.TokenHash) {
	if len(hashes) > 0 {
		go func() {
			for _, h := range hashes {
				c.drop(h, c.tokenRemembered(h))
			}
		}()
	}
}

// dropPasswords is dropStored for the password logins of users.
func (c *chatStreams) dropPasswords(users ...chatUser) {
	if len(users) > 0 {
		go func() {
			for _, u := range users {
				c.drop(passwordLoginKey(u), c.passwordRemembered(u))
			}
		}()
	}
}

// drop deletes the stored chat login h unless remembered says it logged
// in again.
func (c *chatStreams) drop(h store.TokenHash, remembered func() bool) {
	lock := &c.storeLocks[h[0]&63]
	lock.Lock()
	defer lock.Unlock()
	c.mu.Lock()
	again := remembered()
	c.mu.Unlock()
	if again {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), chatStoreTimeout)
	defer cancel()
	if err := c.st.DeleteChatLogin(ctx, h); err != nil {
		c.logger.Warn("could not delete a chat login from the store; the next restart checks it again", zap.Error(err))
	}
}

// pruneLocked forgets the chat logins whose session has passed its
// absolute lifetime and, if that is not enough, half of the others.
func (c *chatStreams) pruneLocked() {
	now := c.now()
	for h, l := range c.tokens {
		if now.After(l.until) {
			delete(c.tokens, h)
		}
	}
	for h := range c.tokens {
		if len(c.tokens) < maxChatLogins/2 {
			break
		}
		delete(c.tokens, h)
	}
	c.logger.Warn("chat logins forgotten: more than the bound are remembered; their XMPP streams will outlive their sessions",
		zap.Int("bound", maxChatLogins))
}

// passwordLogin remembers that an XMPP server accepted u's password.
// A new or changed one is kept in the store, as tokenLogin does, for
// passwordLoginLife.
func (c *chatStreams) passwordLogin(u store.User) {
	key := chatUser{u.AppID, u.ID}
	digest := sha256.Sum256([]byte(u.PasswordHash))
	c.mu.Lock()
	if c.kickerOf(key.appID) == nil {
		c.mu.Unlock()
		return
	}
	old, known := c.passwords[key]
	if !known && len(c.passwords) >= maxChatLogins {
		clear(c.passwords)
	}
	c.passwords[key] = digest
	c.mu.Unlock()
	if known && old == digest {
		return // a reconnect: stored already
	}
	c.keep(store.ChatLogin{TokenHash: passwordLoginKey(key), AppID: key.appID, UserID: key.userID,
		PasswordDigest: digest, ExpiresAt: c.now().Add(passwordLoginLife)}, c.passwordRemembered(key))
}

// passwordLoginLife is how long a stored password login is kept after the
// login: past it, a restarted node no longer knows the stream.
const passwordLoginLife = 365 * 24 * time.Hour

// passwordLoginKey is the store key of u's password login: one per user,
// apart from every token hash (a SHA-256 of another input).
func passwordLoginKey(u chatUser) store.TokenHash {
	b := []byte("cubeauth chat password login\x00")
	b = binary.BigEndian.AppendUint64(b, uint64(u.appID))
	b = binary.BigEndian.AppendUint64(b, uint64(u.userID))
	return store.TokenHash(sha256.Sum256(b))
}

// onEvent ends the streams of the users whose chat login the event ended.
// It must not block: kicks and store reads run apart.
func (c *chatStreams) onEvent(ev store.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch ev.Kind {
	case store.EventSessionDeleted, store.EventSessionChanged:
		// A rebound session (logout) no longer belongs to the user it
		// logged in as, even though the token lives on.
		if l, ok := c.tokens[ev.TokenHash]; ok && (ev.Kind == store.EventSessionDeleted || ev.UserID != l.user.userID) {
			delete(c.tokens, ev.TokenHash)
			c.dropStored(ev.TokenHash)
			c.kickLocked(l.user, "session ended")
		}
	case store.EventUserDeleted, store.EventUserSessionsDeleted:
		// The node that logged the user in to chat may be another one, or
		// may have restarted: kick whether or not a login is remembered.
		u := chatUser{ev.AppID, ev.UserID}
		c.forgetLocked(func(l chatUser) bool { return l == u })
		c.kickLocked(u, "sessions revoked")
	case store.EventUserChanged:
		u := chatUser{ev.AppID, ev.UserID}
		if digest, ok := c.passwords[u]; ok {
			go c.recheckPassword(u, digest)
		}
	case store.EventAppDeleted:
		users := c.forgetLocked(func(l chatUser) bool { return l.appID == ev.AppID })
		for u := range users {
			c.kickLocked(u, "app deleted")
		}
	case store.EventReset:
		go c.recheck()
	}
}

// forgetLocked drops the chat logins of the users match picks, here and
// in the store, and returns those users.
func (c *chatStreams) forgetLocked(match func(chatUser) bool) map[chatUser]bool {
	users := map[chatUser]bool{}
	var hashes []store.TokenHash
	for h, l := range c.tokens {
		if match(l.user) {
			delete(c.tokens, h)
			hashes = append(hashes, h)
			users[l.user] = true
		}
	}
	c.dropStored(hashes...)
	var passwords []chatUser
	for u := range c.passwords {
		if match(u) {
			delete(c.passwords, u)
			passwords = append(passwords, u)
			users[u] = true
		}
	}
	c.dropPasswords(passwords...)
	return users
}

// recheckPassword ends the password login's streams when the user's
// password hash changed or the user is gone. (A hash upgraded at login
// also ends them; the SDK then logs in again with the same password.)
func (c *chatStreams) recheckPassword(u chatUser, digest [sha256.Size]byte) {
	user, err := c.st.GetUser(context.Background(), u.appID, u.userID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return
	}
	if err == nil && sha256.Sum256([]byte(user.PasswordHash)) == digest {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.passwords[u] == digest {
		delete(c.passwords, u)
		c.dropPasswords(u)
		c.kickLocked(u, "password changed")
	}
}

// recheck ends the streams of the chat logins whose session the store no
// longer has: revocations may have been missed.
func (c *chatStreams) recheck() { c.recheckApps(func(int64) bool { return true }) }

// recheckApps is recheck for the logins of the apps in picks. (A session
// that idled out is gone too: after a restart or missed events its
// streams end like those of a logout.)
func (c *chatStreams) recheckApps(picks func(appID int64) bool) {
	c.mu.Lock()
	logins := make(map[store.TokenHash]chatLogin, len(c.tokens))
	for h, l := range c.tokens {
		if picks(l.user.appID) {
			logins[h] = l
		}
	}
	passwords := make(map[chatUser][sha256.Size]byte, len(c.passwords))
	for u, d := range c.passwords {
		if picks(u.appID) {
			passwords[u] = d
		}
	}
	c.mu.Unlock()
	for h, l := range logins {
		sess, err := c.st.GetSession(context.Background(), h)
		if errors.Is(err, store.ErrNotFound) || (err == nil && sess.UserID != l.user.userID) {
			c.mu.Lock()
			// Only the login looked at: the token may have logged in again
			// meanwhile. An app whose handler has not started yet is
			// rechecked when it starts (addKickers).
			if cur, ok := c.tokens[h]; ok && cur == l && c.kickerOf(l.user.appID) != nil {
				delete(c.tokens, h)
				c.dropStored(h)
				c.kickLocked(l.user, "session ended")
			}
			c.mu.Unlock()
		}
	}
	for u, d := range passwords {
		c.recheckPassword(u, d)
	}
}

// kickLocked asks u's app's XMPP server, off the caller's path, to end u's
// streams. c.mu must be held.
func (c *chatStreams) kickLocked(u chatUser, why string) {
	k := c.kickerOf(u.appID)
	if k == nil {
		return
	}
	go func() {
		c.turns <- struct{}{}
		defer func() { <-c.turns }()
		n, err := k.kick(context.Background(), u.appID, u.userID)
		fields := []zap.Field{zap.Int64("app_id", u.appID), zap.Int64("user_id", u.userID), zap.String("why", why)}
		if err != nil {
			c.logger.Warn("could not end the user's XMPP streams", append(fields, zap.Error(err))...)
			return
		}
		c.logger.Info("ended the user's XMPP streams", append(fields, zap.Int("streams", n))...)
	}()
}

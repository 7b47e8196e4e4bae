package authcore

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/cubeauth/cubeauth/store"
)

// Chat logins with the user's password. ConnectyCube's chat accepts, as the
// XMPP password, the user's password as well as a session token
// (chat.connect({userId, password})), and an XMPP server asks cubeauth
// which it is. The password is checked like POST /session's (the same
// hasher, the same failure limits); a successful check is remembered
// briefly, so that a reconnect storm (every client of a chat server coming
// back at once) costs store reads, not argon2id hashes.

// chatCheckTTL is how long a successful check is remembered. A password
// change ends it at once (the remembered check names the hash it passed).
const chatCheckTTL = time.Minute

// maxChatChecks bounds the remembered checks. Only correct passwords are
// remembered, so a flood cannot fill it; at the bound the oldest goes.
const maxChatChecks = 100_000

// CheckUserPassword returns the user userID of app appID when password is
// its password, and ErrBadCredentials otherwise (an unknown app or user
// costs a dummy comparison, like a wrong password).
//
// The XMPP server asks for all its users and does not say from where they
// connect, so the failure limits count its checks as one client per app:
// wrong chat passwords of an app are bounded together (and per account),
// whatever the attacker's address.
func (s *Service) CheckUserPassword(ctx context.Context, appID, userID int64, password string) (store.User, error) {
	ip := "xmpp:" + strconv.FormatInt(appID, 10)
	if password == "" {
		return store.User{}, invalid("password", "cannot be blank")
	}
	if err := s.limits.beforeLookup(ip); err != nil {
		return store.User{}, err
	}
	if tooLong(password, maxPassword) || appID <= 0 || userID <= 0 {
		s.limits.failed("", ip)
		return store.User{}, ErrBadCredentials
	}
	u, err := s.store.GetUser(ctx, appID, userID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if s.hasher.saturated() {
			return u, errTooManyLogins()
		}
		if err := s.hasher.VerifyNobody(ctx, password); err != nil {
			return u, err
		}
		s.limits.failed("", ip)
		return u, ErrBadCredentials
	case err != nil:
		return u, storeErr(err, nil)
	}
	key := s.chatChecks.key(appID, userID, password)
	if s.chatChecks.passed(key, u.PasswordHash, s.now()) {
		return u, nil
	}
	if s.hasher.saturated() {
		return u, errTooManyLogins()
	}
	u, _, err = s.signInAs(ctx, u, password, ip)
	if err == nil {
		s.chatChecks.remember(key, u.PasswordHash, s.now().Add(chatCheckTTL))
	}
	return u, err
}

// chatChecks remembers successful password checks by an HMAC of app, user
// and password under a key made at start: what it holds is useless outside
// the process.
type chatChecks struct {
	secret []byte
	mu     sync.Mutex
	byKey  map[[32]byte]chatCheck
	order  [][32]byte // insertion order, for eviction at the bound
}

type chatCheck struct {
	passwordHash string
	expires      time.Time
}

func newChatChecks() *chatChecks {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret) // crypto/rand.Read never fails (Go 1.24)
	return &chatChecks{secret: secret, byKey: map[[32]byte]chatCheck{}}
}

func (c *chatChecks) key(appID, userID int64, password string) [32]byte {
	m := hmac.New(sha256.New, c.secret)
	var ids [16]byte
	binary.BigEndian.PutUint64(ids[:8], uint64(appID))
	binary.BigEndian.PutUint64(ids[8:], uint64(userID))
	m.Write(ids[:])
	m.Write([]byte(password))
	var k [32]byte
	m.Sum(k[:0])
	return k
}

// passed reports whether key passed a check, against the password hash the
// user still has, that has not expired.
func (c *chatChecks) passed(key [32]byte, passwordHash string, now time.Time) bool {
	c.mu.Lock()
	e, ok := c.byKey[key]
	c.mu.Unlock()
	return ok && now.Before(e.expires) && passwordHash != "" &&
		subtle.ConstantTimeCompare([]byte(e.passwordHash), []byte(passwordHash)) == 1
}

func (c *chatChecks) remember(key [32]byte, passwordHash string, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[key]; !ok {
		for len(c.order) >= maxChatChecks {
			delete(c.byKey, c.order[0])
			c.order = c.order[1:]
		}
		c.order = append(c.order, key)
	}
	c.byKey[key] = chatCheck{passwordHash: passwordHash, expires: expires}
}

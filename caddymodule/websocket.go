package caddymodule

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/cubeauth/cubeauth/authcore"
	"github.com/cubeauth/cubeauth/store"
)

// upgradeUserIDParam is the query parameter with which a WebSocket client
// says whose connection it opens (the SDKs' chat URLs carry it).
const upgradeUserIDParam = "user_id"

// Refusals of an upgrade's query, 400 in ConnectyCube's shape.
var (
	errMalformedUpgradeQuery = fmt.Errorf("%w: the query of a WebSocket upgrade is malformed", authcore.ErrBadParams)
	errAmbiguousUserID       = fmt.Errorf("%w: user_id must be given once, as a positive integer", authcore.ErrBadParams)
)

// checkUpgradeUserID refuses an upgrade whose user_id is not exactly the
// session's user: given more than once (user_id=2&user_id=1 would pass a
// check of the first and reach a backend that reads the last), not a
// canonical positive integer, or another user's (ErrForbidden). An upgrade
// without user_id passes.
func checkUpgradeUserID(q url.Values, id authcore.Identity) error {
	vals, ok := q[upgradeUserIDParam]
	if !ok {
		return nil
	}
	if len(vals) != 1 || !canonicalID(vals[0]) {
		return errAmbiguousUserID
	}
	if vals[0] != strconv.FormatInt(id.UserID, 10) {
		return authcore.ErrForbidden
	}
	return nil
}

// canonicalID reports whether s is a positive decimal integer without sign
// or leading zeros that fits an int64.
func canonicalID(s string) bool {
	if s == "" || s[0] == '0' {
		return false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return err == nil && n > 0 && strconv.FormatInt(n, 10) == s
}

// socketRegistry holds the WebSocket connections cubeauth let through over
// one store, so that ending a session also closes its open connections: a
// revoked token is then not only refused at the next upgrade but cut off at
// once. It lives in the store's engine, so connections opened before a
// reload are still watched after it.
type socketRegistry struct {
	st          store.Store
	unsubscribe func()

	mu    sync.Mutex
	conns map[*trackedConn]authcore.Identity
}

// newSocketRegistry follows st's events until close.
func newSocketRegistry(st store.Store) *socketRegistry {
	r := &socketRegistry{st: st, conns: map[*trackedConn]authcore.Identity{}}
	r.unsubscribe = st.Subscribe(r.onEvent)
	return r
}

// close stops following the store's events.
func (r *socketRegistry) close() { r.unsubscribe() }

// onEvent closes the connections whose session the event ended.
func (r *socketRegistry) onEvent(ev store.Event) {
	var match func(id authcore.Identity) bool
	switch ev.Kind {
	case store.EventSessionDeleted, store.EventSessionChanged:
		match = func(id authcore.Identity) bool { return id.TokenHash == ev.TokenHash }
	case store.EventUserDeleted, store.EventUserSessionsDeleted:
		match = func(id authcore.Identity) bool { return id.AppID == ev.AppID && id.UserID == ev.UserID }
	case store.EventAppDeleted:
		match = func(id authcore.Identity) bool { return id.AppID == ev.AppID }
	case store.EventReset:
		// Revocations may have been missed: ask the store about each one,
		// off the event path (subscribers must not block).
		go r.recheck()
		return
	default:
		return
	}
	r.closeWhere(match)
}

func (r *socketRegistry) closeWhere(match func(authcore.Identity) bool) {
	r.mu.Lock()
	var doomed []*trackedConn
	for c, id := range r.conns {
		if match(id) {
			doomed = append(doomed, c)
		}
	}
	r.mu.Unlock()
	for _, c := range doomed {
		_ = c.Close()
	}
}

// recheck closes the connections whose session the store no longer has.
func (r *socketRegistry) recheck() {
	r.mu.Lock()
	ids := make(map[*trackedConn]authcore.Identity, len(r.conns))
	for c, id := range r.conns {
		ids[c] = id
	}
	r.mu.Unlock()
	for c, id := range ids {
		if _, err := r.st.GetSession(context.Background(), id.TokenHash); errors.Is(err, store.ErrNotFound) {
			_ = c.Close()
		}
	}
}

func (r *socketRegistry) add(c *trackedConn, id authcore.Identity) {
	r.mu.Lock()
	r.conns[c] = id
	r.mu.Unlock()
}

func (r *socketRegistry) remove(c *trackedConn) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
}

// hijackTracker hands the next handler (reverse_proxy) a ResponseWriter
// whose hijacked connection is registered under the session's identity.
type hijackTracker struct {
	*caddyhttp.ResponseWriterWrapper
	sockets *socketRegistry
	id      authcore.Identity
}

// Hijack takes over the connection as usual and tracks it until it closes.
func (w *hijackTracker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return conn, brw, err
	}
	tc := &trackedConn{Conn: conn, sockets: w.sockets}
	w.sockets.add(tc, w.id)
	return tc, brw, nil
}

// trackedConn leaves the registry when it closes, by either side.
type trackedConn struct {
	net.Conn
	sockets *socketRegistry
	once    sync.Once
}

// Close closes the connection and forgets it.
func (c *trackedConn) Close() error {
	c.once.Do(func() { c.sockets.remove(c) })
	return c.Conn.Close()
}

package postgres

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cubeauth/cubeauth/store"
)

// Event kinds as the event log spells them. Names, not store.EventKind's
// numbers, so that the log means the same to every version of cubeauth.
var kindNames = map[store.EventKind]string{
	store.EventSessionDeleted:      "session_deleted",
	store.EventSessionChanged:      "session_changed",
	store.EventUserChanged:         "user_changed",
	store.EventUserDeleted:         "user_deleted",
	store.EventUserSessionsDeleted: "user_sessions_deleted",
	store.EventAppChanged:          "app_changed",
	store.EventAppDeleted:          "app_deleted",
}

func kindByName(name string) (store.EventKind, bool) {
	for k, n := range kindNames {
		if n == name {
			return k, true
		}
	}
	return 0, false
}

// notification is the NOTIFY payload: small, and enough to tell from psql
// what happened. Receivers use only Node; the log row is what they apply.
type notification struct {
	Node string `json:"node"`
	Kind string `json:"kind"`
	App  int64  `json:"app"`
	User int64  `json:"user,omitempty"`
	Hash string `json:"hash,omitempty"`
}

// recordEvent writes ev to the event log and notifies the other nodes, in
// tx: the change, its log row and its notification commit together or not
// at all. PostgreSQL delivers the notification only at commit.
func (s *Store) recordEvent(ctx context.Context, tx pgx.Tx, ev store.Event) error {
	var hash []byte
	n := notification{Node: s.node, Kind: kindNames[ev.Kind], App: ev.AppID, User: ev.UserID}
	if ev.TokenHash != (store.TokenHash{}) {
		hash = ev.TokenHash[:]
		n.Hash = hex.EncodeToString(hash)
	}
	payload, err := json.Marshal(n)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `WITH e AS (
			INSERT INTO cubeauth_events (node, kind, app_id, user_id, token_hash) VALUES ($1, $2, $3, $4, $5)
			RETURNING id
		) SELECT pg_notify($6, $7) FROM e`,
		s.node, n.Kind, ev.AppID, ev.UserID, hash, s.channel, string(payload))
	return err
}

// announced runs change in a transaction that also records *ev for the
// other nodes (recordEvent), and tells this Store's subscribers once it has
// committed. change may fill in ev, such as the app of a row it changed.
func (s *Store) announced(ctx context.Context, ev *store.Event, change func(tx pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := change(tx); err != nil {
			return err
		}
		return s.recordEvent(ctx, tx, *ev)
	})
	if err != nil {
		return err
	}
	s.subscribers.Publish(*ev)
	return nil
}

// Subscribe registers fn for every change that caches must hear of: this
// Store's own changes, delivered synchronously when they commit, and other
// nodes' changes, delivered from the listener goroutine. After the listener
// lost its connection fn receives store.EventReset. fn must not block. The
// returned func unsubscribes; calling it again does nothing.
func (s *Store) Subscribe(fn func(store.Event)) (unsubscribe func()) {
	return s.subscribers.Add(fn)
}

// reader delivers the other nodes' rows of the event log exactly once. It
// belongs to the listener goroutine.
type reader struct {
	// since is the oldest transaction ID that was still running at the
	// previous read: every transaction below it had finished, so its rows
	// were visible then. Each read starts there.
	since int64
	// seen holds the rows delivered at or above since, by ID, with their
	// transaction IDs; reads overlap, and a row must not be delivered twice.
	seen map[int64]int64
}

// connectListener opens the listener's connection, subscribes to the
// channel and returns where the first read starts: at the oldest
// transaction running now, after LISTEN, so that no change is missed
// between the two.
func (s *Store) connectListener(ctx context.Context) (*pgx.Conn, int64, error) {
	conn, err := pgx.ConnectConfig(ctx, s.listenerConfig)
	if err != nil {
		return nil, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.QueryTimeout)
	defer cancel()
	since, err := func() (int64, error) {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
			return 0, err
		}
		var since int64
		err := conn.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint`).Scan(&since)
		return since, err
	}()
	if err != nil {
		closeQuietly(conn)
		return nil, 0, err
	}
	return conn, since, nil
}

// closeQuietly closes conn without waiting long on a dead network.
func closeQuietly(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}

// listen runs the listener until ctx ends: it waits for notifications,
// reads the event log when one comes from another node and every
// ReconcileInterval regardless, and when the connection fails it
// reconnects with backoff and tells subscribers to drop their caches.
func (s *Store) listen(ctx context.Context, conn *pgx.Conn, since int64) {
	defer s.done.Done()
	r := &reader{since: since, seen: map[int64]int64{}}
	for {
		err := s.serve(ctx, conn, r)
		closeQuietly(conn)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("lost the listener connection; reconnecting", "location", s.location, "error", err)
		backoff := 50 * time.Millisecond
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			conn, since, err = s.connectListener(ctx)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
			backoff = min(2*backoff, 2*time.Second)
			s.log.Debug("listener reconnect failed", "error", err, "retry_in", backoff)
		}
		r = &reader{since: since, seen: map[int64]int64{}}
		s.log.Info("listener reconnected; caches reset", "location", s.location)
		// What happened while the connection was down is unknown: every
		// cached value may be stale.
		s.subscribers.Publish(store.Event{Kind: store.EventReset})
	}
}

// serve waits for notifications on conn and reads the event log until conn
// fails or ctx ends.
func (s *Store) serve(ctx context.Context, conn *pgx.Conn, r *reader) error {
	nextRead := time.Now().Add(s.opts.ReconcileInterval)
	for {
		waitCtx, cancel := context.WithDeadline(ctx, nextRead)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err == nil:
			if s.ownNotification(n) {
				continue
			}
			// Several notifications may have queued up: one read serves
			// them all.
			drainNotifications(conn)
		case pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded):
			nextRead = time.Now().Add(s.opts.ReconcileInterval)
		default:
			return err
		}
		if err := s.readEvents(ctx, conn, r); err != nil {
			return err
		}
	}
}

// ownNotification reports whether n announces a change of this Store,
// which its subscribers heard of at commit.
func (s *Store) ownNotification(n *pgconn.Notification) bool {
	var p notification
	return json.Unmarshal([]byte(n.Payload), &p) == nil && p.Node == s.node
}

// drainNotifications discards the notifications conn has already received.
func drainNotifications(conn *pgx.Conn) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for {
		if n, _ := conn.WaitForNotification(done); n == nil {
			return
		}
	}
}

// readEvents delivers the rows of the log that other nodes wrote since the
// previous read.
func (s *Store) readEvents(ctx context.Context, conn *pgx.Conn, r *reader) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.QueryTimeout)
	defer cancel()
	// The oldest running transaction is read first, in its own snapshot:
	// whatever finished before it is visible to the query after it.
	var xmin int64
	if err := conn.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint`).Scan(&xmin); err != nil {
		return err
	}
	rows, err := conn.Query(ctx, `SELECT id, txid, kind, app_id, user_id, token_hash FROM cubeauth_events
		WHERE txid >= $1 AND node <> $2 ORDER BY id`, r.since, s.node)
	if err != nil {
		return err
	}
	type row struct {
		id, txid, appID, userID int64
		kind                    string
		hash                    []byte
	}
	found, err := pgx.CollectRows(rows, func(cr pgx.CollectableRow) (row, error) {
		var e row
		err := cr.Scan(&e.id, &e.txid, &e.kind, &e.appID, &e.userID, &e.hash)
		return e, err
	})
	if err != nil {
		return err
	}
	for _, e := range found {
		if _, ok := r.seen[e.id]; ok {
			continue
		}
		r.seen[e.id] = e.txid
		kind, ok := kindByName(e.kind)
		if !ok {
			// A newer version's kind: drop everything rather than miss it.
			s.subscribers.Publish(store.Event{Kind: store.EventReset})
			continue
		}
		ev := store.Event{Kind: kind, AppID: e.appID, UserID: e.userID}
		copy(ev.TokenHash[:], e.hash)
		s.subscribers.Publish(ev)
	}
	r.since = xmin
	for id, txid := range r.seen {
		if txid < xmin {
			delete(r.seen, id)
		}
	}
	return nil
}

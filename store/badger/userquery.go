package badger

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/cubeauth/cubeauth/store"
)

// Query indexes. Every queryable field but the ID has ordered entries
//
//	ux/<app><field code><value><user>
//
// with an empty value: text fields folded and followed by a 0 byte (one
// entry per tag of user_tags), time fields as 8 bytes that sort in time
// order. ListUsers reads the entries of one condition to find its
// candidates, and checks every condition on the users it then reads.

// fieldCodes are the one-byte names of the indexed fields in keys. Never
// change one: stored keys carry them.
var fieldCodes = map[store.UserField]byte{
	store.FieldLogin: 'l', store.FieldEmail: 'e', store.FieldFullName: 'n', store.FieldPhone: 'p',
	store.FieldExternalID: 'x', store.FieldFacebookID: 'f', store.FieldTwitterID: 't', store.FieldTags: 'g',
	store.FieldCreatedAt: 'c', store.FieldUpdatedAt: 'u', store.FieldLastRequestAt: 'r',
}

// queryIndexVersion is what keyQueryIndex holds once every user's query
// entries are written; Open writes them for stores made before they existed.
const queryIndexVersion = "1"

func fieldPrefix(appID int64, f store.UserField) []byte {
	return append(key(prefixQuery, []int64{appID}, ""), fieldCodes[f])
}

// textEntryPrefix is the start of the entries of f equal to v (whole
// when exact) or starting with it.
func textEntryPrefix(appID int64, f store.UserField, v string, exact bool) []byte {
	k := append(fieldPrefix(appID, f), store.FoldText(v)...)
	if exact {
		k = append(k, 0)
	}
	return k
}

// timeBytes encodes t so that byte order is time order (the sign bit
// flipped, as for any signed big-endian integer).
func timeBytes(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano())^(1<<63))
}

// queryEntries returns the keys of u's query index entries.
func queryEntries(u *store.User) [][]byte {
	var keys [][]byte
	for f := range fieldCodes {
		switch f.Kind() {
		case store.KindText:
			for _, v := range store.TextValues(u, f) {
				keys = append(keys, binary.BigEndian.AppendUint64(textEntryPrefix(u.AppID, f, v, true), uint64(u.ID)))
			}
		case store.KindTime:
			if t := store.TimeValue(u, f); !t.IsZero() {
				k := append(fieldPrefix(u.AppID, f), timeBytes(t)...)
				keys = append(keys, binary.BigEndian.AppendUint64(k, uint64(u.ID)))
			}
		}
	}
	return keys
}

// ListUsers returns the users matching q, in q's order, and how many match
// in all. A Limit of zero or less means no limit. It reads the candidates
// of q's most selective indexed condition, or every user of the app when
// there is none.
func (s *Store) ListUsers(ctx context.Context, q store.UserQuery) ([]store.User, int, error) {
	const op = "listing users"
	if err := q.Validate(); err != nil {
		return nil, 0, wrap(op, err)
	}
	if err := s.enter(ctx); err != nil {
		return nil, 0, wrap(op, err)
	}
	defer s.leave()
	page := newTopUsers(q)
	err := s.db.View(func(txn *badger.Txn) error {
		now := time.Now()
		consider := func(u *store.User) {
			if !userExpired(u, now) && q.Matches(u) {
				page.add(*u)
			}
		}
		if len(q.Where) == 0 && q.Search == "" && (q.SortBy == "" || q.SortBy == store.FieldID) {
			return pageOfAll(txn, q, page, now)
		}
		ids, indexed, err := candidates(txn, q)
		if err != nil {
			return err
		}
		if !indexed {
			return iteratePrefix(txn, usersKeyPrefix(q.AppID), func(_, v []byte) error {
				var u store.User
				if err := json.Unmarshal(v, &u); err != nil {
					return fmt.Errorf("decoding user: %w", err)
				}
				consider(&u)
				return nil
			})
		}
		for _, id := range ids {
			if err := ctx.Err(); err != nil {
				return err
			}
			u, err := getUser(txn, q.AppID, id, now)
			if errors.Is(err, store.ErrNotFound) {
				continue // an entry of a guest that just expired
			}
			if err != nil {
				return err
			}
			consider(&u)
		}
		return nil
	})
	if err != nil {
		return nil, 0, wrap(op, err)
	}
	return page.result(), page.total, nil
}

// pageOfAll fills page with a page of every user of the app in ID order:
// it counts keys and reads only the page's users, so listing a large app
// costs a key scan, not a decoding of every user.
func pageOfAll(txn *badger.Txn, q store.UserQuery, page *topUsers, now time.Time) error {
	var ids []int64
	opts := badger.DefaultIteratorOptions
	opts.Prefix, opts.PrefetchValues = usersKeyPrefix(q.AppID), false
	it := txn.NewIterator(opts)
	for it.Rewind(); it.Valid(); it.Next() {
		ids = append(ids, lastID(it.Item().Key()))
	}
	it.Close()
	if q.Descending && q.SortBy == store.FieldID {
		slices.Reverse(ids)
	}
	from := min(max(q.Offset, 0), len(ids))
	to := len(ids)
	if q.Limit > 0 {
		to = min(from+q.Limit, len(ids))
	}
	page.total = len(ids)
	for _, id := range ids[from:to] {
		u, err := getUser(txn, q.AppID, id, now)
		if errors.Is(err, store.ErrNotFound) {
			page.total-- // a guest that expired this second
			continue
		}
		if err != nil {
			return err
		}
		page.users = append(page.users, u)
	}
	page.q.Offset = 0 // the page is already cut
	return nil
}

// candidates returns the IDs of the users that may match q, sorted, read
// from the index of q's most selective condition; indexed is false when no
// condition narrows the search.
func candidates(txn *badger.Txn, q store.UserQuery) (ids []int64, indexed bool, err error) {
	c, ok := drivingCondition(q.Where)
	if !ok {
		return nil, false, nil
	}
	switch c.Field.Kind() {
	case store.KindNumber:
		if c.Op == store.OpEq || c.Op == store.OpIn {
			ids = slices.Clone(c.Numbers)
			break
		}
		lo, hi := idBounds(c)
		from := userKey(q.AppID, max(lo, 0))
		for _, k := range keysFrom(txn, usersKeyPrefix(q.AppID), from, nil) {
			id := lastID(k)
			if id > hi {
				break
			}
			ids = append(ids, id)
		}
	case store.KindText:
		for _, v := range c.Text {
			prefix := textEntryPrefix(q.AppID, c.Field, v, c.Op != store.OpPrefix)
			for _, k := range keysFrom(txn, prefix, prefix, nil) {
				ids = append(ids, lastID(k))
			}
		}
	case store.KindTime:
		r := c.Range()
		prefix := fieldPrefix(q.AppID, c.Field)
		from := prefix
		if !r.From.IsZero() {
			from = append(slices.Clone(prefix), timeBytes(r.From)...)
		}
		var to []byte
		if !r.To.IsZero() {
			to = append(slices.Clone(prefix), timeBytes(r.To)...)
		}
		for _, k := range keysFrom(txn, prefix, from, to) {
			ids = append(ids, lastID(k))
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids), true, nil
}

// drivingCondition picks the condition whose index is read: an equality
// (fewest matches), then a prefix, then a range. Exclusions (nin) narrow
// nothing.
func drivingCondition(where []store.UserCondition) (store.UserCondition, bool) {
	rank := func(c store.UserCondition) int {
		switch {
		case c.Op == store.OpNotIn:
			return 0
		case c.Field == store.FieldID && (c.Op == store.OpEq || c.Op == store.OpIn):
			return 6
		case c.Op == store.OpEq || c.Op == store.OpIn:
			if c.Field == store.FieldTags || c.Field.Kind() == store.KindTime {
				return 4
			}
			return 5
		case c.Op == store.OpPrefix:
			return 3
		case c.Field.Kind() == store.KindTime:
			return 2
		}
		return 1 // an ID range
	}
	best, bestRank := store.UserCondition{}, 0
	for _, c := range where {
		if r := rank(c); r > bestRank {
			best, bestRank = c, r
		}
	}
	return best, bestRank > 0
}

// idBounds returns the closed range of IDs an ID comparison accepts.
func idBounds(c store.UserCondition) (lo, hi int64) {
	n := c.Numbers[0]
	switch c.Op {
	case store.OpGt:
		if n == math.MaxInt64 {
			return 1, 0
		}
		return n + 1, math.MaxInt64
	case store.OpGte:
		return n, math.MaxInt64
	case store.OpLt:
		return math.MinInt64, n - 1
	}
	return math.MinInt64, n // OpLte
}

// keysFrom returns copies of the keys with prefix from the first at or
// after from up to, not including, the first at or after to (nil: to the
// end of the prefix).
func keysFrom(txn *badger.Txn, prefix, from, to []byte) [][]byte {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = prefix
	opts.PrefetchValues = false
	it := txn.NewIterator(opts)
	defer it.Close()
	var keys [][]byte
	for it.Seek(from); it.ValidForPrefix(prefix); it.Next() {
		k := it.Item().Key()
		if to != nil && bytes.Compare(k, to) >= 0 {
			break
		}
		keys = append(keys, slices.Clone(k))
	}
	return keys
}

// topUsers keeps the first Offset+Limit matches in q's order, and counts
// every match, in memory proportional to the page rather than the matches.
type topUsers struct {
	q     store.UserQuery
	keep  int // 0: all
	users []store.User
	total int
}

func newTopUsers(q store.UserQuery) *topUsers {
	t := &topUsers{q: q}
	if q.Limit > 0 {
		t.keep = max(q.Offset, 0) + q.Limit
	}
	return t
}

func (t *topUsers) add(u store.User) {
	t.total++
	t.users = append(t.users, u)
	if t.keep > 0 && len(t.users) >= 2*t.keep+64 {
		t.trim()
	}
}

func (t *topUsers) trim() {
	slices.SortFunc(t.users, func(a, b store.User) int { return t.q.CompareUsers(&a, &b) })
	if t.keep > 0 && len(t.users) > t.keep {
		t.users = t.users[:t.keep]
	}
}

// result returns the page: the kept users from Offset on.
func (t *topUsers) result() []store.User {
	t.trim()
	offset := max(t.q.Offset, 0)
	if offset >= len(t.users) {
		return nil
	}
	return slices.Clip(t.users[offset:])
}

// TouchUser sets the user's LastRequestAt to at when the stored one is
// store.LastRequestPrecision or more older, without telling subscribers
// and without waiting for an fsync (a lost touch only makes the time
// older). It returns store.ErrNotFound when the user is gone.
func (s *Store) TouchUser(ctx context.Context, appID, userID int64, at time.Time) error {
	const op = "touching user"
	if err := s.enterWrite(ctx); err != nil {
		return wrap(op, err)
	}
	defer s.leave()
	err := s.update(func(txn *badger.Txn) error {
		u, err := getUser(txn, appID, userID, time.Now())
		if err != nil {
			return err
		}
		if at.Sub(u.LastRequestAt) < store.LastRequestPrecision {
			return nil
		}
		if err := deleteQueryEntries(txn, &u); err != nil {
			return err
		}
		u.LastRequestAt = at
		return putUser(txn, &u)
	})
	return wrap(op, err)
}

// deleteQueryEntries removes u's query index entries.
func deleteQueryEntries(txn *badger.Txn, u *store.User) error {
	for _, k := range queryEntries(u) {
		if err := txn.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// buildQueryIndex writes the query entries of every user of a store made
// before they existed, a batch of users per transaction, and then records
// that it is done. Open calls it before anyone else can write; a crash
// part-way repeats it on the next Open, which only sets the same keys again.
func (s *Store) buildQueryIndex() error {
	done := false
	err := s.db.View(func(txn *badger.Txn) error {
		err := getValue(txn, []byte(keyQueryIndex), func(v []byte) error {
			done = string(v) == queryIndexVersion
			return nil
		})
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		return err
	})
	if err != nil || done {
		return err
	}
	const batch = 500
	from := []byte(prefixUser)
	for full := true; full; {
		var users []store.User
		err := s.db.View(func(txn *badger.Txn) error {
			return iterateFrom(txn, []byte(prefixUser), from, func(k, v []byte) error {
				if len(users) == batch {
					from = slices.Clone(k)
					return errChunkFull
				}
				var u store.User
				if err := json.Unmarshal(v, &u); err != nil {
					return fmt.Errorf("decoding user: %w", err)
				}
				users = append(users, u)
				return nil
			})
		})
		if full = errors.Is(err, errChunkFull); err != nil && !full {
			return err
		}
		err = s.update(func(txn *badger.Txn) error {
			for _, u := range users {
				if err := putUser(txn, &u); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return s.write(func(txn *badger.Txn) error {
		return txn.Set([]byte(keyQueryIndex), []byte(queryIndexVersion))
	})
}

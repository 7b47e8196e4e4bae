package badger

import (
	"context"
	"encoding/binary"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/cubeauth/cubeauth/store"
)

// Chat logins are kept as
//
//	c/<token hash>    app, user and expiry (Unix nanoseconds), 8 big-endian bytes each,
//	                  then the 32-byte password digest
//
// expiring with the session's absolute lifetime, so nothing needs sweeping.
const prefixChatLogin = "c/"

func chatLoginKey(h store.TokenHash) []byte {
	return append([]byte(prefixChatLogin), h[:]...)
}

// PutChatLogin stores l durably, replacing a record of its token hash.
func (s *Store) PutChatLogin(ctx context.Context, l store.ChatLogin) error {
	const op = "storing chat login"
	if err := s.enterWrite(ctx); err != nil {
		return wrap(op, err)
	}
	defer s.leave()
	v := make([]byte, 0, 56)
	v = binary.BigEndian.AppendUint64(v, uint64(l.AppID))
	v = binary.BigEndian.AppendUint64(v, uint64(l.UserID))
	v = binary.BigEndian.AppendUint64(v, uint64(l.ExpiresAt.UnixNano()))
	v = append(v, l.PasswordDigest[:]...)
	e := badger.NewEntry(chatLoginKey(l.TokenHash), v)
	e.ExpiresAt = sessionExpiry(l.ExpiresAt)
	return wrap(op, s.write(func(txn *badger.Txn) error { return txn.SetEntry(e) }))
}

// ListChatLogins returns the unexpired chat logins, by token hash.
func (s *Store) ListChatLogins(ctx context.Context) ([]store.ChatLogin, error) {
	const op = "listing chat logins"
	if err := s.enter(ctx); err != nil {
		return nil, wrap(op, err)
	}
	defer s.leave()
	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	now := time.Now()
	var out []store.ChatLogin
	err := iteratePrefix(txn, []byte(prefixChatLogin), func(k, v []byte) error {
		if len(v) != 56 || len(k) != len(prefixChatLogin)+len(store.TokenHash{}) {
			return nil // not one this version wrote: skipped, not fatal to the rest
		}
		l := store.ChatLogin{
			AppID:     int64(binary.BigEndian.Uint64(v)),
			UserID:    int64(binary.BigEndian.Uint64(v[8:])),
			ExpiresAt: time.Unix(0, int64(binary.BigEndian.Uint64(v[16:]))).UTC(),
		}
		copy(l.TokenHash[:], k[len(prefixChatLogin):])
		copy(l.PasswordDigest[:], v[24:])
		if now.Before(l.ExpiresAt) {
			out = append(out, l)
		}
		return nil
	})
	return out, wrap(op, err)
}

// DeleteChatLogin removes the chat login of h durably.
func (s *Store) DeleteChatLogin(ctx context.Context, h store.TokenHash) error {
	const op = "deleting chat login"
	if err := s.enterWrite(ctx); err != nil {
		return wrap(op, err)
	}
	defer s.leave()
	return wrap(op, s.write(func(txn *badger.Txn) error { return txn.Delete(chatLoginKey(h)) }))
}

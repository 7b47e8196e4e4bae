package badger

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/cubeauth/cubeauth/store"
)

// Apps and users are stored as JSON (store's own tags): they are read far
// less often than sessions and change shape more often. Sessions are read on
// every request that misses the cache, so they use a compact binary form:
//
//	version byte (2)
//	varint ID, AppID, UserID, Timestamp
//	CreatedAt, UpdatedAt, ExpiresAt, MaxExpiresAt: varint Unix seconds, uvarint nanoseconds
//	uvarint length of Nonce, Nonce
//	uvarint length of Login, Login
//
// The token hash is the key and is not repeated in the value. The login is
// the bound user's, copied so that validating a token is one read; UpdateUser
// rewrites it when the user's login changes.
//
// Version 1, written before the login was kept, is the same without the
// login; it is still read (getSession takes the login from the user record)
// and becomes version 2 when the session is next written.
const (
	sessionFormatNoLogin = 1
	sessionFormat        = 2
)

var errCorruptSession = errors.New("corrupt session record")

// encodeSession returns the binary form of s.
func encodeSession(s *store.Session) []byte {
	b := make([]byte, 0, 1+4*binary.MaxVarintLen64+4*(binary.MaxVarintLen64+5)+
		2*binary.MaxVarintLen64+len(s.Nonce)+len(s.Login))
	b = append(b, sessionFormat)
	b = binary.AppendVarint(b, s.ID)
	b = binary.AppendVarint(b, s.AppID)
	b = binary.AppendVarint(b, s.UserID)
	b = binary.AppendVarint(b, s.Timestamp)
	for _, t := range [...]time.Time{s.CreatedAt, s.UpdatedAt, s.ExpiresAt, s.MaxExpiresAt} {
		b = binary.AppendVarint(b, t.Unix())
		b = binary.AppendUvarint(b, uint64(t.Nanosecond()))
	}
	b = binary.AppendUvarint(b, uint64(len(s.Nonce)))
	b = append(b, s.Nonce...)
	b = binary.AppendUvarint(b, uint64(len(s.Login)))
	return append(b, s.Login...)
}

// decodeSession fills s (except TokenHash) from its binary form. hasLogin
// is false for a version 1 record, whose Login is left empty for the caller
// to fill.
func decodeSession(b []byte, s *store.Session) (hasLogin bool, err error) {
	d := decoder{b: b}
	format := d.byte()
	if format != sessionFormat && format != sessionFormatNoLogin {
		return false, errCorruptSession
	}
	s.ID = d.varint()
	s.AppID = d.varint()
	s.UserID = d.varint()
	s.Timestamp = d.varint()
	s.CreatedAt = d.time()
	s.UpdatedAt = d.time()
	s.ExpiresAt = d.time()
	s.MaxExpiresAt = d.time()
	s.Nonce = d.string()
	s.Login = ""
	if format == sessionFormat {
		s.Login = d.string()
	}
	if d.bad || len(d.b) != 0 {
		return false, errCorruptSession
	}
	return format == sessionFormat, nil
}

// decoder reads the session format; a short or malformed input sets bad.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.bad = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) time() time.Time {
	sec := d.varint()
	nsec := d.uvarint()
	if nsec >= uint64(time.Second) {
		d.bad = true
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.bad = true
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// encodeNonce and decodeNonce convert a nonce record: when it stops counting
// as used, in Unix nanoseconds. Badger's TTLs have one-second granularity, so
// the exact end is kept in the value.
func encodeNonce(until time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(until.UnixNano()))
}

func decodeNonce(v []byte) time.Time {
	if len(v) != 8 {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v)))
}

// badgerExpiry converts a deadline to Badger's ExpiresAt: Unix seconds,
// rounded up so that Badger never hides a record before its deadline (the
// store still checks the exact deadline itself). A zero deadline means no
// expiry; a deadline before 1970 expires at once.
func badgerExpiry(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	sec := t.Unix()
	if t.Nanosecond() > 0 {
		sec++
	}
	if sec < 1 {
		return 1
	}
	return uint64(sec)
}

package badger

import (
	"encoding/binary"
	"strings"

	"github.com/cubeauth/cubeauth/store"
)

// Key layout. IDs are big-endian uint64 so that byte order is ID order and a
// prefix scan lists records by ID. Index values are big-endian IDs (login and
// email indexes) or 32-byte token hashes (session indexes).
//
//	a/<app>                      app, JSON
//	u/<app><user>                user, JSON
//	ul/<app><lowercase login>    login index -> user ID
//	ue/<app><lowercase email>    email index -> user ID
//	s/<token hash>               session, binary (values.go)
//	sa/<app><session>            sessions of an app -> token hash
//	su/<app><user><session>      sessions of a user (0: app sessions) -> token hash
//	n/<app><key>                 used nonce -> expiry in Unix nanoseconds
//	r/, ru/                      password resets (passwordresets.go)
//	ux/<app><field><value><user> query indexes (userquery.go), no value
//	m/queryindex                 the version of the query indexes built
//	k/                           assertion signing keys (signingkeys.go)
//	c/                           chat logins of sessions (chatlogins.go)
//	q/users, q/sessions          Badger sequences for user and session IDs
const (
	prefixApp          = "a/"
	prefixUser         = "u/"
	prefixLogin        = "ul/"
	prefixEmail        = "ue/"
	prefixSession      = "s/"
	prefixAppSessions  = "sa/"
	prefixUserSessions = "su/"
	prefixNonce        = "n/"
	prefixReset        = "r/"
	prefixUserResets   = "ru/"
	prefixQuery        = "ux/"
	keyQueryIndex      = "m/queryindex"
	keyUserSequence    = "q/users"
	keySessionSequence = "q/sessions"
)

// key builds prefix followed by each ID as 8 big-endian bytes and then tail.
func key(prefix string, ids []int64, tail string) []byte {
	k := make([]byte, 0, len(prefix)+8*len(ids)+len(tail))
	k = append(k, prefix...)
	for _, id := range ids {
		k = binary.BigEndian.AppendUint64(k, uint64(id))
	}
	return append(k, tail...)
}

func appKey(appID int64) []byte { return key(prefixApp, []int64{appID}, "") }

func userKey(appID, userID int64) []byte { return key(prefixUser, []int64{appID, userID}, "") }

func usersKeyPrefix(appID int64) []byte { return key(prefixUser, []int64{appID}, "") }

func loginKey(appID int64, login string) []byte {
	return key(prefixLogin, []int64{appID}, foldCase(login))
}

func emailKey(appID int64, email string) []byte {
	return key(prefixEmail, []int64{appID}, foldCase(email))
}

func sessionKey(h store.TokenHash) []byte {
	k := make([]byte, 0, len(prefixSession)+len(h))
	return append(append(k, prefixSession...), h[:]...)
}

func appSessionKey(appID, sessionID int64) []byte {
	return key(prefixAppSessions, []int64{appID, sessionID}, "")
}

func userSessionKey(appID, userID, sessionID int64) []byte {
	return key(prefixUserSessions, []int64{appID, userID, sessionID}, "")
}

func nonceKey(appID int64, nonce string) []byte { return key(prefixNonce, []int64{appID}, nonce) }

// lastID returns the ID in the last 8 bytes of a key.
func lastID(k []byte) int64 {
	return int64(binary.BigEndian.Uint64(k[len(k)-8:]))
}

// encodeID and decodeID convert the values of the login and email indexes.
func encodeID(id int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(id)) }

func decodeID(v []byte) int64 {
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

// foldCase is the one case-insensitive form of logins and emails, used in
// index keys and in listing filters alike.
func foldCase(s string) string { return strings.ToLower(s) }

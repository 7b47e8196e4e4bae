package authcore

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
)

// CanonicalString builds the string that legacy clients sign: every
// parameter except "signature", scalars as "key=value", the members of a
// one-level object as one chunk of sorted "key[member]=value" pairs joined
// with "&", and the chunks sorted and joined with "&". Values are raw, not
// URL-encoded. This is exactly what ConnectyCube's SDKs compute.
func CanonicalString(p Params) string {
	chunks := map[string][]string{}
	for k, v := range p {
		if k == "signature" {
			continue
		}
		name, _, _ := strings.Cut(k, "[")
		chunks[name] = append(chunks[name], k+"="+v)
	}
	joined := make([]string, 0, len(chunks))
	for _, pairs := range chunks {
		sort.Strings(pairs)
		joined = append(joined, strings.Join(pairs, "&"))
	}
	sort.Strings(joined)
	return strings.Join(joined, "&")
}

// Sign returns the lowercase hex HMAC of the canonical string of p with the
// given secret: HMAC-SHA1 when sha256 is false, as most legacy SDKs send.
func Sign(p Params, secret string, useSHA256 bool) string {
	return hex.EncodeToString(signatureMAC(p, secret, useSHA256))
}

// VerifySignature reports whether signature is a valid HMAC-SHA1 (40 hex
// characters) or HMAC-SHA256 (64 hex characters) of p's canonical string
// under secret. The comparison takes constant time.
func VerifySignature(p Params, secret, signature string) bool {
	got, err := hex.DecodeString(signature)
	if err != nil || secret == "" {
		return false
	}
	var useSHA256 bool
	switch len(got) {
	case sha1.Size:
	case sha256.Size:
		useSHA256 = true
	default:
		return false
	}
	return hmac.Equal(signatureMAC(p, secret, useSHA256), got)
}

func signatureMAC(p Params, secret string, useSHA256 bool) []byte {
	newHash := sha1.New
	if useSHA256 {
		newHash = sha256.New
	}
	h := hmac.New(newHash, []byte(secret))
	h.Write([]byte(CanonicalString(p)))
	return h.Sum(nil)
}

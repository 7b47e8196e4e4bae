package authcore

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// SigningKeys are the published keys that Firebase ID tokens are signed
// with. The HTTP layer fetches and caches them; authcore only verifies.
type SigningKeys interface {
	// SigningKey returns the RSA public key with this key ID, or nil when
	// no published key has it. An error means the keys cannot be had now.
	SigningKey(ctx context.Context, kid string) (*rsa.PublicKey, error)
}

// FirebaseSkew is the clock skew allowed on a Firebase ID token's times.
const FirebaseSkew = time.Minute

// maxFirebaseToken bounds the token size, so a hostile one costs little.
const maxFirebaseToken = 8 << 10

// FirebaseClaims are the claims of a verified Firebase ID token that
// cubeauth uses.
type FirebaseClaims struct {
	ProjectID     string
	UID           string
	Phone         string
	Email         string
	EmailVerified bool
}

// firebaseToken is a token's header and payload as sent.
type firebaseToken struct {
	header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	payload struct {
		Iss           string   `json:"iss"`
		Aud           audience `json:"aud"`
		Sub           string   `json:"sub"`
		Iat           *float64 `json:"iat"`
		Exp           *float64 `json:"exp"`
		AuthTime      *float64 `json:"auth_time"`
		Phone         string   `json:"phone_number"`
		Email         string   `json:"email"`
		EmailVerified bool     `json:"email_verified"`
	}
}

// audience is a JWT "aud": one string or a list of them.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

// VerifyFirebaseToken verifies a Firebase ID token as Google documents:
// RS256 exactly, signed by the published key its kid names, issuer
// https://securetoken.google.com/<projectID>, audience projectID, a
// non-empty subject (the uid), and exp, iat and auth_time within skew of
// now. ok is false for a token that does not verify; err is set only when
// the keys cannot be had.
func VerifyFirebaseToken(ctx context.Context, token, projectID string, keys SigningKeys, now time.Time) (FirebaseClaims, bool, error) {
	if len(token) > maxFirebaseToken || projectID == "" {
		return FirebaseClaims{}, false, nil
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return FirebaseClaims{}, false, nil
	}
	var t firebaseToken
	if !decodeSegment(parts[0], &t.header) || !decodeSegment(parts[1], &t.payload) {
		return FirebaseClaims{}, false, nil
	}
	// The algorithm is fixed, never taken from the token: no "none", no
	// HS256 keyed with the public key.
	if t.header.Alg != "RS256" || t.header.Kid == "" {
		return FirebaseClaims{}, false, nil
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return FirebaseClaims{}, false, nil
	}
	key, err := keys.SigningKey(ctx, t.header.Kid)
	if err != nil {
		return FirebaseClaims{}, false, err
	}
	if key == nil {
		return FirebaseClaims{}, false, nil
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], sig) != nil {
		return FirebaseClaims{}, false, nil
	}
	p := &t.payload
	at := func(v *float64) time.Time { return time.Unix(int64(*v), 0) }
	switch {
	case p.Iss != "https://securetoken.google.com/"+projectID,
		len(p.Aud) != 1 || p.Aud[0] != projectID,
		p.Sub == "" || len(p.Sub) > 128,
		p.Exp == nil || !now.Before(at(p.Exp).Add(FirebaseSkew)),
		p.Iat == nil || at(p.Iat).After(now.Add(FirebaseSkew)),
		p.AuthTime == nil || at(p.AuthTime).After(now.Add(FirebaseSkew)):
		return FirebaseClaims{}, false, nil
	}
	return FirebaseClaims{ProjectID: projectID, UID: p.Sub, Phone: p.Phone, Email: p.Email, EmailVerified: p.EmailVerified}, true, nil
}

// decodeSegment decodes one base64url JSON segment of a JWT.
func decodeSegment(seg string, dst any) bool {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	return err == nil && json.Unmarshal(b, dst) == nil
}

// firebaseProjectAllowed says whether the app accepts tokens of projectID.
func firebaseProjectAllowed(cfg *FirebaseConfig, projectID string) bool {
	return cfg != nil && projectID != "" && slices.Contains(cfg.ProjectIDs, projectID)
}

package authcore_test

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/authcore"
)

// staticKeys is a published key set held in memory.
type staticKeys map[string]*rsa.PublicKey

func (k staticKeys) SigningKey(_ context.Context, kid string) (*rsa.PublicKey, error) {
	if key, ok := k[kid]; ok {
		return key, nil
	}
	return nil, nil
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// signRS256 makes a JWT of header and claims signed with key.
func signRS256(t testing.TB, key *rsa.PrivateKey, header, claims map[string]any) string {
	t.Helper()
	input := b64(header) + "." + b64(claims)
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestVerifyFirebaseTokenAcceptsOnlyAValidRS256TokenOfTheProject(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	keys := staticKeys{"k1": &key.PublicKey}
	now := time.Unix(1_800_000_000, 0)
	const project = "my-project"
	claims := func(change func(map[string]any)) map[string]any {
		c := map[string]any{
			"iss": "https://securetoken.google.com/" + project, "aud": project, "sub": "uid-1",
			"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(),
			"auth_time": now.Add(-time.Hour).Unix(), "phone_number": "+15550100",
		}
		if change != nil {
			change(c)
		}
		return c
	}
	header := map[string]any{"alg": "RS256", "kid": "k1", "typ": "JWT"}
	good := signRS256(t, key, header, claims(nil))
	hs := b64(map[string]any{"alg": "HS256", "kid": "k1"}) + "." + b64(claims(nil))
	mac := hmac.New(sha256.New, key.PublicKey.N.Bytes())
	mac.Write([]byte(hs))
	cases := []struct {
		name, token string
		ok          bool
	}{
		{"a valid token", good, true},
		{"an expired token", signRS256(t, key, header, claims(func(c map[string]any) { c["exp"] = now.Add(-2 * time.Minute).Unix() })), false},
		{"a token expired within the skew", signRS256(t, key, header, claims(func(c map[string]any) { c["exp"] = now.Add(-30 * time.Second).Unix() })), true},
		{"a token without exp", signRS256(t, key, header, claims(func(c map[string]any) { delete(c, "exp") })), false},
		{"another audience", signRS256(t, key, header, claims(func(c map[string]any) { c["aud"] = "other" })), false},
		{"two audiences", signRS256(t, key, header, claims(func(c map[string]any) { c["aud"] = []string{project, "other"} })), false},
		{"another issuer", signRS256(t, key, header, claims(func(c map[string]any) { c["iss"] = "https://securetoken.google.com/other" })), false},
		{"iat in the future", signRS256(t, key, header, claims(func(c map[string]any) { c["iat"] = now.Add(5 * time.Minute).Unix() })), false},
		{"auth_time in the future", signRS256(t, key, header, claims(func(c map[string]any) { c["auth_time"] = now.Add(5 * time.Minute).Unix() })), false},
		{"no auth_time", signRS256(t, key, header, claims(func(c map[string]any) { delete(c, "auth_time") })), false},
		{"an empty subject", signRS256(t, key, header, claims(func(c map[string]any) { c["sub"] = "" })), false},
		{"an unknown kid", signRS256(t, key, map[string]any{"alg": "RS256", "kid": "k2"}, claims(nil)), false},
		{"no kid", signRS256(t, key, map[string]any{"alg": "RS256"}, claims(nil)), false},
		{"signed by another key", signRS256(t, other, header, claims(nil)), false},
		{"a tampered payload", good[:len(b64(header))+1] + b64(claims(func(c map[string]any) { c["sub"] = "uid-2" })) + good[len(good)-342:], false},
		{"alg none", b64(map[string]any{"alg": "none", "kid": "k1"}) + "." + b64(claims(nil)) + ".", false},
		{"alg HS256 keyed with the public key", hs + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)), false},
		{"not a JWT", "abc", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok, err := authcore.VerifyFirebaseToken(t.Context(), c.token, project, keys, now)
			if err != nil || ok != c.ok {
				t.Fatalf("VerifyFirebaseToken = %v, %v; want ok %v", ok, err, c.ok)
			}
			if ok && (got.UID != "uid-1" || got.Phone != "+15550100" || got.ProjectID != project) {
				t.Fatalf("claims = %+v", got)
			}
		})
	}
	t.Run("a valid token of another project than asked", func(t *testing.T) {
		if _, ok, _ := authcore.VerifyFirebaseToken(t.Context(), good, "other", keys, now); ok {
			t.Fatal("accepted")
		}
	})
	t.Run("keys that cannot be had are an error, not a refusal", func(t *testing.T) {
		_, ok, err := authcore.VerifyFirebaseToken(t.Context(), good, project, failingKeys{}, now)
		if ok || err == nil {
			t.Fatalf("= %v, %v; want an error", ok, err)
		}
	})
}

type failingKeys struct{}

func (failingKeys) SigningKey(context.Context, string) (*rsa.PublicKey, error) {
	return nil, errors.New("key server down")
}

// BenchmarkVerifyFirebaseToken is the cost of one verification with the
// key in hand (a 2048-bit RS256 signature and the claims).
func BenchmarkVerifyFirebaseToken(b *testing.B) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	now := time.Now()
	token := signRS256(b, key, map[string]any{"alg": "RS256", "kid": "k1"}, map[string]any{
		"iss": "https://securetoken.google.com/p", "aud": "p", "sub": "u",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "auth_time": now.Unix(),
	})
	keys := staticKeys{"k1": &key.PublicKey}
	for b.Loop() {
		if _, ok, _ := authcore.VerifyFirebaseToken(context.Background(), token, "p", keys, now); !ok {
			b.Fatal("refused")
		}
	}
}

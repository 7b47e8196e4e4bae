package authcore

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseJSONParams: any body either parses into valid, bounded
// parameters or is refused with ErrBadParams — never a panic.
func FuzzParseJSONParams(f *testing.F) {
	for _, v := range signatureVectors {
		f.Add([]byte(v.body))
	}
	for _, s := range []string{`{}`, `{"a":{"b":{"c":1}}}`, `{"a":[1]}`, `{"a":1,"a":2}`, "{\"a\":\"\xff\"}", `{"application_id":{"x":1}}`, `null`, `{"a":1e999}`, `{"user":{"tag_list":["iphone","apple"]}}`, `{"tag_list":[1,"a,b",null]}`, `{"user":{"login":["a"]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := ParseJSONParams(body)
		if err != nil {
			if !errors.Is(err, ErrBadParams) {
				t.Fatalf("error %v is not ErrBadParams", err)
			}
			return
		}
		checkParams(t, p)
		// Whatever parses must sign deterministically (maps iterate in a
		// different order each time).
		if first, again := CanonicalString(p), CanonicalString(p); first != again {
			t.Fatal("canonical string is not deterministic")
		}
	})
}

// FuzzParseFormParams is the same for form bodies and query strings.
func FuzzParseFormParams(f *testing.F) {
	for _, s := range []string{"application_id=1&auth_key=k&user[login]=a", "a=1&a=2", "%zz", "user[a][b]=1", "a=%ff", "user[tag_list][]=a&user[tag_list][]=b", "user[login][]=a", "tag_list[]=a&tag_list=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		p, err := ParseFormParams(body)
		if err != nil {
			if !errors.Is(err, ErrBadParams) {
				t.Fatalf("error %v is not ErrBadParams", err)
			}
			return
		}
		checkParams(t, p)
	})
}

func checkParams(t *testing.T, p Params) {
	t.Helper()
	if len(p) > maxParams {
		t.Fatalf("%d params, more than %d", len(p), maxParams)
	}
	for k, v := range p {
		if len(k) > maxParamKey || len(v) > maxParamValue || !utf8.ValidString(v) {
			t.Fatalf("param %q=%q breaks a limit", k, v)
		}
	}
}

// FuzzCanonicalString: the canonical string contains every parameter but
// the signature, and verification never accepts a signature for other
// parameters.
func FuzzCanonicalString(f *testing.F) {
	f.Add("application_id", "1", "user[login]", "bob", "secret")
	f.Add("a", "x&y=z", "a[b]", "", "")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, secret string) {
		p := Params{k1: v1, k2: v2, "signature": "ignored"}
		c := CanonicalString(p)
		for k, v := range p {
			if k != "signature" && !strings.Contains(c, k+"="+v) {
				t.Fatalf("canonical %q lacks %s=%s", c, k, v)
			}
		}
		sig := Sign(p, secret, false)
		if secret != "" && !VerifySignature(p, secret, sig) {
			t.Fatal("own signature does not verify")
		}
		if _, exists := p[k1+"x"]; exists {
			return
		}
		p[k1+"x"] = v1
		if secret != "" && VerifySignature(p, secret, sig) {
			t.Fatal("a signature verified for changed parameters")
		}
	})
}

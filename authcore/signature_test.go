package authcore

import (
	"strings"
	"testing"
)

// Vectors: canonical strings seen on the wire from the v3 SDK, signed with
// Node's crypto.createHmac (an implementation independent of this one).
var signatureVectors = []struct {
	name, body, canonical, sha1, sha256 string
}{
	{
		name:      "app session",
		body:      `{"application_id":1,"auth_key":"testAuthKey","nonce":7622,"timestamp":1795618783}`,
		canonical: "application_id=1&auth_key=testAuthKey&nonce=7622&timestamp=1795618783",
		sha1:      "8028ce52fe35709f94b862e198eb7d76b772f9e0",
		sha256:    "da9b6e94d77110b233ec6a45640cf438339d74d334d199e25e0901be500b859c",
	},
	{
		name:      "user session",
		body:      `{"application_id":1,"auth_key":"testAuthKey","nonce":7835,"timestamp":1795618783,"user":{"password":"supersecret","login":"bob01"}}`,
		canonical: "application_id=1&auth_key=testAuthKey&nonce=7835&timestamp=1795618783&user[login]=bob01&user[password]=supersecret",
		sha1:      "aef824ef9d7930c20dbb7a5364aaf692f5a4d2e1",
		sha256:    "d314c4a0d50cfe618f1b3cfbddb1a3922d43b8774c41974b45bd35b5ccb37815",
	},
	{
		name:      "guest session keeps the raw space",
		body:      `{"application_id":1,"auth_key":"testAuthKey","nonce":2501,"timestamp":1795618783,"user":{"guest":"1","full_name":"Guest G"}}`,
		canonical: "application_id=1&auth_key=testAuthKey&nonce=2501&timestamp=1795618783&user[full_name]=Guest G&user[guest]=1",
		sha1:      "6542ea960067ac56b831945ce647febbc1056c4e",
		sha256:    "917578fe862e2c9f85c32d0d276093914a81f949384576a0b82f8e7f3faf3465",
	},
}

func TestCanonicalStringMatchesTheSDKs(t *testing.T) {
	for _, v := range signatureVectors {
		t.Run(v.name, func(t *testing.T) {
			p, err := ParseJSONParams([]byte(v.body))
			if err != nil {
				t.Fatal(err)
			}
			p["signature"] = "ignored"
			if got := CanonicalString(p); got != v.canonical {
				t.Fatalf("canonical string\n got %s\nwant %s", got, v.canonical)
			}
		})
	}
}

func TestSignaturesVerifyWithSHA1AndSHA256(t *testing.T) {
	for _, v := range signatureVectors {
		t.Run(v.name, func(t *testing.T) {
			p, err := ParseJSONParams([]byte(v.body))
			if err != nil {
				t.Fatal(err)
			}
			if got := Sign(p, "testAuthSecret", false); got != v.sha1 {
				t.Errorf("Sign sha1 = %s, want %s", got, v.sha1)
			}
			if got := Sign(p, "testAuthSecret", true); got != v.sha256 {
				t.Errorf("Sign sha256 = %s, want %s", got, v.sha256)
			}
			for _, sig := range []string{v.sha1, v.sha256, strings.ToUpper(v.sha1)} {
				if !VerifySignature(p, "testAuthSecret", sig) {
					t.Errorf("signature %s did not verify", sig)
				}
			}
			for _, bad := range []struct{ secret, sig string }{
				{"wrongSecret", v.sha1},
				{"testAuthSecret", v.sha1[:38] + "00"},
				{"testAuthSecret", v.sha1[:20]},
				{"testAuthSecret", "not hex at all"},
				{"", v.sha1},
			} {
				if VerifySignature(p, bad.secret, bad.sig) {
					t.Errorf("signature %q with secret %q verified", bad.sig, bad.secret)
				}
			}
		})
	}
}

func TestSignatureCoversEveryParameter(t *testing.T) {
	p, _ := ParseJSONParams([]byte(signatureVectors[1].body))
	sig := Sign(p, "s", false)
	p["user[login]"] = "mallory"
	if VerifySignature(p, "s", sig) {
		t.Fatal("a changed login kept the signature valid")
	}
}

func TestFormAndJSONBodiesSignTheSame(t *testing.T) {
	j, err := ParseJSONParams([]byte(signatureVectors[1].body))
	if err != nil {
		t.Fatal(err)
	}
	f, err := ParseFormParams("application_id=1&auth_key=testAuthKey&nonce=7835&timestamp=1795618783&user%5Blogin%5D=bob01&user[password]=supersecret")
	if err != nil {
		t.Fatal(err)
	}
	if CanonicalString(j) != CanonicalString(f) {
		t.Fatalf("json %q != form %q", CanonicalString(j), CanonicalString(f))
	}
}

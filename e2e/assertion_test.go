package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/internal/testcaddy"
)

// assertionCaddyfile has four sites over one store: unbound and bound
// assertions, each in front of the example verifier ({VERIFIER}) and in
// front of a recorder that keeps the assertions it got, so the test can
// replay them at the verifier.
const assertionCaddyfile = `{GLOBALS}
http://127.0.0.1:{PORT} {
	cubeauth {
		storage badger {DIR}/data
		assertion {
			audience backend.test
			ttl 2s
		}
		app 1 {
			auth_key 6f1c2b8e-0d4a-4c55-9a57-2a3c4f1e9b10
		}
	}
	reverse_proxy 127.0.0.1:{VERIFIER}
}
http://127.0.0.1:{REC_PORT} {
	cubeauth {
		storage badger {DIR}/data
		assertion {
			audience backend.test
			ttl 2s
		}
	}
	reverse_proxy 127.0.0.1:{RECORDER}
}
http://127.0.0.1:{BOUND_PORT} {
	cubeauth {
		storage badger {DIR}/data
		assertion {
			audience backend.test
			bind_request
		}
	}
	reverse_proxy 127.0.0.1:{VERIFIER}
}
http://127.0.0.1:{BOUND_REC_PORT} {
	cubeauth {
		storage badger {DIR}/data
		assertion {
			audience backend.test
			bind_request
		}
	}
	reverse_proxy 127.0.0.1:{RECORDER}
}
`

// verifierCommand starts the example verifier in lang on port.
func verifierCommand(t *testing.T, lang string) *exec.Cmd {
	t.Helper()
	root, err := filepath.Abs("../examples/assertion")
	if err != nil {
		t.Fatal(err)
	}
	switch lang {
	case "go":
		bin := filepath.Join(t.TempDir(), "verifier")
		build := exec.Command("go", "build", "-o", bin, ".")
		build.Dir = filepath.Join(root, "go")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("building the Go verifier: %v\n%s", err, out)
		}
		return exec.Command(bin)
	case "node":
		dir := filepath.Join(root, "node")
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "jose")); err != nil {
			t.Skip("jose is not installed: run scripts/setup.sh")
		}
		return exec.Command("node", filepath.Join(dir, "verifier.mjs"))
	default:
		if exec.Command("/usr/bin/python3", "-c", "import jwt, cryptography").Run() != nil {
			t.Skip("PyJWT is not installed: run scripts/setup.sh")
		}
		return exec.Command("/usr/bin/python3", filepath.Join(root, "python", "verifier.py"))
	}
}

// TestTheExampleVerifiersAcceptOnlyValidAssertions runs each example
// verifier (Go with golang-jwt, Node with jose, Python with PyJWT) behind a
// real cubeauth: a fresh assertion passes, and an expired one, a bound one
// replayed on another path, a forged one and a client's own are refused.
func TestTheExampleVerifiersAcceptOnlyValidAssertions(t *testing.T) {
	for _, lang := range []string{"go", "node", "python"} {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			testVerifier(t, lang)
		})
	}
}

func testVerifier(t *testing.T, lang string) {
	rec := &headerRecorder{}
	recorder := httptest.NewServer(rec)
	t.Cleanup(recorder.Close)
	recorderPort := recorder.Listener.Addr().(*net.TCPAddr).Port
	verifierPort := testcaddy.FreePort(t)
	srv := &server{dir: t.TempDir()}
	var recSite, boundSite, boundRecSite string
	srv.start(t, func(p *testcaddy.Ports) string {
		recSite = fmt.Sprintf("http://127.0.0.1:%d", p.Port("rec"))
		boundSite = fmt.Sprintf("http://127.0.0.1:%d", p.Port("bound"))
		boundRecSite = fmt.Sprintf("http://127.0.0.1:%d", p.Port("boundrec"))
		return strings.NewReplacer(
			"{GLOBALS}", testcaddy.Globals(srv.admin), "{PORT}", strconv.Itoa(srv.port),
			"{REC_PORT}", strconv.Itoa(p.Port("rec")), "{BOUND_PORT}", strconv.Itoa(p.Port("bound")),
			"{BOUND_REC_PORT}", strconv.Itoa(p.Port("boundrec")),
			"{VERIFIER}", strconv.Itoa(verifierPort), "{RECORDER}", strconv.Itoa(recorderPort), "{DIR}", srv.dir,
		).Replace(assertionCaddyfile)
	})
	cmd := verifierCommand(t, lang)
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(verifierPort),
		"JWKS_URL="+srv.URL+"/.well-known/cubeauth/jwks.json", "AUDIENCE=backend.test")
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	verifierURL := fmt.Sprintf("http://127.0.0.1:%d", verifierPort)
	waitListening(t, verifierPort, &logs)

	c := newClient(t, srv)
	login := "assert" + uniqueSuffix(t)
	user := decodeSession(t, c.postJSON("/session.json", map[string]any{
		"application_id": devAppID, "auth_key": devAuthKey,
		"user": map[string]string{"login": login, "password": "supersecret1"},
	}).want(t, http.StatusCreated))
	get := func(base, path string, header ...string) reply {
		return (&client{t: t, base: base, http: c.http}).do(http.MethodGet, path, nil, header...)
	}

	// Through cubeauth, unbound and bound: accepted, with the identity.
	for _, base := range []string{srv.URL, boundSite} {
		r := get(base, "/whoami", "CB-Token", user.Token).want(t, http.StatusOK)
		got := r.JSON(t)
		if got["verified_by"] != lang || got["sub"] != strconv.FormatInt(*user.UserID, 10) ||
			got["login"] != login || got["session_type"] != "user" || got["app_id"] != json.Number(strconv.Itoa(devAppID)) {
			t.Fatalf("%s: the verifier saw %v", base, got)
		}
		if sid, _ := got["sid"].(json.Number).Int64(); sid <= 0 {
			t.Fatalf("no session id in %v", got)
		}
	}
	// A client's own assertion never reaches the backend.
	get(recSite, "/whoami", "CB-Token", user.Token, "X-Cube-Assertion", "forged.by.client").want(t, http.StatusOK)
	unbound := rec.last(t).Header.Get("X-Cube-Assertion")
	if unbound == "" || unbound == "forged.by.client" {
		t.Fatalf("the backend got assertion %q", unbound)
	}
	// Positive control: the recorded assertion is accepted directly.
	get(verifierURL, "/anything", "X-Cube-Assertion", unbound).want(t, http.StatusOK)

	t.Run("the JWKS is served on the site and through the admin API", func(t *testing.T) {
		site := get(srv.URL, "/.well-known/cubeauth/jwks.json").want(t, http.StatusOK)
		admin := get(fmt.Sprintf("http://127.0.0.1:%d", srv.admin), "/cubeauth/assertion/jwks").want(t, http.StatusOK)
		var header struct{ Kid string }
		decodeJWTPart(t, unbound, 0, &header)
		for _, r := range []reply{site, admin} {
			var set struct{ Keys []map[string]string }
			if err := json.Unmarshal(r.Body, &set); err != nil || len(set.Keys) != 1 || set.Keys[0]["kid"] != header.Kid || set.Keys[0]["d"] != "" {
				t.Fatalf("%s: want the one public key %s: %s", r, header.Kid, r.Body)
			}
		}
	})
	t.Run("a bound assertion is good once, for its own request", func(t *testing.T) {
		get(boundRecSite, "/orders/1", "CB-Token", user.Token).want(t, http.StatusOK)
		bound := rec.last(t).Header.Get("X-Cube-Assertion")
		// On another path or with another method, before its first use.
		get(verifierURL, "/orders/2", "X-Cube-Assertion", bound).want(t, http.StatusUnauthorized)
		(&client{t: t, base: verifierURL, http: c.http}).do(http.MethodDelete, "/orders/1", nil, "X-Cube-Assertion", bound).want(t, http.StatusUnauthorized)
		get(verifierURL, "/orders/1", "X-Cube-Assertion", bound).want(t, http.StatusOK) // its own request
		get(verifierURL, "/orders/1", "X-Cube-Assertion", bound).want(t, http.StatusUnauthorized)
	})
	t.Run("a forged assertion (another key, the real kid) is refused", func(t *testing.T) {
		get(verifierURL, "/whoami", "X-Cube-Assertion", forgeAssertion(t, unbound)).want(t, http.StatusUnauthorized)
		get(verifierURL, "/whoami").want(t, http.StatusUnauthorized)
	})
	t.Run("an expired assertion is refused", func(t *testing.T) {
		var claims struct{ Exp int64 }
		decodeJWTPart(t, unbound, 1, &claims)
		time.Sleep(time.Until(time.Unix(claims.Exp+1, 0)))
		get(verifierURL, "/whoami", "X-Cube-Assertion", unbound).want(t, http.StatusUnauthorized)
		// While a fresh one from cubeauth passes.
		get(srv.URL, "/whoami", "CB-Token", user.Token).want(t, http.StatusOK)
	})
	t.Run("a rotated key is published beside the previous one and verifies", func(t *testing.T) {
		var old struct{ Kid string }
		decodeJWTPart(t, unbound, 0, &old)
		admin := &client{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", srv.admin), http: c.http}
		var rotated struct{ Kid string }
		if err := json.Unmarshal(admin.do(http.MethodPost, "/cubeauth/assertion/rotate", nil).want(t, http.StatusOK).Body, &rotated); err != nil || rotated.Kid == "" || rotated.Kid == old.Kid {
			t.Fatalf("rotate answered kid %q (old %s), %v", rotated.Kid, old.Kid, err)
		}
		// Every handler reloads the keys within 10 s.
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			body := string(get(recSite, "/.well-known/cubeauth/jwks.json").want(t, http.StatusOK).Body)
			site := string(get(srv.URL, "/.well-known/cubeauth/jwks.json").want(t, http.StatusOK).Body)
			if strings.Contains(body, rotated.Kid) && strings.Contains(site, rotated.Kid) && strings.Contains(site, old.Kid) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the JWKS does not list the new key %s beside %s: %s", rotated.Kid, old.Kid, site)
			}
		}
		get(recSite, "/whoami", "CB-Token", user.Token).want(t, http.StatusOK)
		var now struct{ Kid string }
		decodeJWTPart(t, rec.last(t).Header.Get("X-Cube-Assertion"), 0, &now)
		if now.Kid != rotated.Kid {
			t.Fatalf("after the rotation cubeauth signs with %s, want %s", now.Kid, rotated.Kid)
		}
		time.Sleep(5 * time.Second) // the verifiers refetch a JWKS at most every 5 s
		get(srv.URL, "/whoami", "CB-Token", user.Token).want(t, http.StatusOK)
	})
	if t.Failed() {
		t.Logf("verifier output:\n%s", logs.String())
	}
}

func waitListening(t *testing.T, port int, logs fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
			conn.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the verifier did not listen on %d:\n%s", port, logs)
}

func decodeJWTPart(t *testing.T, jwt string, i int, v any) {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		t.Fatalf("JWT part %d: %v", i, err)
	}
}

// forgeAssertion re-signs a real assertion's header and claims with a key
// of its own.
func forgeAssertion(t *testing.T, real string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signed := real[:strings.LastIndex(real, ".")]
	sum := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// debugLogCaddyfile is a site with `assertion` in front of a recorder.
const debugLogCaddyfile = `{GLOBALS}
http://127.0.0.1:{PORT} {
	cubeauth {
		storage badger {DIR}/data
		assertion
		app 1 {
			auth_key 6f1c2b8e-0d4a-4c55-9a57-2a3c4f1e9b10
		}
	}
	reverse_proxy 127.0.0.1:{RECORDER}
}
`

// TestDebugLogsLeaveOutTheAssertionWithTheExampleFilter holds SECURITY.md's
// "Logging" to what Caddy does: in debug mode reverse_proxy logs every
// header it sends upstream, the assertion among them, and the default log
// filter of examples/config/assertion.caddyfile keeps it out.
func TestDebugLogsLeaveOutTheAssertionWithTheExampleFilter(t *testing.T) {
	t.Parallel()
	example, err := os.ReadFile(filepath.Join("..", "examples", "config", "assertion.caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	filter := regexp.MustCompile(`(?s)\tlog default \{\n.*?\n\t\}\n`).FindString(string(example))
	if !strings.Contains(filter, "request>headers>X-Cube-Assertion delete") {
		t.Fatalf("examples/config/assertion.caddyfile has no default log block that deletes the assertion:\n%s", example)
	}
	for _, tc := range []struct {
		name, logDefault string
		logged           bool
	}{
		{"without the filter, Caddy logs it", "", true},
		{"with the example's filter, it is left out", filter, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := &headerRecorder{}
			recorder := httptest.NewServer(rec)
			t.Cleanup(recorder.Close)
			srv := &server{dir: t.TempDir()}
			srv.start(t, func(p *testcaddy.Ports) string {
				globals := testcaddy.Globals(srv.admin, "debug", strings.TrimSpace(tc.logDefault))
				return strings.NewReplacer("{GLOBALS}", globals, "{PORT}", strconv.Itoa(srv.port), "{DIR}", srv.dir,
					"{RECORDER}", strconv.Itoa(recorder.Listener.Addr().(*net.TCPAddr).Port)).Replace(debugLogCaddyfile)
			})
			c := newClient(t, srv)
			s := devLogin(t, c, "debuglog"+uniqueSuffix(t), "supersecret1")
			c.do(http.MethodGet, "/orders", nil, "CB-Token", s.Token).want(t, http.StatusOK)
			assertion := rec.last(t).Header.Get("X-Cube-Assertion")
			if strings.Count(assertion, ".") != 2 {
				t.Fatalf("the backend got assertion %q", assertion)
			}
			signature := assertion[strings.LastIndex(assertion, ".")+1:]
			// The round trip's debug line is written after the answer.
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(srv.Caddy.Logs(), "upstream roundtrip") && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			logs := srv.Caddy.Logs()
			if !strings.Contains(logs, "upstream roundtrip") {
				t.Fatalf("no reverse_proxy debug line in the logs:\n%s", logs)
			}
			if got := strings.Contains(logs, signature); got != tc.logged {
				t.Fatalf("the assertion is in the logs: %v, want %v:\n%s", got, tc.logged, logs)
			}
		})
	}
}

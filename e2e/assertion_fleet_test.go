package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/internal/testcaddy"
	"github.com/cubeauth/cubeauth/internal/testpg"
)

// TestFleetNodesShareOneAssertionKeyAndItsRotation starts two nodes with
// `assertion` and one key_encryption_key over one PostgreSQL at once: they
// make one signing key between them, stored sealed, publish the same JWKS,
// sign with it, and a rotation on one node is published by the other. A
// third node with another key_encryption_key answers 503, never forwards.
func TestFleetNodesShareOneAssertionKeyAndItsRotation(t *testing.T) {
	t.Parallel()
	f := &fleet{appName: "cubeauth_fleet_" + uniqueSuffix(t)}
	f.dsn = testpg.WithParam(testpg.Schema(t), "application_name", f.appName)
	start := func(s *server, kek string) {
		s.start(t, func(p *testcaddy.Ports) string {
			s.backend = p.Port("backend")
			return strings.Replace(f.caddyfile(t, s, "development"), "\t\tchat_password_secret",
				"\t\tassertion {\n\t\t\tkey_encryption_key {env.TEST_ASSERTION_KEK}\n\t\t}\n\t\tchat_password_secret", 1)
		}, testcaddy.WithEnv("DATABASE_URL="+f.dsn, "TEST_ASSERTION_KEK="+kek))
	}
	kek := "a fleet's key encryption key, 32+ characters"
	f.nodes = []*server{{dir: t.TempDir()}, {dir: t.TempDir()}}
	var wg sync.WaitGroup
	for _, s := range f.nodes {
		wg.Go(func() { start(s, kek) })
	}
	wg.Wait()
	jwks := func(s *server) (kids []string) {
		r := newClient(t, s).do(http.MethodGet, "/.well-known/cubeauth/jwks.json", nil).want(t, http.StatusOK)
		var set struct{ Keys []struct{ Kid string } }
		if err := json.Unmarshal(r.Body, &set); err != nil {
			t.Fatal(err)
		}
		for _, k := range set.Keys {
			kids = append(kids, k.Kid)
		}
		return kids
	}
	a, b := jwks(f.nodes[0]), jwks(f.nodes[1])
	if len(a) != 1 || fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("the nodes publish %v and %v, want one key between them", a, b)
	}
	if n := testpg.QueryInt(t, f.dsn, `SELECT count(*) FROM cubeauth_signing_keys`); n != 1 {
		t.Fatalf("%d signing keys in the database, want 1", n)
	}
	// Sealed, not PKCS #8 DER (which begins with 0x30).
	if n := testpg.QueryInt(t, f.dsn, `SELECT count(*) FROM cubeauth_signing_keys
		WHERE position('cubeauth-sealed-key-v1'::bytea in private_key) = 1`); n != 1 {
		t.Fatal("the signing key is not stored sealed")
	}
	c := f.clients(t)
	s := devLogin(t, c[0], "sealed"+uniqueSuffix(t), "supersecret1")
	for _, cl := range c {
		cl.backend(http.MethodGet, "CB-Token", s.Token) // signed with the sealed key
	}
	wrong := &server{dir: t.TempDir()}
	wrongKEK := "another key encryption key, 32+ characters"
	start(wrong, wrongKEK)
	newClient(t, wrong).do(http.MethodGet, whoamiPath, nil, "CB-Token", s.Token).want(t, http.StatusServiceUnavailable)
	if kids := jwks(wrong); fmt.Sprint(kids) != fmt.Sprint(a) {
		t.Fatalf("the node with the wrong key publishes %v, want the fleet's %v", kids, a)
	}
	if logs := wrong.Caddy.Logs(); !strings.Contains(logs, "sealed with another key_encryption_key") || strings.Contains(logs, kek) || strings.Contains(logs, wrongKEK) {
		t.Fatalf("the node with the wrong key does not say why, or logs a key:\n%s", logs)
	}
	admin := &client{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", f.nodes[0].admin), http: &http.Client{Timeout: 15 * time.Second}}
	var rotated struct{ Kid string }
	if err := json.Unmarshal(admin.do(http.MethodPost, "/cubeauth/assertion/rotate", nil).want(t, http.StatusOK).Body, &rotated); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		if kids := jwks(f.nodes[1]); len(kids) == 2 && strings.Contains(fmt.Sprint(kids), rotated.Kid) && strings.Contains(fmt.Sprint(kids), a[0]) {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the other node publishes %v, want the rotated %s beside %s", kids, rotated.Kid, a[0])
		}
	}
}

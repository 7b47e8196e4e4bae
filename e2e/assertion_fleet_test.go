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
// `assertion` over one PostgreSQL at once: they make one signing key
// between them, publish the same JWKS, and a rotation on one node is
// published by the other.
func TestFleetNodesShareOneAssertionKeyAndItsRotation(t *testing.T) {
	t.Parallel()
	f := &fleet{appName: "cubeauth_fleet_" + uniqueSuffix(t)}
	f.dsn = testpg.WithParam(testpg.Schema(t), "application_name", f.appName)
	f.nodes = []*server{{dir: t.TempDir()}, {dir: t.TempDir()}}
	var wg sync.WaitGroup
	for _, s := range f.nodes {
		wg.Go(func() {
			s.start(t, func(p *testcaddy.Ports) string {
				s.backend = p.Port("backend")
				return strings.Replace(f.caddyfile(t, s, "development"), "\t\tchat_password_secret", "\t\tassertion\n\t\tchat_password_secret", 1)
			}, testcaddy.WithEnv("DATABASE_URL="+f.dsn))
		})
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

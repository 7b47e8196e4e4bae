package e2e

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/internal/testcaddy"
)

// providersCaddyfile has Firebase sign-in on a development app (1) and a
// production one (2), and a custom identity provider on a development app
// (3), on one that is down (4) and on a production app (5).
const providersCaddyfile = `{GLOBALS}
http://127.0.0.1:{PORT} {
	cubeauth {
		storage badger {DIR}/data
		app 1 {
			auth_key key-1
			firebase {
				project_ids proj-a proj-c
				keys_url {KEYS}
			}
		}
		app 2 {
			auth_key key-2
			stage production
			firebase {
				project_ids proj-a
				keys_url {KEYS}
			}
		}
		app 3 {
			auth_key key-3
			identity_provider {IDP}/verify {
				query token {token}
				user_id_path user.id
				timeout 1s
			}
		}
		app 4 {
			auth_key key-4
			identity_provider http://127.0.0.1:{DOWN}/verify {
				query token {token}
				user_id_path user.id
			}
		}
		app 5 {
			auth_key key-5
			stage production
			identity_provider {IDP}/verify {
				method POST
				body ` + "`" + `{"token":"{token}"}` + "`" + `
				user_id_path user.id
			}
		}
	}
	respond "backend"
}
`

// firebaseSigner makes Firebase-style ID tokens with a key pair of its own
// and serves its certificate the way Google does, counting the fetches.
type firebaseSigner struct {
	key  *rsa.PrivateKey
	hits atomic.Int64
	srv  *httptest.Server
}

func newFirebaseSigner(t *testing.T) *firebaseSigner {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "securetoken"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certs, _ := json.Marshal(map[string]string{"k1": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))})
	f := &firebaseSigner{key: key}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		w.Header().Set("Cache-Control", "public, max-age=3600, must-revalidate, no-transform")
		w.Header().Set("Content-Type", "application/json")
		w.Write(certs)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// token signs claims with kid; change edits the default claims of project
// and uid first.
func (f *firebaseSigner) token(t *testing.T, kid, project, uid string, change func(map[string]any)) string {
	t.Helper()
	now := time.Now()
	claims := map[string]any{
		"iss": "https://securetoken.google.com/" + project, "aud": project, "sub": uid, "user_id": uid,
		"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(), "auth_time": now.Add(-time.Minute).Unix(),
		"phone_number": "+1555" + uid[len(uid)-4:], "firebase": map[string]any{"sign_in_provider": "phone"},
	}
	if change != nil {
		change(claims)
	}
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := enc(map[string]any{"alg": "RS256", "kid": kid, "typ": "JWT"}) + "." + enc(claims)
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, f.key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// startIdentityProvider is an app backend's token check: "good-<id>" is
// user <id>, "slow-..." answers after 3s, anything else is refused.
func startIdentityProvider(t *testing.T) (url string, calls *atomic.Int64) {
	t.Helper()
	calls = new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		token := r.URL.Query().Get("token")
		if r.Method == http.MethodPost {
			var body struct{ Token string }
			json.NewDecoder(r.Body).Decode(&body)
			token = body.Token
		}
		switch {
		case strings.HasPrefix(token, "slow-"):
			select {
			case <-time.After(3 * time.Second):
			case <-r.Context().Done():
			}
			fallthrough
		case !strings.HasPrefix(token, "good-"):
			http.Error(w, `{"error":"invalid token"}`, http.StatusUnauthorized)
		default:
			id, _ := strconv.Atoi(strings.TrimPrefix(token, "good-"))
			fmt.Fprintf(w, `{"user":{"id":%d,"name":"User %d"}}`, id, id)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, calls
}

// sdkCase is one createSession call of e2e/sdk/v6-providers.js.
type sdkCase struct {
	Name   string         `json:"name"`
	Params map[string]any `json:"params"`
}

// sdkOutcome is what the script printed for a case.
type sdkOutcome struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	UserID int64  `json:"user_id"`
	Login  string `json:"login"`
	Phone  string `json:"phone"`
	Token  string `json:"token"`
	Status int    `json:"status"`
	Errors any    `json:"errors"`
}

func runProviderCases(t *testing.T, node, dir string, srv *server, appID int, cases []sdkCase) map[string]sdkOutcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	js, _ := json.Marshal(cases)
	cmd := exec.CommandContext(ctx, node, "v6-providers.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CUBEAUTH_URL="+srv.URL, fmt.Sprintf("APP_ID=%d", appID),
		fmt.Sprintf("AUTH_KEY=key-%d", appID), "CASES="+string(js))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node v6-providers.js: %v\n%s", err, out)
	}
	got := map[string]sdkOutcome{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var o sdkOutcome
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatalf("script printed %q", line)
		}
		got[o.Name] = o
	}
	if len(got) != len(cases) {
		t.Fatalf("script answered %d of %d cases:\n%s", len(got), len(cases), out)
	}
	return got
}

func wantSession(t *testing.T, o sdkOutcome) {
	t.Helper()
	if !o.OK || o.UserID == 0 || o.Token == "" {
		t.Fatalf("%s: want a user session, got %+v", o.Name, o)
	}
}

func wantRefused(t *testing.T, o sdkOutcome, status int) {
	t.Helper()
	if o.OK || o.Status != status || o.Errors == nil {
		t.Fatalf("%s: want %d with an error body, got %+v", o.Name, status, o)
	}
}

// TestOfficialSDKSignsInThroughFirebaseAndACustomIdentityProvider: an app
// using Firebase phone/email sign-in or a CIdP works with only its endpoint
// changed, and bad tokens, a production app and a failing provider never
// get a session.
func TestOfficialSDKSignsInThroughFirebaseAndACustomIdentityProvider(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH")
	}
	dir := sdkDir(t)
	installNodePackages(t, dir, map[string]string{"connectycube6": sdkVersions["connectycube6"]})
	fb := newFirebaseSigner(t)
	idp, idpCalls := startIdentityProvider(t)
	down := testcaddy.FreePort(t)
	srv := &server{dir: t.TempDir()}
	srv.start(t, func(p *testcaddy.Ports) string {
		return strings.NewReplacer("{GLOBALS}", testcaddy.Globals(srv.admin), "{PORT}", strconv.Itoa(srv.port),
			"{DIR}", srv.dir, "{KEYS}", fb.srv.URL, "{IDP}", idp, "{DOWN}", strconv.Itoa(down)).Replace(providersCaddyfile)
	})
	suffix := uniqueSuffix(t)
	uid := func(n int) string { return fmt.Sprintf("uid-%s-%04d", suffix, n) }
	phone := func(project, token string) map[string]any {
		return map[string]any{"provider": "firebase_phone", "firebase_phone": map[string]any{"project_id": project, "access_token": token}}
	}
	good := fb.token(t, "k1", "proj-a", uid(1), nil)
	tampered := strings.Split(good, ".")
	tampered[1] = strings.Split(fb.token(t, "k1", "proj-a", uid(9), nil), ".")[1]
	emailToken := fb.token(t, "k1", "proj-a", uid(2), func(c map[string]any) {
		delete(c, "phone_number")
		c["email"], c["email_verified"] = "fb"+suffix+"@example.test", true
	})

	t.Run("firebase in development", func(t *testing.T) {
		got := runProviderCases(t, node, dir, srv, 1, []sdkCase{
			{"first", phone("proj-a", good)},
			{"again", phone("proj-a", good)},
			{"email", map[string]any{"provider": "firebase_email", "firebase_email": map[string]any{"project_id": "proj-a", "access_token": emailToken}}},
			{"expired", phone("proj-a", fb.token(t, "k1", "proj-a", uid(3), func(c map[string]any) { c["exp"] = time.Now().Add(-5 * time.Minute).Unix() }))},
			{"wrong audience", phone("proj-a", fb.token(t, "k1", "proj-a", uid(3), func(c map[string]any) { c["aud"] = "proj-c" }))},
			{"wrong issuer", phone("proj-a", fb.token(t, "k1", "proj-a", uid(3), func(c map[string]any) { c["iss"] = "https://securetoken.google.com/proj-c" }))},
			{"unknown kid", phone("proj-a", fb.token(t, "k2", "proj-a", uid(3), nil))},
			{"tampered", phone("proj-a", strings.Join(tampered, "."))},
			{"project not allowed", phone("proj-b", fb.token(t, "k1", "proj-b", uid(3), nil))},
			{"token of another allowed project", phone("proj-c", good)},
			{"phone sign-in without a phone", phone("proj-a", emailToken)},
		})
		wantSession(t, got["first"])
		if got["first"].Phone != "+1555"+uid(1)[len(uid(1))-4:] {
			t.Fatalf("first: the user's phone is %q, want the token's", got["first"].Phone)
		}
		if got["again"].UserID != got["first"].UserID {
			t.Fatalf("a second sign-in made user %d, want %d", got["again"].UserID, got["first"].UserID)
		}
		wantSession(t, got["email"])
		if got["email"].UserID == got["first"].UserID {
			t.Fatal("another uid signed in as the first user")
		}
		for _, name := range []string{"expired", "wrong audience", "wrong issuer", "unknown kid", "tampered", "project not allowed", "token of another allowed project", "phone sign-in without a phone"} {
			wantRefused(t, got[name], http.StatusUnauthorized)
		}
		// Every token above needed the keys; the answer's max-age kept them.
		if n := fb.hits.Load(); n != 1 {
			t.Fatalf("the key server was asked %d times, want once", n)
		}
	})

	t.Run("concurrent first sign-ins make one user", func(t *testing.T) {
		token := fb.token(t, "k1", "proj-a", uid(5), nil)
		body, _ := json.Marshal(map[string]any{"application_id": 1, "auth_key": "key-1", "provider": "firebase_phone",
			"firebase_phone": map[string]any{"project_id": "proj-a", "access_token": token}})
		var wg sync.WaitGroup
		ids := make(chan int64, 8)
		for range 8 {
			wg.Go(func() {
				resp, err := http.Post(srv.URL+"/session", "application/json", strings.NewReader(string(body)))
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				var s struct {
					Session struct {
						UserID int64 `json:"user_id"`
					}
				}
				json.NewDecoder(resp.Body).Decode(&s)
				ids <- s.Session.UserID
			})
		}
		wg.Wait()
		close(ids)
		var first int64
		for id := range ids {
			if id == 0 || first != 0 && id != first {
				t.Fatalf("concurrent sign-ins got users %d and %d", first, id)
			}
			first = id
		}
	})

	t.Run("firebase in production creates no user", func(t *testing.T) {
		got := runProviderCases(t, node, dir, srv, 2, []sdkCase{{"new user", phone("proj-a", fb.token(t, "k1", "proj-a", uid(4), nil))}})
		wantRefused(t, got["new user"], http.StatusNotFound)
	})

	t.Run("custom identity provider", func(t *testing.T) {
		got := runProviderCases(t, node, dir, srv, 3, []sdkCase{
			{"first", map[string]any{"login": "good-" + suffix[:4] + "1", "password": "x"}},
			{"again", map[string]any{"login": "good-" + suffix[:4] + "1", "password": "another dummy"}},
			{"refused", map[string]any{"login": "not-a-token", "password": "x"}},
			{"slow", map[string]any{"login": "slow-1", "password": "x"}},
		})
		wantSession(t, got["first"])
		if got["again"].UserID != got["first"].UserID {
			t.Fatalf("a second sign-in made user %d, want %d", got["again"].UserID, got["first"].UserID)
		}
		if got["first"].Login == "" || !strings.HasPrefix(got["first"].Login, "custom_") {
			t.Fatalf("login %q, want custom_<id>", got["first"].Login)
		}
		wantRefused(t, got["refused"], http.StatusUnauthorized)
		wantRefused(t, got["slow"], http.StatusServiceUnavailable)

		// POST /login upgrades an app session with the IdP token too; the
		// user must exist, as for a password login.
		post := func(path, token string, body map[string]any) (int, map[string]any) {
			b, _ := json.Marshal(body)
			req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(string(b)))
			req.Header.Set("Content-Type", "application/json")
			if token != "" {
				req.Header.Set("CB-Token", token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out map[string]any
			json.NewDecoder(resp.Body).Decode(&out)
			return resp.StatusCode, out
		}
		status, app := post("/session", "", map[string]any{"application_id": 3, "auth_key": "key-3"})
		appToken, _ := app["session"].(map[string]any)["token"].(string)
		if status != http.StatusCreated || appToken == "" {
			t.Fatalf("app session: %d %v", status, app)
		}
		status, login := post("/login", appToken, map[string]any{"login": "good-" + suffix[:4] + "1", "password": "x"})
		if user, _ := login["user"].(map[string]any); status != http.StatusAccepted || int64(user["id"].(float64)) != got["first"].UserID {
			t.Fatalf("POST /login with the IdP token: %d %v; want user %d", status, login, got["first"].UserID)
		}
		if status, _ := post("/login", appToken, map[string]any{"login": "good-999999", "password": "x"}); status != http.StatusNotFound {
			t.Fatalf("POST /login for a user that does not exist: %d, want 404", status)
		}
	})

	t.Run("a custom identity provider that is down", func(t *testing.T) {
		got := runProviderCases(t, node, dir, srv, 4, []sdkCase{{"down", map[string]any{"login": "good-1", "password": "x"}}})
		wantRefused(t, got["down"], http.StatusServiceUnavailable)
	})

	t.Run("custom identity provider in production creates no user", func(t *testing.T) {
		before := idpCalls.Load()
		got := runProviderCases(t, node, dir, srv, 5, []sdkCase{{"new user", map[string]any{"login": "good-424242", "password": "x"}}})
		wantRefused(t, got["new user"], http.StatusNotFound)
		if idpCalls.Load() == before {
			t.Fatal("the POST identity provider was never asked")
		}
	})
}

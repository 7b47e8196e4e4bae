package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/internal/testcaddy"
	"github.com/cubeauth/cubeauth/internal/testpg"
)

// TestMain removes the Caddy binary testcaddy built and the PostgreSQL
// cluster testpg started, if they did.
func TestMain(m *testing.M) {
	os.Exit(testpg.Main(func() int { return testcaddy.Main(m) }))
}

// The two apps every test server has: app 1 in the development stage (with
// an auth secret for the legacy signed flow), app 2 in production.
const (
	devAppID      = 1
	devAuthKey    = "6f1c2b8e-0d4a-4c55-9a57-2a3c4f1e9b10"
	devAuthSecret = "some-secret"

	prodAppID   = 2
	prodAuthKey = "0b7f5a2c-3e1d-4f6a-8b9c-1d2e3f4a5b6c"
)

// whoamiPath is a path cubeauth does not terminate: it reaches the backend,
// which echoes what it received.
const whoamiPath = "/whoami"

// caddyfileTemplate is the module's documented syntax: cubeauth in front of a
// reverse proxy to a backend site that answers with the identity headers (and
// the credentials, which must not arrive) as JSON.
const caddyfileTemplate = `{GLOBALS}
http://127.0.0.1:{PORT} {
	cubeauth {
		storage badger {DIR}/data
		chat_password_secret ` + e2eChatSecret + `
		app 1 {
			auth_key 6f1c2b8e-0d4a-4c55-9a57-2a3c4f1e9b10
			auth_secret some-secret
			stage {DEV_STAGE}
		}
		app 2 {
			auth_key 0b7f5a2c-3e1d-4f6a-8b9c-1d2e3f4a5b6c
			stage production
		}
	}
	reverse_proxy 127.0.0.1:{BACKEND}
}
http://127.0.0.1:{BACKEND} {
	header Content-Type application/json
	respond ` + "`" + `{"user_id":"{header.X-Cube-User-Id}","app_id":"{header.X-Cube-App-Id}","login":"{header.X-Cube-User-Login}","session_type":"{header.X-Cube-Session-Type}","method":"{method}","x_cube_extra":"{header.X-Cube-Extra}","cb_token":"{header.CB-Token}","authorization":"{header.Authorization}"}` + "`" + `
}
`

// e2eChatSecret is the e2e server's chat_password_secret, which the XMPP
// tests give cubeauth-extauth.
const e2eChatSecret = "e2e-chat-password-secret"

// server is a running Caddy with cubeauth, built from this repository.
type server struct {
	URL   string // origin of the cubeauth site
	Caddy *testcaddy.Instance

	admin, port, backend int
	dir                  string
}

// startServer starts Caddy with cubeauth on free ports and a fresh Badger
// directory; it stops when the test ends.
func startServer(t *testing.T) *server {
	t.Helper()
	s := &server{dir: t.TempDir()}
	s.start(t, func(p *testcaddy.Ports) string {
		s.backend = p.Port("backend")
		return s.caddyfile("development")
	})
	return s
}

// startTLSServer is startServer that also serves the cubeauth site at
// https://localhost:{TLSPort} with Caddy's internal CA, for the SDKs that
// always build https:// URLs (connectycube 4.x and 5.x); TLSRoot is the
// CA's root certificate, for NODE_EXTRA_CA_CERTS.
func startTLSServer(t *testing.T) (s *server, tlsHost, tlsRoot string) {
	t.Helper()
	s = &server{dir: t.TempDir()}
	s.start(t, func(p *testcaddy.Ports) string {
		s.backend = p.Port("backend")
		tlsHost = fmt.Sprintf("localhost:%d", p.Port("tls"))
		config := strings.Replace(s.caddyfile("development"),
			fmt.Sprintf("http://127.0.0.1:%d {\n", s.port),
			fmt.Sprintf("http://127.0.0.1:%d, https://%s {\n\ttls internal\n", s.port, tlsHost), 1)
		// Never into the machine's trust store, and no redirect on port 80.
		return strings.Replace(config, "{\n", "{\n\tskip_install_trust\n\tauto_https disable_redirects\n", 1)
	})
	return s, tlsHost, filepath.Join(s.Caddy.Dir, "data", "caddy", "pki", "authorities", "local", "root.crt")
}

// start runs Caddy with the config that caddyfile renders, on new ports for
// each attempt (see testcaddy.StartOnFreePorts): before it renders, the
// server's admin and site ports and URL are the attempt's.
func (s *server) start(t *testing.T, caddyfile func(p *testcaddy.Ports) string, opts ...testcaddy.Option) {
	t.Helper()
	s.Caddy = testcaddy.StartOnFreePorts(t, func(p *testcaddy.Ports) string {
		s.admin, s.port = p.Port("admin"), p.Port("site")
		s.URL = fmt.Sprintf("http://127.0.0.1:%d", s.port)
		return caddyfile(p)
	}, opts...)
}

// caddyfile renders the server's config with app 1 in devStage.
func (s *server) caddyfile(devStage string) string {
	return strings.NewReplacer(
		"{GLOBALS}", testcaddy.Globals(s.admin),
		"{PORT}", strconv.Itoa(s.port),
		"{BACKEND}", strconv.Itoa(s.backend),
		"{DIR}", s.dir,
		"{DEV_STAGE}", devStage,
	).Replace(caddyfileTemplate)
}

// uniqueSuffix makes logins unique per run, so tests never depend on each
// other's users.
func uniqueSuffix(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// reply is one HTTP answer from cubeauth.
type reply struct {
	Method, Path string
	Status       int
	Header       http.Header
	Body         []byte
}

func (r reply) String() string {
	return fmt.Sprintf("%s %s -> %d %s", r.Method, r.Path, r.Status, bytes.TrimSpace(r.Body))
}

// JSON decodes the body into a generic object, failing the test if it is not
// a JSON object.
func (r reply) JSON(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: body is not a JSON object: %v", r, err)
	}
	return v
}

// want fails the test unless the status is one of statuses.
func (r reply) want(t *testing.T, statuses ...int) reply {
	t.Helper()
	for _, s := range statuses {
		if r.Status == s {
			return r
		}
	}
	t.Fatalf("%s: want status %v", r, statuses)
	return r
}

// want2xx fails the test unless the status is 2xx.
func (r reply) want2xx(t *testing.T) reply {
	t.Helper()
	if r.Status < 200 || r.Status > 299 {
		t.Fatalf("%s: want 2xx", r)
	}
	return r
}

// wantErrorShape fails the test unless the body is ConnectyCube's
// {"errors": [...]} or {"errors": {...}}.
func (r reply) wantErrorShape(t *testing.T) map[string]any {
	t.Helper()
	body := r.JSON(t)
	switch body["errors"].(type) {
	case []any, map[string]any:
	default:
		t.Fatalf("%s: want {\"errors\": [...] or {...}}", r)
	}
	return body
}

// wantBody fails the test unless the body is JSON equal to want.
func (r reply) wantBody(t *testing.T, want string) {
	t.Helper()
	var got, exp any
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatalf("%s: body is not JSON: %v", r, err)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatalf("bad expectation %q: %v", want, err)
	}
	g, _ := json.Marshal(got)
	e, _ := json.Marshal(exp)
	if !bytes.Equal(g, e) {
		t.Fatalf("%s: want body %s", r, want)
	}
}

// expiredSessionBody is what every SDK treats as an expired session.
const expiredSessionBody = `{"errors":{"base":["Required session does not exist"]}}`

// client sends requests to a server, the way curl would.
type client struct {
	t    *testing.T
	base string
	http *http.Client
}

func newClient(t *testing.T, s *server) *client {
	return &client{t: t, base: s.URL, http: &http.Client{Timeout: 15 * time.Second}}
}

// do sends method path with body (nil for none) and header pairs
// ("Name", "value", ...).
func (c *client) do(method, path string, body io.Reader, header ...string) reply {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return reply{Method: method, Path: path, Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// postJSON sends v as a JSON body.
func (c *client) postJSON(path string, v any, header ...string) reply {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.do(http.MethodPost, path, bytes.NewReader(b), append([]string{"Content-Type", "application/json"}, header...)...)
}

// postForm sends a form body exactly as written (keys such as user[login]
// unescaped, as iOS and curl -d send them).
func (c *client) postForm(path, form string, header ...string) reply {
	c.t.Helper()
	return c.do(http.MethodPost, path, strings.NewReader(form), append([]string{"Content-Type", "application/x-www-form-urlencoded"}, header...)...)
}

// whoami is the backend's view of a request: the identity headers it got.
type whoami struct {
	UserID        string `json:"user_id"`
	AppID         string `json:"app_id"`
	Login         string `json:"login"`
	SessionType   string `json:"session_type"`
	Method        string `json:"method"`
	XCubeExtra    string `json:"x_cube_extra"`
	CBToken       string `json:"cb_token"`
	Authorization string `json:"authorization"`
}

// backend sends method to the proxied whoami path and decodes the backend's
// answer, failing the test unless it is 200.
func (c *client) backend(method string, header ...string) whoami {
	c.t.Helper()
	r := c.do(method, whoamiPath, nil, header...).want(c.t, http.StatusOK)
	var w whoami
	if err := json.Unmarshal(r.Body, &w); err != nil {
		c.t.Fatalf("%s: not the backend's JSON: %v", r, err)
	}
	return w
}

// session is the part of a ConnectyCube session object the tests look at.
type session struct {
	Token         string          `json:"token"`
	UserID        *int64          `json:"user_id"`
	ApplicationID json.RawMessage `json:"application_id"`
	User          *user           `json:"user"`
}

// user is the part of a ConnectyCube user object the tests look at.
type user struct {
	ID       int64   `json:"id"`
	Login    *string `json:"login"`
	FullName *string `json:"full_name"`
	IsGuest  *bool   `json:"is_guest"`
	Password *string `json:"password"`
}

// decodeSession reads {"session":{...}}, failing the test if it is missing.
func decodeSession(t *testing.T, r reply) session {
	t.Helper()
	var v struct {
		Session *session `json:"session"`
	}
	if err := json.Unmarshal(r.Body, &v); err != nil || v.Session == nil {
		t.Fatalf("%s: want {\"session\":{...}} (%v)", r, err)
	}
	if v.Session.Token == "" {
		t.Fatalf("%s: session has no token", r)
	}
	return *v.Session
}

// decodeUser reads {"user":{...}}, failing the test if it is missing.
func decodeUser(t *testing.T, r reply) user {
	t.Helper()
	var v struct {
		User *user `json:"user"`
	}
	if err := json.Unmarshal(r.Body, &v); err != nil || v.User == nil {
		t.Fatalf("%s: want {\"user\":{...}} (%v)", r, err)
	}
	if v.User.Password != nil {
		t.Fatalf("%s: the user object carries the password", r)
	}
	return *v.User
}

// sdkDir is the directory of the Node flow scripts.
func sdkDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("sdk")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

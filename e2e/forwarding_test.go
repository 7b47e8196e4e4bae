package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/internal/testcaddy"
)

// forwardingCaddyfile serves HTTP/1.1 and h2c (HTTP/2 without TLS, with
// prior knowledge) and puts cubeauth in front of a backend in the test
// process that records what reaches it. The second site allows app
// sessions to open WebSockets.
const forwardingCaddyfile = `{GLOBALS}
http://127.0.0.1:{PORT} {
	cubeauth {
		storage badger {DIR}/data
		app 1 {
			auth_key 6f1c2b8e-0d4a-4c55-9a57-2a3c4f1e9b10
			stage development
		}
	}
	reverse_proxy 127.0.0.1:{BACKEND}
}
http://127.0.0.1:{WS_PORT} {
	cubeauth {
		storage badger {DIR}/data
		app_session_websockets
		app 1 {
			auth_key 6f1c2b8e-0d4a-4c55-9a57-2a3c4f1e9b10
			stage development
		}
	}
	reverse_proxy 127.0.0.1:{BACKEND}
}
`

// seenRequest is what the recording backend got: headers, and the
// trailers after it read the whole body.
type seenRequest struct {
	Method  string
	URI     string
	Header  http.Header
	Trailer http.Header
}

// headerRecorder is a backend that keeps every request it receives.
type headerRecorder struct {
	mu   sync.Mutex
	seen []seenRequest
}

func (rec *headerRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body) // net/http fills r.Trailer at the end
	rec.mu.Lock()
	rec.seen = append(rec.seen, seenRequest{r.Method, r.RequestURI, r.Header.Clone(), r.Trailer.Clone()})
	rec.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"ok":true}`)
}

func (rec *headerRecorder) count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.seen)
}

func (rec *headerRecorder) last(t *testing.T) seenRequest {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.seen) == 0 {
		t.Fatal("nothing reached the backend")
	}
	return rec.seen[len(rec.seen)-1]
}

type forwardingServer struct {
	*server
	wsSite string // host:port of the site with app_session_websockets
	rec    *headerRecorder
}

func startForwardingServer(t *testing.T) *forwardingServer {
	t.Helper()
	rec := &headerRecorder{}
	backend := httptest.NewServer(rec)
	t.Cleanup(backend.Close)
	backendPort, _ := strconv.Atoi(backend.URL[strings.LastIndex(backend.URL, ":")+1:])
	f := &forwardingServer{server: &server{dir: t.TempDir(), backend: backendPort}, rec: rec}
	f.start(t, func(p *testcaddy.Ports) string {
		ws := p.Port("ws")
		f.wsSite = fmt.Sprintf("127.0.0.1:%d", ws)
		return strings.NewReplacer(
			"{GLOBALS}", testcaddy.Globals(f.admin, "servers {\n\t\tprotocols h1 h2c\n\t}"),
			"{PORT}", strconv.Itoa(f.port), "{WS_PORT}", strconv.Itoa(ws),
			"{BACKEND}", strconv.Itoa(f.server.backend), "{DIR}", f.dir,
		).Replace(forwardingCaddyfile)
	})
	return f
}

// raw sends request, exactly as written, on a new connection to addr and
// reads the answer: for what Go's client would not send (a Connection that
// names headers, undeclared trailers).
func raw(t *testing.T, addr, request string) reply {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(conn, strings.ReplaceAll(request, "\n", "\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	line, _, _ := strings.Cut(request, "\n")
	return reply{Method: line, Status: resp.StatusCode, Header: resp.Header, Body: body}
}

func identityOf(h http.Header) whoami {
	return whoami{UserID: h.Get("X-Cube-User-Id"), AppID: h.Get("X-Cube-App-Id"),
		Login: h.Get("X-Cube-User-Login"), SessionType: h.Get("X-Cube-Session-Type")}
}

func wantNoIdentityTrailer(t *testing.T, seen seenRequest) {
	t.Helper()
	for k := range seen.Trailer {
		if strings.HasPrefix(strings.ToLower(k), "x-cube-") {
			t.Fatalf("the backend got the trailer %s: %v", k, seen.Trailer)
		}
	}
}

// TestForwardedRequestsKeepTheirIdentityWhateverTheClientSends runs the
// forwarding hygiene of issue 12 through a real Caddy and reverse_proxy:
// a Connection header naming the identity headers, identity trailers over
// HTTP/1.1 chunked bodies and h2c, ambiguous user_id on upgrades,
// app-session upgrades and method overrides.
func TestForwardedRequestsKeepTheirIdentityWhateverTheClientSends(t *testing.T) {
	t.Parallel()
	srv := startForwardingServer(t)
	c := newClient(t, srv.server)
	addr := strings.TrimPrefix(srv.URL, "http://")
	login := "fwd" + uniqueSuffix(t)
	user := decodeSession(t, c.postJSON("/session.json", map[string]any{
		"application_id": devAppID, "auth_key": devAuthKey,
		"user": map[string]string{"login": login, "password": "supersecret1"},
	}).want(t, http.StatusCreated))
	uid := strconv.FormatInt(*user.UserID, 10)
	app := decodeSession(t, c.postJSON("/session.json", map[string]any{
		"application_id": devAppID, "auth_key": devAuthKey,
	}).want(t, http.StatusCreated))
	wantUser := whoami{UserID: uid, AppID: "1", Login: login, SessionType: "user"}

	t.Run("Connection naming the identity headers still delivers them", func(t *testing.T) {
		for _, conn := range []string{
			"X-Cube-User-Id",
			"keep-alive, x-cube-user-id, X-CUBE-APP-ID, X-Cube-User-Login, X-Cube-Session-Type",
		} {
			raw(t, addr, "GET /whoami HTTP/1.1\nHost: "+addr+"\nCB-Token: "+user.Token+"\nConnection: "+conn+"\n\n").want(t, http.StatusOK)
			if got := identityOf(srv.rec.last(t).Header); got != wantUser {
				t.Fatalf("Connection: %s: the backend got %+v, want %+v", conn, got, wantUser)
			}
		}
		// Positive control: reverse_proxy does drop what Connection names.
		raw(t, addr, "GET /whoami HTTP/1.1\nHost: "+addr+"\nCB-Token: "+user.Token+"\nConnection: X-Other\nX-Other: 1\n\n").want(t, http.StatusOK)
		if v := srv.rec.last(t).Header.Get("X-Other"); v != "" {
			t.Fatalf("reverse_proxy forwarded X-Other although Connection named it: the test proves nothing")
		}
	})

	chunked := func(trailerDecl, trailers string) string {
		req := "POST /whoami HTTP/1.1\nHost: " + addr + "\nCB-Token: " + user.Token + "\nTransfer-Encoding: chunked\n"
		if trailerDecl != "" {
			req += "Trailer: " + trailerDecl + "\n"
		}
		return req + "\n2\n{}\n0\n" + trailers + "\n"
	}

	t.Run("HTTP/1.1: a declared identity trailer is refused", func(t *testing.T) {
		before := srv.rec.count()
		for _, decl := range []string{"X-Cube-User-Id", "X-Checksum, x-cube-app-id"} {
			r := raw(t, addr, chunked(decl, "X-Cube-User-Id: 1\n")).want(t, http.StatusBadRequest)
			r.wantErrorShape(t)
		}
		if srv.rec.count() != before {
			t.Fatal("a request declaring an identity trailer reached the backend")
		}
	})

	t.Run("HTTP/1.1: undeclared identity trailers are removed", func(t *testing.T) {
		raw(t, addr, chunked("X-Checksum", "X-Checksum: abc\nX-Cube-User-Id: 1\nX-Cube-Session-Type: user\n")).want(t, http.StatusOK)
		seen := srv.rec.last(t)
		// Positive control: trailers do travel through reverse_proxy.
		if seen.Trailer.Get("X-Checksum") != "abc" {
			t.Fatalf("the declared X-Checksum trailer did not arrive (%v): the test proves nothing", seen.Trailer)
		}
		wantNoIdentityTrailer(t, seen)
		if got := identityOf(seen.Header); got != wantUser {
			t.Fatalf("the backend got %+v, want %+v", got, wantUser)
		}
		raw(t, addr, chunked("", "X-Cube-User-Id: 1\n")).want(t, http.StatusOK)
		wantNoIdentityTrailer(t, srv.rec.last(t))
	})

	t.Run("h2c: a declared identity trailer is refused, others pass", func(t *testing.T) {
		var protocols http.Protocols
		protocols.SetUnencryptedHTTP2(true)
		h2c := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{Protocols: &protocols}}
		post := func(trailer http.Header) *http.Response {
			t.Helper()
			body := io.MultiReader(strings.NewReader("{}"))
			req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL+whoamiPath, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("CB-Token", user.Token)
			req.Trailer = trailer
			resp, err := h2c.Do(req)
			if err != nil {
				t.Fatalf("h2c request: %v", err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != 2 {
				t.Fatalf("answered over %s, want HTTP/2", resp.Proto)
			}
			resp.Body = io.NopCloser(bytes.NewReader(b))
			return resp
		}
		before := srv.rec.count()
		resp := post(http.Header{"X-Cube-User-Id": {"1"}})
		var errs map[string]any
		if resp.StatusCode != http.StatusBadRequest || json.NewDecoder(resp.Body).Decode(&errs) != nil || errs["errors"] == nil {
			t.Fatalf("h2c identity trailer: %d, want 400 in ConnectyCube's shape", resp.StatusCode)
		}
		if srv.rec.count() != before {
			t.Fatal("an h2c request declaring an identity trailer reached the backend")
		}
		if resp := post(http.Header{"X-Checksum": {"abc"}}); resp.StatusCode != http.StatusOK {
			t.Fatalf("h2c with another trailer: %d", resp.StatusCode)
		}
		seen := srv.rec.last(t)
		if seen.Trailer.Get("X-Checksum") != "abc" {
			t.Fatalf("the h2c X-Checksum trailer did not arrive (%v): the test proves nothing", seen.Trailer)
		}
		wantNoIdentityTrailer(t, seen)
	})

	t.Run("h2c: trailers that arrive after cubeauth's own answer cost the client nothing", func(t *testing.T) {
		// The order a fast client produces by chance (CI saw it fail an
		// unrelated request): headers declaring a trailer, then, once the
		// server has had time to answer, the body and the trailer, then
		// another request on the same connection. cubeauth answers the
		// first itself: a refusal, or an endpoint that reads no body.
		for _, tc := range []struct {
			method, path, token, trailer string
			want                         int
		}{
			{"POST", whoamiPath, user.Token, "X-Cube-User-Id", http.StatusBadRequest},
			{"POST", whoamiPath, "bogus" + user.Token[5:], "X-Checksum", http.StatusUnauthorized},
			{"OPTIONS", "/session.json", user.Token, "X-Checksum", http.StatusNoContent},
		} {
			c := dialH2C(t, addr)
			c.headers(1, false, ":method", tc.method, ":scheme", "http", ":authority", addr, ":path", tc.path,
				"cb-token", tc.token, "trailer", tc.trailer, "origin", "https://app.example", "access-control-request-method", "POST")
			time.Sleep(200 * time.Millisecond)
			c.data(1, false, "{}")
			c.headers(1, true, strings.ToLower(tc.trailer), "1")
			c.headers(3, true, ":method", "GET", ":scheme", "http", ":authority", addr, ":path", whoamiPath,
				"cb-token", user.Token)
			if got := c.status(1); got != tc.want {
				t.Fatalf("trailer %s: got %d, want %d", tc.trailer, got, tc.want)
			}
			if got := c.status(3); got != http.StatusOK {
				t.Fatalf("after the %d: the next request on the connection got %d, want 200", tc.want, got)
			}
		}
	})

	upgrade := func(site, query, token string) reply {
		return raw(t, site, "GET /chat?"+query+" HTTP/1.1\nHost: "+site+"\nCB-Token: "+token+
			"\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Version: 13\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\n\n")
	}

	t.Run("an upgrade with a duplicate or malformed user_id is refused", func(t *testing.T) {
		before := srv.rec.count()
		for _, q := range []string{"user_id=" + uid + "&user_id=999999", "user_id=999999&user_id=" + uid, "user_id=abc", "user_id=0" + uid} {
			upgrade(addr, q, user.Token).want(t, http.StatusBadRequest).wantErrorShape(t)
		}
		upgrade(addr, "user_id=999999", user.Token).want(t, http.StatusForbidden).wantErrorShape(t)
		if srv.rec.count() != before {
			t.Fatal("a refused upgrade reached the backend")
		}
		upgrade(addr, "user_id="+uid, user.Token).want(t, http.StatusOK)
		if got := identityOf(srv.rec.last(t).Header); got != wantUser {
			t.Fatalf("the upgrade reached the backend as %+v", got)
		}
	})

	t.Run("an app session gets no upgrade unless the site allows it", func(t *testing.T) {
		before := srv.rec.count()
		upgrade(addr, "room=1", app.Token).want(t, http.StatusForbidden).wantBody(t, `{"errors":{"base":["Forbidden. Need user."]}}`)
		if srv.rec.count() != before {
			t.Fatal("an app session's upgrade reached the backend")
		}
		// Another protocol's offer goes on as the plain read it also is.
		raw(t, addr, "GET /whoami HTTP/1.1\nHost: "+addr+"\nCB-Token: "+app.Token+
			"\nUpgrade: h2c\nConnection: Upgrade, HTTP2-Settings\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\n\n").want(t, http.StatusOK)
		if got := srv.rec.last(t).Header.Get("Upgrade"); got != "" {
			t.Fatalf("an app session's Upgrade: %s reached the backend", got)
		}
		upgrade(srv.wsSite, "room=1", app.Token).want(t, http.StatusOK)
		if got := srv.rec.last(t).Header.Get("X-Cube-Session-Type"); got != "app" {
			t.Fatalf("with app_session_websockets the upgrade arrived as session type %q", got)
		}
	})

	t.Run("an app session's method overrides never reach the backend", func(t *testing.T) {
		overrides := []string{"X-HTTP-Method-Override", "DELETE", "X-HTTP-Method", "DELETE", "X-Method-Override", "DELETE"}
		c.do(http.MethodGet, whoamiPath, nil, append(overrides, "CB-Token", app.Token)...).want(t, http.StatusOK)
		for _, k := range []string{"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"} {
			if v := srv.rec.last(t).Header.Get(k); v != "" {
				t.Errorf("the backend got %s: %s from an app session", k, v)
			}
		}
		// Positive control: a user session's override arrives.
		c.do(http.MethodGet, whoamiPath, nil, append(overrides, "CB-Token", user.Token)...).want(t, http.StatusOK)
		if v := srv.rec.last(t).Header.Get("X-HTTP-Method-Override"); v != "DELETE" {
			t.Fatalf("a user session's override arrived as %q: the test proves nothing", v)
		}
	})
}

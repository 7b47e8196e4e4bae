package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/cubeauth/cubeauth/examples/chat"
	"github.com/cubeauth/cubeauth/internal/testcaddy"
)

// chatCaddyfile puts cubeauth in front of the example chat backend, exactly
// as examples/chat/README.md shows.
const chatCaddyfile = `{GLOBALS}
http://127.0.0.1:{PORT} {
	cubeauth {
		storage badger {DIR}/data
		app 1 {
			auth_key 6f1c2b8e-0d4a-4c55-9a57-2a3c4f1e9b10
			stage development
		}
	}
	reverse_proxy {CHAT}
}
`

// chatPath is where the test dials; the backend serves every path.
const chatPath = "/chat"

// upgradeRecorder wraps the chat backend and keeps what the upgrades that
// reached it carried, so the test can check what the sidecar passed on.
type upgradeRecorder struct {
	next http.Handler
	mu   sync.Mutex
	seen []*http.Request // clones, taken before the handler runs
}

func (u *upgradeRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.seen = append(u.seen, r.Clone(context.Background()))
	u.mu.Unlock()
	u.next.ServeHTTP(w, r)
}

func (u *upgradeRecorder) requests() []*http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]*http.Request(nil), u.seen...)
}

// chatServer is Caddy with cubeauth in front of an in-process chat backend.
type chatServer struct {
	http    *client // plain HTTP to the sidecar
	wsURL   string  // ws:// origin of the sidecar
	backend *upgradeRecorder
}

func startChatServer(t *testing.T) *chatServer {
	t.Helper()
	rec := &upgradeRecorder{next: chat.New(chat.Options{})}
	backend := httptest.NewServer(rec)
	t.Cleanup(backend.Close)

	dir := t.TempDir()
	caddy := testcaddy.StartOnFreePorts(t, func(p *testcaddy.Ports) string {
		return strings.NewReplacer(
			"{GLOBALS}", testcaddy.Globals(p.Port("admin")),
			"{PORT}", strconv.Itoa(p.Port("site")),
			"{DIR}", dir,
			"{CHAT}", strings.TrimPrefix(backend.URL, "http://"),
		).Replace(chatCaddyfile)
	})

	origin := fmt.Sprintf("127.0.0.1:%d", caddy.Port("site"))
	return &chatServer{
		http:    &client{t: t, base: "http://" + origin, http: &http.Client{Timeout: 15 * time.Second}},
		wsURL:   "ws://" + origin,
		backend: rec,
	}
}

// login creates (development stage) and logs in a user, returning its session.
func (s *chatServer) login(t *testing.T, login string) session {
	t.Helper()
	r := s.http.postJSON("/session.json", map[string]any{
		"application_id": devAppID,
		"auth_key":       devAuthKey,
		"user":           map[string]string{"login": login, "password": "supersecret1"},
	}).want(t, http.StatusCreated)
	sess := decodeSession(t, r)
	if sess.UserID == nil {
		t.Fatalf("%s: session has no user_id", r)
	}
	return sess
}

// chatURL is the sidecar's chat URL with the given query parameters.
func (s *chatServer) chatURL(token, userID string) string {
	q := url.Values{}
	if token != "" {
		q.Set("token", token)
	}
	if userID != "" {
		q.Set("user_id", userID)
	}
	return s.wsURL + chatPath + "?" + q.Encode()
}

// dialChat opens a WebSocket through the sidecar. It returns the handshake
// response when the sidecar refused the upgrade. Errors are reported without
// the URL, which holds the token.
func dialChat(rawURL string, header http.Header) (*websocket.Conn, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, rawURL, &websocket.DialOptions{HTTPHeader: header})
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	return conn, resp, err
}

// mustDial opens a chat connection that owner (a test or a parent of it)
// closes at its end.
func (s *chatServer) mustDial(t, owner *testing.T, rawURL string, header http.Header) *websocket.Conn {
	t.Helper()
	conn, resp, err := dialChat(rawURL, header)
	if err != nil {
		status := "no response"
		if resp != nil {
			status = resp.Status
		}
		t.Fatalf("opening a chat connection through the sidecar: %v (%s)", err, status)
	}
	owner.Cleanup(func() { conn.CloseNow() })
	return conn
}

// wantUpgradeRefused fails the test unless the sidecar refuses the upgrade with
// status and a ConnectyCube error body.
func wantUpgradeRefused(t *testing.T, rawURL string, header http.Header, status int) {
	t.Helper()
	conn, resp, err := dialChat(rawURL, header)
	if err == nil {
		conn.CloseNow()
		t.Fatalf("the chat connection was opened, want %d", status)
	}
	if resp == nil {
		t.Fatalf("no handshake response (%v), want %d", err, status)
	}
	if resp.StatusCode != status {
		t.Fatalf("refused with %s, want %d", resp.Status, status)
	}
	var b strings.Builder
	if resp.Body != nil {
		buf := make([]byte, 1024)
		n, _ := resp.Body.Read(buf)
		b.Write(buf[:n])
	}
	if !strings.Contains(b.String(), `"errors"`) {
		t.Fatalf("refusal body %q, want ConnectyCube's {\"errors\": ...}", b.String())
	}
}

// nextEvent reads chat events until one of type typ arrives.
func nextEvent(t *testing.T, conn *websocket.Conn, typ string) chat.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		var ev chat.Event
		if err := wsjson.Read(ctx, conn, &ev); err != nil {
			t.Fatalf("waiting for a %q chat event: %v", typ, err)
		}
		if ev.Type == typ {
			return ev
		}
	}
}

// TestChatOverWebSocketThroughTheSidecar runs the example chat backend behind
// a real Caddy with cubeauth: users connect with their session token in the
// query string, see each other's identity exactly as the sidecar injected it,
// and nobody can connect as someone else.
func TestChatOverWebSocketThroughTheSidecar(t *testing.T) {
	t.Parallel()
	s := startChatServer(t)
	suffix := uniqueSuffix(t)
	alice := s.login(t, "alice"+suffix)
	bob := s.login(t, "bob"+suffix)
	aliceID, bobID := strconv.FormatInt(*alice.UserID, 10), strconv.FormatInt(*bob.UserID, 10)
	aliceUser := chat.User{ID: aliceID, Login: "alice" + suffix}
	bobUser := chat.User{ID: bobID, Login: "bob" + suffix}

	top := t // owns the connections that live across subtests
	var aliceConn, bobConn *websocket.Conn
	t.Run("a user connects with token and user_id in the query and is welcomed as itself", func(t *testing.T) {
		aliceConn = s.mustDial(t, top, s.chatURL(alice.Token, aliceID), nil)
		if ev := nextEvent(t, aliceConn, chat.TypeWelcome); *ev.User != aliceUser {
			t.Fatalf("welcomed as %+v, want %+v", *ev.User, aliceUser)
		}
	})
	if aliceConn == nil {
		t.FailNow()
	}

	t.Run("identity headers sent by the client are ignored", func(t *testing.T) {
		forged := http.Header{"X-Cube-User-Id": {aliceID}, "X-Cube-User-Login": {aliceUser.Login}, "X-Cube-App-Id": {"2"}}
		bobConn = s.mustDial(t, top, s.chatURL(bob.Token, bobID), forged)
		if ev := nextEvent(t, bobConn, chat.TypeWelcome); *ev.User != bobUser {
			t.Fatalf("welcomed as %+v, want %+v: a forged header got through", *ev.User, bobUser)
		}
		if ev := nextEvent(t, aliceConn, chat.TypeJoin); *ev.User != bobUser {
			t.Fatalf("alice saw %+v join, want %+v", *ev.User, bobUser)
		}
	})
	if bobConn == nil {
		t.FailNow()
	}

	t.Run("a message reaches both users with the sender's injected identity", func(t *testing.T) {
		ctx := context.Background()
		if err := wsjson.Write(ctx, aliceConn, chat.Post{Text: "hi bob"}); err != nil {
			t.Fatal(err)
		}
		for name, conn := range map[string]*websocket.Conn{"alice": aliceConn, "bob": bobConn} {
			if ev := nextEvent(t, conn, chat.TypeMessage); *ev.From != aliceUser || ev.Text != "hi bob" {
				t.Fatalf("%s got %q from %+v, want %q from %+v", name, ev.Text, *ev.From, "hi bob", aliceUser)
			}
		}
		if err := wsjson.Write(ctx, bobConn, chat.Post{Text: "hi alice"}); err != nil {
			t.Fatal(err)
		}
		if ev := nextEvent(t, aliceConn, chat.TypeMessage); *ev.From != bobUser || ev.Text != "hi alice" {
			t.Fatalf("alice got %q from %+v, want %q from %+v", ev.Text, *ev.From, "hi alice", bobUser)
		}
	})

	t.Run("the token never reaches the backend", func(t *testing.T) {
		seen := s.backend.requests()
		if len(seen) != 2 {
			t.Fatalf("the backend saw %d upgrades, want 2", len(seen))
		}
		for _, r := range seen {
			if r.URL.Query().Has("token") || r.Header.Get("Cb-Token") != "" || r.Header.Get("Authorization") != "" {
				t.Fatal("the backend received the token (query parameter, CB-Token or Authorization)")
			}
			if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
				t.Fatalf("the backend got Upgrade %q, want websocket", r.Header.Get("Upgrade"))
			}
		}
	})

	t.Run("a CB-Token header works too, for clients that can set headers", func(t *testing.T) {
		conn := s.mustDial(t, t, s.chatURL("", ""), http.Header{"CB-Token": {bob.Token}})
		if ev := nextEvent(t, conn, chat.TypeWelcome); *ev.User != bobUser {
			t.Fatalf("welcomed as %+v, want %+v", *ev.User, bobUser)
		}
		conn.Close(websocket.StatusNormalClosure, "")
	})

	before := len(s.backend.requests())
	t.Run("without a token the upgrade is refused with 401, forged headers or not", func(t *testing.T) {
		wantUpgradeRefused(t, s.chatURL("", ""), nil, http.StatusUnauthorized)
		wantUpgradeRefused(t, s.chatURL("", aliceID), http.Header{"X-Cube-User-Id": {aliceID}, "X-Cube-User-Login": {aliceUser.Login}}, http.StatusUnauthorized)
	})
	t.Run("an unknown token is refused with 401", func(t *testing.T) {
		wantUpgradeRefused(t, s.chatURL(strings.Repeat("0", len(alice.Token)), aliceID), nil, http.StatusUnauthorized)
	})
	t.Run("a user_id that is not the token's user is refused with 403", func(t *testing.T) {
		wantUpgradeRefused(t, s.chatURL(bob.Token, aliceID), nil, http.StatusForbidden)
	})
	t.Run("a revoked session cannot open a new connection", func(t *testing.T) {
		s.http.do(http.MethodDelete, "/session.json", nil, "CB-Token", alice.Token).want(t, http.StatusOK)
		wantUpgradeRefused(t, s.chatURL(alice.Token, aliceID), nil, http.StatusUnauthorized)
	})
	if after := len(s.backend.requests()); after != before {
		t.Errorf("%d refused upgrades reached the backend", after-before)
	}
}

// TestEndingASessionClosesItsOpenChatConnections: a revoked token is not
// only refused at the next upgrade; the connections it already opened are
// cut at once — by logout, by a password change ending other sessions, and
// by deleting the user.
func TestEndingASessionClosesItsOpenChatConnections(t *testing.T) {
	t.Parallel()
	s := startChatServer(t)
	suffix := uniqueSuffix(t)

	cases := []struct {
		name string
		end  func(t *testing.T, sess session, other session)
	}{
		{"logout (DELETE /session)", func(t *testing.T, sess, _ session) {
			s.http.do(http.MethodDelete, "/session.json", nil, "CB-Token", sess.Token).want(t, http.StatusOK)
		}},
		{"a password change through another session", func(t *testing.T, _ session, other session) {
			s.http.do(http.MethodPut, fmt.Sprintf("/users/%d.json", *other.UserID),
				strings.NewReader(`{"user":{"old_password":"supersecret1","password":"supersecret2"}}`),
				"CB-Token", other.Token, "Content-Type", "application/json").want(t, http.StatusOK)
		}},
		{"deleting the user", func(t *testing.T, _ session, other session) {
			s.http.do(http.MethodDelete, fmt.Sprintf("/users/%d.json", *other.UserID), nil, "CB-Token", other.Token).want(t, http.StatusOK)
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			login := fmt.Sprintf("cut%d%s", i, suffix)
			sess := s.login(t, login)
			other := s.login(t, login) // a second session of the same user
			keep := s.login(t, fmt.Sprintf("keep%d%s", i, suffix))
			conn := s.mustDial(t, t, s.chatURL(sess.Token, fmt.Sprint(*sess.UserID)), nil)
			kept := s.mustDial(t, t, s.chatURL(keep.Token, fmt.Sprint(*keep.UserID)), nil)
			nextEvent(t, conn, "welcome")
			nextEvent(t, kept, "welcome")

			tc.end(t, sess, other)

			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			for {
				if _, _, err := conn.Read(ctx); err != nil {
					if ctx.Err() != nil {
						t.Fatal("the connection of the ended session is still open after 5s")
					}
					break // closed by the sidecar
				}
			}
			// Another user's connection is untouched.
			if err := wsjson.Write(context.Background(), kept, map[string]string{"type": "message", "text": "still here"}); err != nil {
				t.Fatalf("the other user's connection was cut too: %v", err)
			}
		})
	}
}

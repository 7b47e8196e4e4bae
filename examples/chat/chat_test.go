package chat_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/cubeauth/cubeauth/examples/chat"
)

// identity returns the headers the sidecar would inject for a user of app 1.
func identity(id, login string) http.Header {
	return http.Header{
		"X-Cube-App-Id":       {"1"},
		"X-Cube-User-Id":      {id},
		"X-Cube-User-Login":   {login},
		"X-Cube-Session-Type": {"user"},
	}
}

func dial(t *testing.T, srv *httptest.Server, hdr http.Header) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{HTTPHeader: hdr})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	return conn
}

// next reads events until one of type typ arrives.
func next(t *testing.T, conn *websocket.Conn, typ string) chat.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		var ev chat.Event
		if err := wsjson.Read(ctx, conn, &ev); err != nil {
			t.Fatalf("waiting for a %q event: %v", typ, err)
		}
		if ev.Type == typ {
			return ev
		}
	}
}

func TestMessagesCarryTheSendersInjectedIdentity(t *testing.T) {
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	srv := httptest.NewServer(chat.New(chat.Options{Now: func() time.Time { return at }}))
	t.Cleanup(srv.Close)

	alice := dial(t, srv, identity("1", "alice"))
	if ev := next(t, alice, chat.TypeWelcome); *ev.User != (chat.User{ID: "1", Login: "alice"}) {
		t.Fatalf("alice's welcome = %+v", ev.User)
	}
	bob := dial(t, srv, identity("2", "bob"))
	next(t, bob, chat.TypeWelcome)
	if ev := next(t, alice, chat.TypeJoin); ev.User.ID != "2" {
		t.Fatalf("alice saw join of %+v, want bob", ev.User)
	}

	ctx := context.Background()
	if err := wsjson.Write(ctx, alice, chat.Post{Text: "  hello bob  "}); err != nil {
		t.Fatal(err)
	}
	for name, conn := range map[string]*websocket.Conn{"alice": alice, "bob": bob} {
		ev := next(t, conn, chat.TypeMessage)
		if *ev.From != (chat.User{ID: "1", Login: "alice"}) || ev.Text != "hello bob" || !ev.At.Equal(at) {
			t.Fatalf("%s got %+v from %+v", name, ev, ev.From)
		}
	}

	bob.Close(websocket.StatusNormalClosure, "")
	if ev := next(t, alice, chat.TypeLeave); ev.User.ID != "2" {
		t.Fatalf("alice saw leave of %+v, want bob", ev.User)
	}
}

func TestAppsAreSeparateRooms(t *testing.T) {
	srv := httptest.NewServer(chat.New(chat.Options{}))
	t.Cleanup(srv.Close)

	other := identity("7", "carol")
	other.Set("X-Cube-App-Id", "2")
	carol := dial(t, srv, other)
	next(t, carol, chat.TypeWelcome)
	alice := dial(t, srv, identity("1", "alice"))
	next(t, alice, chat.TypeWelcome)

	ctx := context.Background()
	if err := wsjson.Write(ctx, alice, chat.Post{Text: "app 1 only"}); err != nil {
		t.Fatal(err)
	}
	next(t, alice, chat.TypeMessage)
	if err := wsjson.Write(ctx, carol, chat.Post{Text: "app 2 only"}); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, carol, chat.TypeMessage); ev.Text != "app 2 only" {
		t.Fatalf("carol (app 2) saw %q, a message of app 1", ev.Text)
	}
}

func TestRequestsWithoutAUserAreRefused(t *testing.T) {
	srv := httptest.NewServer(chat.New(chat.Options{}))
	t.Cleanup(srv.Close)

	appSession := http.Header{"X-Cube-App-Id": {"1"}, "X-Cube-Session-Type": {"app"}}
	for _, tc := range []struct {
		name   string
		header http.Header
		want   int
	}{
		{"no identity at all (not behind the sidecar)", nil, http.StatusUnauthorized},
		{"an app session, which has no user", appSession, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{HTTPHeader: tc.header})
			if err == nil {
				conn.CloseNow()
				t.Fatal("connected, want a refusal")
			}
			if resp == nil || resp.StatusCode != tc.want {
				t.Fatalf("got %v (%v), want status %d", resp, err, tc.want)
			}
		})
	}
}

func TestHeaderPrefixFollowsTheSidecar(t *testing.T) {
	srv := httptest.NewServer(chat.New(chat.Options{HeaderPrefix: "X-Auth-"}))
	t.Cleanup(srv.Close)

	conn := dial(t, srv, http.Header{"X-Auth-App-Id": {"1"}, "X-Auth-User-Id": {"5"}, "X-Auth-User-Login": {"eve"}})
	if ev := next(t, conn, chat.TypeWelcome); ev.User.ID != "5" || ev.User.Login != "eve" {
		t.Fatalf("welcome = %+v", ev.User)
	}
}

package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/cubeauth/cubeauth/store"
	"github.com/cubeauth/cubeauth/store/badger"
)

func TestXMPPKickIsParsedAndValidated(t *testing.T) {
	var h Handler
	input := "cubeauth {\n app 1 {\n  xmpp_kick http://127.0.0.1:5281/api {\n   host chat.example.com\n   user admin@chat.example.com\n   password {env.EJABBERD_API_PASSWORD}\n   timeout 2s\n  }\n }\n}"
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err != nil {
		t.Fatal(err)
	}
	want := XMPPKickConfig{URL: "http://127.0.0.1:5281/api", Host: "chat.example.com",
		User: "admin@chat.example.com", Password: "{env.EJABBERD_API_PASSWORD}", Timeout: caddy.Duration(2 * time.Second)}
	if got := h.Apps[0].XMPPKick; got == nil || *got != want {
		t.Fatalf("xmpp_kick parsed as %+v, want %+v", got, want)
	}
	for name, block := range map[string]string{
		"no host":              "xmpp_kick http://127.0.0.1:5281/api",
		"a JID as host":        "xmpp_kick http://127.0.0.1:5281/api {\n host admin@localhost\n }",
		"not http":             "xmpp_kick ftp://127.0.0.1/api {\n host localhost\n }",
		"credentials in url":   "xmpp_kick http://admin:pw@127.0.0.1/api {\n host localhost\n }",
		"user without pw":      "xmpp_kick http://127.0.0.1/api {\n host localhost\n user admin@localhost\n }",
		"unknown subdirective": "xmpp_kick http://127.0.0.1/api {\n host localhost\n resource x\n }",
	} {
		var bad Handler
		if err := bad.UnmarshalCaddyfile(caddyfile.NewTestDispenser("cubeauth {\n app 1 {\n " + block + "\n }\n}")); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestKickUserAnswersOfEveryEjabberdAreCounted(t *testing.T) {
	for answer, want := range map[string]int{`1`: 1, `{"num_resources":2}`: 2, `0`: 0} {
		if n, err := kickedResources([]byte(answer)); err != nil || n != want {
			t.Errorf("%s: %d, %v; want %d", answer, n, err, want)
		}
	}
	for _, answer := range []string{``, `"ok"`, `{"res":1}`} {
		if _, err := kickedResources([]byte(answer)); err == nil {
			t.Errorf("%q counted", answer)
		}
	}
}

// kickRecorder stands in for ejabberd's HTTP API (the real one is in
// e2e/xmpp_test.go): it records the users kick_user is called for.
type kickRecorder struct {
	kicks chan string
	auth  chan string
}

func newKickRecorder(t *testing.T) (*kickRecorder, *httptest.Server) {
	r := &kickRecorder{kicks: make(chan string, 16), auth: make(chan string, 16)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var body map[string]string
		if req.URL.Path != "/api/kick_user" || json.NewDecoder(req.Body).Decode(&body) != nil {
			http.Error(w, "bad call", http.StatusBadRequest)
			return
		}
		r.auth <- req.Header.Get("Authorization")
		r.kicks <- body["user"] + "@" + body["host"]
		w.Write([]byte(`{"num_resources":1}`))
	}))
	t.Cleanup(srv.Close)
	return r, srv
}

// next is the next user kicked; a kick that should not have happened shows
// up here in place of the one the test expects next.
func (r *kickRecorder) next(t *testing.T) string {
	t.Helper()
	select {
	case u := <-r.kicks:
		return u
	case <-time.After(10 * time.Second):
		t.Fatal("no kick_user call within 10s")
		return ""
	}
}

func TestChatStreamsKickTheUsersWhoseChatLoginEnded(t *testing.T) {
	ctx := context.Background()
	st, err := badger.Open(badger.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, id := range []int64{1, 2} {
		if err := st.PutApp(ctx, store.App{ID: id, AuthKey: fmt.Sprintf("key-%d", id)}); err != nil {
			t.Fatal(err)
		}
	}
	rec, api := newKickRecorder(t)
	c := newChatStreams(st, zap.NewNop())
	defer c.close()
	kicker := newXMPPKicker(XMPPKickConfig{URL: api.URL + "/api/", Host: "localhost", User: "admin@localhost", Password: "s3cret"}, caddy.NewReplacer())
	remove := c.addKickers(map[int64]*xmppKicker{1: kicker})

	var hashes byte
	newUser := func(app int64, login string) store.User {
		u := store.User{AppID: app, Login: login, PasswordHash: "hash of " + login}
		if err := st.CreateUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	newSession := func(u store.User) store.Session {
		hashes++
		s := store.Session{TokenHash: store.TokenHash{hashes}, AppID: u.AppID, UserID: u.ID,
			ExpiresAt: time.Now().Add(time.Hour), MaxExpiresAt: time.Now().Add(time.Hour)}
		if err := st.CreateSession(ctx, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	jid := func(u store.User) string { return fmt.Sprintf("%d-%d@localhost", u.ID, u.AppID) }

	ann, bea := newUser(1, "ann"), newUser(1, "bea")
	chat, web := newSession(ann), newSession(ann)
	c.tokenLogin(chat)
	// Ending a session that never logged in to chat kicks nobody; ending
	// the one that did kicks its user, with the configured credentials.
	if err := st.DeleteSession(ctx, web.TokenHash); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteSession(ctx, chat.TokenHash); err != nil {
		t.Fatal(err)
	}
	if got := rec.next(t); got != jid(ann) {
		t.Fatalf("kicked %s, want %s (ann's chat session ended)", got, jid(ann))
	}
	if got := <-rec.auth; !strings.HasPrefix(got, "Basic ") {
		t.Errorf("Authorization %q, want basic authentication", got)
	}

	// A logout rebinds the session to no user: its user is kicked.
	rebound := newSession(bea)
	c.tokenLogin(rebound)
	rebound.UserID = 0
	if err := st.UpdateSession(ctx, rebound); err != nil {
		t.Fatal(err)
	}
	if got := rec.next(t); got != jid(bea) {
		t.Fatalf("kicked %s, want %s (bea logged out)", got, jid(bea))
	}

	// An app without xmpp_kick: nothing remembered, nobody kicked. Then a
	// password login survives a profile change and ends with a password
	// change.
	other := newUser(2, "cat")
	otherChat := newSession(other)
	c.tokenLogin(otherChat)
	if err := st.DeleteSession(ctx, otherChat.TokenHash); err != nil {
		t.Fatal(err)
	}
	c.passwordLogin(bea)
	bea.FullName = "Bea"
	if err := st.UpdateUser(ctx, bea); err != nil {
		t.Fatal(err)
	}
	bea.PasswordHash = "hash of a new password"
	if err := st.UpdateUser(ctx, bea); err != nil {
		t.Fatal(err)
	}
	if got := rec.next(t); got != jid(bea) {
		t.Fatalf("kicked %s, want %s (bea's password changed)", got, jid(bea))
	}

	// Missed events: a reset asks the store about every remembered login.
	missed := newSession(ann)
	c.tokenLogin(missed)
	c.close()
	if err := st.DeleteSession(ctx, missed.TokenHash); err != nil {
		t.Fatal(err)
	}
	c.onEvent(store.Event{Kind: store.EventReset})
	if got := rec.next(t); got != jid(ann) {
		t.Fatalf("kicked %s, want %s (ann's session ended unheard)", got, jid(ann))
	}

	// Once the handler stops, its apps are no longer kicked.
	remove()
	c.onEvent(store.Event{Kind: store.EventUserDeleted, AppID: 1, UserID: ann.ID})
	c.addKickers(map[int64]*xmppKicker{1: kicker})
	c.onEvent(store.Event{Kind: store.EventUserDeleted, AppID: 1, UserID: bea.ID})
	if got := rec.next(t); got != jid(bea) {
		t.Fatalf("kicked %s, want %s (only once a handler declares app 1 again)", got, jid(bea))
	}
}

func TestChatLoginsKeptInTheStoreAreKickedAfterARestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := badger.Open(badger.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{1, 2} {
		if err := st.PutApp(ctx, store.App{ID: id, AuthKey: fmt.Sprintf("key-%d", id)}); err != nil {
			t.Fatal(err)
		}
	}
	rec, api := newKickRecorder(t)
	kicker := newXMPPKicker(XMPPKickConfig{URL: api.URL + "/api/", Host: "localhost"}, caddy.NewReplacer())
	kickers := map[int64]*xmppKicker{1: kicker}
	var users []store.User
	var sessions []store.Session
	for i, login := range []string{"ann", "bea", "cat", "dan", "eve", "fay"} {
		app := int64(1)
		if login == "dan" {
			app = 2 // another handler's app
		}
		u := store.User{AppID: app, Login: login, PasswordHash: "hash"}
		if err := st.CreateUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
		s := store.Session{TokenHash: store.TokenHash{byte(i + 1)}, AppID: app, UserID: u.ID,
			ExpiresAt: time.Now().Add(time.Hour), MaxExpiresAt: time.Now().Add(time.Hour)}
		if err := st.CreateSession(ctx, &s); err != nil {
			t.Fatal(err)
		}
		users, sessions = append(users, u), append(sessions, s)
	}
	jid := func(u store.User) string { return fmt.Sprintf("%d-%d@localhost", u.ID, u.AppID) }

	// Before the restart: ann, bea and dan log in to chat with their tokens.
	before := newChatStreams(st, zap.NewNop())
	before.addKickers(kickers)
	before.addKickers(map[int64]*xmppKicker{2: kicker})
	<-before.loaded
	before.tokenLogin(sessions[0])
	before.tokenLogin(sessions[1])
	before.tokenLogin(sessions[3])
	// eve and fay log in to chat with their passwords.
	before.passwordLogin(users[4])
	before.passwordLogin(users[5])
	before.close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// While the node is down, ann and dan log out and eve changes her
	// password: nobody hears it.
	if st, err = badger.Open(badger.Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, s := range []store.Session{sessions[0], sessions[3]} {
		if err := st.DeleteSession(ctx, s.TokenHash); err != nil {
			t.Fatal(err)
		}
	}
	users[4].PasswordHash = "a new hash"
	if err := st.UpdateUser(ctx, users[4]); err != nil {
		t.Fatal(err)
	}
	after := newChatStreams(st, zap.NewNop())
	defer after.close()
	after.addKickers(kickers)
	kicked := map[string]bool{rec.next(t): true, rec.next(t): true}
	if !kicked[jid(users[0])] || !kicked[jid(users[4])] {
		t.Fatalf("after the restart, kicked %v, want %s and %s (ann logged out, eve changed her password while the node was down)",
			kicked, jid(users[0]), jid(users[4]))
	}
	// App 2's handler starts later: dan's logout is found then.
	<-after.loaded
	after.addKickers(map[int64]*xmppKicker{2: kicker})
	if got := rec.next(t); got != jid(users[3]) {
		t.Fatalf("once app 2's handler started, kicked %s, want %s (dan logged out while the node was down)", got, jid(users[3]))
	}
	// bea's login was remembered across the restart; cat never chatted.
	<-after.loaded
	for _, s := range []store.Session{sessions[2], sessions[1]} {
		if err := st.DeleteSession(ctx, s.TokenHash); err != nil {
			t.Fatal(err)
		}
	}
	if got := rec.next(t); got != jid(users[1]) {
		t.Fatalf("kicked %s, want %s (bea's chat session ended after the restart)", got, jid(users[1]))
	}
	// fay's password login was remembered across the restart too.
	users[5].PasswordHash = "another new hash"
	if err := st.UpdateUser(ctx, users[5]); err != nil {
		t.Fatal(err)
	}
	if got := rec.next(t); got != jid(users[5]) {
		t.Fatalf("kicked %s, want %s (fay changed her password after the restart)", got, jid(users[5]))
	}
	// What was kicked is no longer kept.
	deadline := time.Now().Add(5 * time.Second)
	for {
		logins, err := st.ListChatLogins(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(logins) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store still keeps %d chat logins of ended sessions", len(logins))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

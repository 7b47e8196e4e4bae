// Package chat is an example WebSocket chat backend for cubeauth. It has no
// authentication of its own: it trusts only the identity headers that the
// cubeauth sidecar injects (X-Cube-User-Id, X-Cube-User-Login, X-Cube-App-Id)
// and which no client can forge, because the sidecar deletes every client copy
// of them. Run it only behind the sidecar, listening on loopback.
//
// Clients open a WebSocket through the sidecar with the session token in the
// query string, since browsers cannot set headers on a WebSocket handshake:
//
//	ws://localhost:8080/chat?token=<session token>&user_id=<user id>
//
// The sidecar checks the token (and that user_id, when present, is the
// token's user), removes the token from the URL and forwards the upgrade.
//
// Wire format: JSON text messages. A client sends {"text":"hello"}; the
// server sends, in this order, a welcome with the client's own identity, then
// join, message and leave events of the room. Each application (X-Cube-App-Id)
// is its own room, so users of different apps never see each other:
//
//	{"type":"welcome","user":{"id":"42","login":"alice"}}
//	{"type":"join","user":{"id":"43","login":"bob"}}
//	{"type":"message","from":{"id":"42","login":"alice"},"text":"hello","at":"2025-01-01T12:00:00Z"}
//	{"type":"leave","user":{"id":"43","login":"bob"}}
package chat

import (
	"context"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// Event types the server sends.
const (
	TypeWelcome = "welcome"
	TypeJoin    = "join"
	TypeMessage = "message"
	TypeLeave   = "leave"
)

// User is an identity as the sidecar injected it.
type User struct {
	ID    string `json:"id"`
	Login string `json:"login"`
}

// Event is one message from the server to a client.
type Event struct {
	Type string    `json:"type"`
	User *User     `json:"user,omitempty"` // welcome, join, leave
	From *User     `json:"from,omitempty"` // message
	Text string    `json:"text,omitempty"` // message
	At   time.Time `json:"at,omitzero"`    // message
}

// Post is one message from a client to the server.
type Post struct {
	Text string `json:"text"`
}

// Options configures a [Server]. The zero value is usable.
type Options struct {
	// HeaderPrefix is the prefix of the identity headers, as configured in the
	// sidecar's header_prefix. Default: "X-Cube-".
	HeaderPrefix string
	// OriginPatterns lists the browser origins allowed to connect besides the
	// request's own host (see github.com/coder/websocket's AcceptOptions).
	// Default: same origin only; clients that send no Origin (non-browsers)
	// are always allowed.
	OriginPatterns []string
	// MaxMessageBytes bounds one client message. Default: 8192.
	MaxMessageBytes int64
	// SendQueue is how many events may wait for a slow client before it is
	// disconnected. Default: 64.
	SendQueue int
	// WriteTimeout bounds the writing of one event to a client. Default: 10s.
	WriteTimeout time.Duration
	// Now is the clock that stamps messages. Default: time.Now.
	Now func() time.Time
}

// Server is the chat backend, an [http.Handler] serving WebSocket upgrades.
type Server struct {
	opts                     Options
	userID, userLogin, appID string

	mu    sync.Mutex
	rooms map[string]map[*client]struct{} // by app ID
}

// client is one open connection.
type client struct {
	user User
	send chan Event
	// gone is closed when the client is dropped for being too slow.
	gone     chan struct{}
	goneOnce sync.Once
}

func (c *client) drop() { c.goneOnce.Do(func() { close(c.gone) }) }

// New returns a chat server.
func New(opts Options) *Server {
	if opts.HeaderPrefix == "" {
		opts.HeaderPrefix = "X-Cube-"
	}
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = 8192
	}
	if opts.SendQueue <= 0 {
		opts.SendQueue = 64
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	canon := textproto.CanonicalMIMEHeaderKey
	return &Server{
		opts:      opts,
		userID:    canon(opts.HeaderPrefix + "User-Id"),
		userLogin: canon(opts.HeaderPrefix + "User-Login"),
		appID:     canon(opts.HeaderPrefix + "App-Id"),
		rooms:     make(map[string]map[*client]struct{}),
	}
}

// ServeHTTP upgrades an authenticated request to a chat connection. Without
// the injected identity it answers 401 (the request did not come through the
// sidecar) or 403 (an app session, which has no user).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user := User{ID: r.Header.Get(s.userID), Login: r.Header.Get(s.userLogin)}
	app := r.Header.Get(s.appID)
	switch {
	case app == "":
		http.Error(w, "no identity: this backend must run behind the cubeauth sidecar", http.StatusUnauthorized)
		return
	case user.ID == "":
		http.Error(w, "chat needs a user session", http.StatusForbidden)
		return
	}
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: s.opts.OriginPatterns})
	if err != nil {
		return // Accept has answered the client
	}
	defer conn.CloseNow()
	conn.SetReadLimit(s.opts.MaxMessageBytes)

	c := &client{user: user, send: make(chan Event, s.opts.SendQueue), gone: make(chan struct{})}
	c.send <- Event{Type: TypeWelcome, User: &c.user} // first, before any room event
	s.join(app, c)
	defer s.leave(app, c)

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go s.writeLoop(ctx, conn, c, cancel)

	for {
		var p Post
		// wsjson closes the connection itself on a message that is not JSON.
		if err := wsjson.Read(ctx, conn, &p); err != nil {
			return
		}
		if text := strings.TrimSpace(p.Text); text != "" {
			s.broadcast(app, Event{Type: TypeMessage, From: &c.user, Text: text, At: s.opts.Now().UTC()})
		}
	}
}

// writeLoop sends queued events until the connection ends or the client is
// dropped; then it cancels the read side too.
func (s *Server) writeLoop(ctx context.Context, conn *websocket.Conn, c *client, cancel context.CancelFunc) {
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.gone:
			conn.Close(websocket.StatusPolicyViolation, "too slow")
			return
		case ev := <-c.send:
			wctx, wcancel := context.WithTimeout(ctx, s.opts.WriteTimeout)
			err := wsjson.Write(wctx, conn, ev)
			wcancel()
			if err != nil {
				return
			}
		}
	}
}

func (s *Server) join(app string, c *client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	room := s.rooms[app]
	if room == nil {
		room = make(map[*client]struct{})
		s.rooms[app] = room
	}
	s.deliverLocked(room, Event{Type: TypeJoin, User: &c.user})
	room[c] = struct{}{}
}

func (s *Server) leave(app string, c *client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	room := s.rooms[app]
	delete(room, c)
	if len(room) == 0 {
		delete(s.rooms, app)
		return
	}
	s.deliverLocked(room, Event{Type: TypeLeave, User: &c.user})
}

func (s *Server) broadcast(app string, ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deliverLocked(s.rooms[app], ev)
}

// deliverLocked queues ev for every client of room without blocking: a client
// whose queue is full is dropped rather than slowing everyone down.
func (s *Server) deliverLocked(room map[*client]struct{}, ev Event) {
	for c := range room {
		select {
		case c.send <- ev:
		default:
			c.drop()
		}
	}
}

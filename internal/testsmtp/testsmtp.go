// Package testsmtp is a small mail server for tests: it speaks real SMTP
// over TCP on 127.0.0.1 (EHLO, STARTTLS or implicit TLS with a certificate
// it makes itself, AUTH PLAIN, MAIL, RCPT, DATA), and keeps the messages it
// receives so that a test can read them.
package testsmtp

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options configure a Server.
type Options struct {
	// ImplicitTLS speaks TLS from the first byte (port 465 style) instead
	// of offering STARTTLS.
	ImplicitTLS bool
	// Username and Password, when set, are required (AUTH PLAIN, only
	// over TLS) before MAIL.
	Username, Password string
}

// Message is one mail the server accepted.
type Message struct {
	From string
	To   []string
	// Data is the message as sent after DATA, dot-unstuffed, lines ending
	// in LF.
	Data []byte
	// TLS is whether the message came over TLS; AuthUser who sent it.
	TLS      bool
	AuthUser string
}

// Server is a running mail server.
type Server struct {
	// Addr is host:port on 127.0.0.1.
	Addr string
	// Host and Port are Addr's parts.
	Host string
	Port int

	opts  Options
	ln    net.Listener
	tls   *tls.Config
	caPEM []byte

	mu       sync.Mutex
	messages []Message
	arrived  chan struct{}
	conns    sync.WaitGroup
}

// Start starts a server that stops when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	cert, caPEM, err := selfSigned()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{opts: opts, ln: ln, caPEM: caPEM, arrived: make(chan struct{}, 1000),
		tls: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	s.Addr = ln.Addr().String()
	s.Host = "127.0.0.1"
	s.Port = ln.Addr().(*net.TCPAddr).Port
	go s.accept()
	t.Cleanup(func() {
		ln.Close()
		s.conns.Wait()
	})
	return s
}

// WriteCA writes the server's certificate (its own CA) as PEM into dir and
// returns the file's path, for a client's list of trusted roots.
func (s *Server) WriteCA(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "testsmtp-ca.pem")
	if err := os.WriteFile(path, s.caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Messages returns the messages received so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// WaitFor waits until n messages have arrived in all, and returns them.
func (s *Server) WaitFor(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if m := s.Messages(); len(m) >= n {
			return m
		}
		select {
		case <-s.arrived:
		case <-deadline:
			t.Fatalf("testsmtp: %d messages after %v, want %d", len(s.Messages()), timeout, n)
		}
	}
}

func (s *Server) accept() {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.conns.Add(1)
		go func() {
			defer s.conns.Done()
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(time.Minute))
			if s.opts.ImplicitTLS {
				tc := tls.Server(conn, s.tls)
				if tc.Handshake() != nil {
					return
				}
				conn = tc
			}
			s.serve(conn, s.opts.ImplicitTLS)
		}()
	}
}

// session is the state of one connection.
type session struct {
	conn     net.Conn
	r        *textproto.Reader
	w        *bufio.Writer
	tls      bool
	authUser string
	from     string
	to       []string
}

func (c *session) reply(lines ...string) {
	for _, l := range lines {
		c.w.WriteString(l + "\r\n")
	}
	c.w.Flush()
}

func (s *Server) serve(conn net.Conn, isTLS bool) {
	c := &session{conn: conn, r: textproto.NewReader(bufio.NewReader(conn)), w: bufio.NewWriter(conn), tls: isTLS}
	c.reply("220 testsmtp ESMTP ready")
	for {
		line, err := c.r.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			lines := []string{"250-testsmtp greets " + arg}
			if !c.tls {
				lines = append(lines, "250-STARTTLS")
			}
			if c.tls {
				lines = append(lines, "250-AUTH PLAIN")
			}
			c.reply(append(lines, "250 8BITMIME")...)
		case "HELO":
			c.reply("250 testsmtp")
		case "STARTTLS":
			if c.tls {
				c.reply("503 already in TLS")
				continue
			}
			c.reply("220 go ahead")
			tc := tls.Server(conn, s.tls)
			if tc.Handshake() != nil {
				return
			}
			// RFC 3207: forget everything said before the handshake.
			c = &session{conn: tc, r: textproto.NewReader(bufio.NewReader(tc)), w: bufio.NewWriter(tc), tls: true}
			conn = tc
		case "AUTH":
			s.auth(c, arg)
		case "MAIL":
			if s.opts.Username != "" && c.authUser == "" {
				c.reply("530 5.7.0 authentication required")
				continue
			}
			c.from, c.to = address(arg), nil
			c.reply("250 ok")
		case "RCPT":
			if c.from == "" {
				c.reply("503 MAIL first")
				continue
			}
			c.to = append(c.to, address(arg))
			c.reply("250 ok")
		case "DATA":
			if len(c.to) == 0 {
				c.reply("503 RCPT first")
				continue
			}
			c.reply("354 end with <CRLF>.<CRLF>")
			data, err := io.ReadAll(c.r.DotReader())
			if err != nil {
				return
			}
			s.mu.Lock()
			s.messages = append(s.messages, Message{From: c.from, To: c.to, Data: data, TLS: c.tls, AuthUser: c.authUser})
			s.mu.Unlock()
			s.arrived <- struct{}{}
			c.from, c.to = "", nil
			c.reply("250 queued")
		case "RSET":
			c.from, c.to = "", nil
			c.reply("250 ok")
		case "NOOP":
			c.reply("250 ok")
		case "QUIT":
			c.reply("221 bye")
			return
		default:
			c.reply("502 command not implemented")
		}
	}
}

func (s *Server) auth(c *session, arg string) {
	mech, initial, _ := strings.Cut(arg, " ")
	if !strings.EqualFold(mech, "PLAIN") || !c.tls {
		c.reply("504 only AUTH PLAIN, only over TLS")
		return
	}
	if initial == "" {
		c.reply("334 ")
		var err error
		if initial, err = c.r.ReadLine(); err != nil {
			return
		}
	}
	b, err := base64.StdEncoding.DecodeString(initial)
	parts := strings.Split(string(b), "\x00")
	if err != nil || len(parts) != 3 || parts[1] != s.opts.Username || parts[2] != s.opts.Password || s.opts.Username == "" {
		c.reply("535 5.7.8 authentication failed")
		return
	}
	c.authUser = parts[1]
	c.reply("235 2.7.0 authenticated")
}

// address takes the address out of "FROM:<a@b> SIZE=…".
func address(arg string) string {
	_, rest, _ := strings.Cut(arg, ":")
	rest = strings.TrimSpace(rest)
	if i := strings.IndexByte(rest, '>'); strings.HasPrefix(rest, "<") && i > 0 {
		return rest[1:i]
	}
	return rest
}

// Parsed is a message's headers and its decoded text and HTML parts.
type Parsed struct {
	Header     mail.Header
	Subject    string
	Text, HTML string
}

// Parse decodes m: headers (the subject decoded) and, for a multipart
// message, its text/plain and text/html parts.
func (m Message) Parse() (Parsed, error) {
	msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
	if err != nil {
		return Parsed{}, err
	}
	p := Parsed{Header: msg.Header}
	if p.Subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return p, err
	}
	mediaType, params := "text/plain", map[string]string{}
	if ct := msg.Header.Get("Content-Type"); ct != "" {
		if mediaType, params, err = mime.ParseMediaType(ct); err != nil {
			return p, err
		}
	}
	if !strings.HasPrefix(mediaType, "multipart/") {
		b, err := io.ReadAll(msg.Body)
		p.Text = string(b)
		return p, err
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			return p, nil
		}
		if err != nil {
			return p, err
		}
		var body io.Reader = part
		if strings.EqualFold(part.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
			body = quotedprintable.NewReader(part)
		}
		b, err := io.ReadAll(body)
		if err != nil {
			return p, err
		}
		switch typ, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type")); typ {
		case "text/plain":
			p.Text = string(b)
		case "text/html":
			p.HTML = string(b)
		}
	}
}

// selfSigned makes a certificate for 127.0.0.1 and localhost that is its
// own CA.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "testsmtp"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("making the test certificate: %w", err)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, caPEM, nil
}

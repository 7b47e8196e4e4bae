package caddymodule

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// SMTPConfig is the mail server that password reset mails go through.
type SMTPConfig struct {
	// Host is the mail server's name (also the name its certificate must
	// carry).
	Host string `json:"host"`
	// Port is the server's port. Default: 587 with starttls, 465 with tls,
	// 25 with none.
	Port int `json:"port,omitempty"`
	// TLS is "starttls" (upgrade a plain connection; refused if the server
	// does not offer it), "tls" (implicit TLS from the first byte) or
	// "none" (plain text: only for a relay on the same host). Default:
	// starttls.
	TLS string `json:"tls,omitempty"`
	// Username and Password authenticate with AUTH PLAIN, only ever over
	// TLS or to localhost. Placeholders such as {env.SMTP_PASSWORD} are
	// replaced when the config loads. Default: no authentication.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// From is the sender, such as "Example <no-reply@example.com>".
	From string `json:"from"`
	// CAFile names PEM certificates trusted besides the system's to verify
	// the server (a private relay). Default: the system's roots only.
	CAFile string `json:"ca_file,omitempty"`
	// Timeout bounds one delivery: connecting, TLS, and the whole dialogue.
	// Default: 30s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
}

// Values of SMTPConfig.TLS.
const (
	smtpStartTLS = "starttls"
	smtpTLS      = "tls"
	smtpPlain    = "none"
)

// smtpSender delivers mails to one server with net/smtp.
type smtpSender struct {
	host, addr, tlsMode string
	username, password  string
	from                *mail.Address
	tls                 *tls.Config
	timeout             time.Duration
}

// newSMTPSender checks c and resolves its placeholders.
func newSMTPSender(c *SMTPConfig, repl *caddy.Replacer) (*smtpSender, error) {
	s := &smtpSender{
		host:     repl.ReplaceKnown(c.Host, ""),
		tlsMode:  c.TLS,
		username: repl.ReplaceKnown(c.Username, ""),
		password: repl.ReplaceKnown(c.Password, ""),
		timeout:  time.Duration(c.Timeout),
	}
	if s.host == "" {
		return nil, errors.New("smtp: host is required")
	}
	port := c.Port
	switch s.tlsMode {
	case "", smtpStartTLS:
		s.tlsMode, port = smtpStartTLS, orDefault(port, 587)
	case smtpTLS:
		port = orDefault(port, 465)
	case smtpPlain:
		port = orDefault(port, 25)
	default:
		return nil, fmt.Errorf("smtp: tls must be starttls, tls or none, not %q", c.TLS)
	}
	if port <= 0 || port > 65535 {
		return nil, fmt.Errorf("smtp: port %d is out of range", port)
	}
	s.addr = net.JoinHostPort(s.host, strconv.Itoa(port))
	from, err := mail.ParseAddress(repl.ReplaceKnown(c.From, ""))
	if err != nil {
		return nil, fmt.Errorf("smtp: from must be a mail address such as \"Example <no-reply@example.com>\": %w", err)
	}
	s.from = from
	if (s.username == "") != (s.password == "") {
		return nil, errors.New("smtp: username and password go together")
	}
	if s.timeout <= 0 {
		s.timeout = 30 * time.Second
	}
	s.tls = &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(repl.ReplaceKnown(c.CAFile, ""))
		if err != nil {
			return nil, fmt.Errorf("smtp: reading ca_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("smtp: ca_file holds no PEM certificate")
		}
		s.tls.RootCAs = pool
	}
	return s, nil
}

// orDefault is v, or def when v is zero.
func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// send delivers msg (headers and body, CRLF lines) to one recipient.
func (s *smtpSender) send(ctx context.Context, to string, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	dialer := &net.Dialer{}
	var conn net.Conn
	var err error
	if s.tlsMode == smtpTLS {
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: s.tls}).DialContext(ctx, "tcp", s.addr)
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", s.addr)
	}
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", s.addr, err)
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("greeting from %s: %w", s.addr, err)
	}
	defer c.Close()
	if s.tlsMode == smtpStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fmt.Errorf("%s does not offer STARTTLS (set tls none only for a local relay)", s.addr)
		}
		if err := c.StartTLS(s.tls); err != nil {
			return fmt.Errorf("STARTTLS with %s: %w", s.addr, err)
		}
	}
	if s.username != "" {
		// PlainAuth itself refuses to send the password unencrypted to
		// anything but localhost.
		if err := c.Auth(smtp.PlainAuth("", s.username, s.password, s.host)); err != nil {
			return fmt.Errorf("authenticating with %s: %w", s.addr, err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("sending the message: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("sending the message: %w", err)
	}
	return c.Quit()
}

// mailMessage is one mail with a plain text and an HTML body.
type mailMessage struct {
	From     *mail.Address
	To       string
	Subject  string
	Text     string
	HTML     string
	Date     time.Time
	FromHost string // for the Message-ID
}

// bytes renders m as RFC 5322 with a multipart/alternative body, every
// part quoted-printable, lines ending in CRLF.
func (m *mailMessage) bytes() []byte {
	var b bytes.Buffer
	boundary := randomHex(16)
	// A header value never contains a line break, whatever the templates say.
	oneLine := strings.NewReplacer("\r", " ", "\n", " ")
	header := func(name, value string) { fmt.Fprintf(&b, "%s: %s\r\n", name, value) }
	header("From", m.From.String())
	header("To", (&mail.Address{Address: m.To}).String())
	header("Subject", mime.QEncoding.Encode("utf-8", oneLine.Replace(m.Subject)))
	header("Date", m.Date.Format(time.RFC1123Z))
	header("Message-ID", "<"+randomHex(16)+"@"+m.FromHost+">")
	header("MIME-Version", "1.0")
	header("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	b.WriteString("\r\n")
	for _, part := range []struct{ typ, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		b.WriteString("--" + boundary + "\r\n")
		header("Content-Type", part.typ+"; charset=utf-8")
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		qp := quotedprintable.NewWriter(&b)
		_, _ = qp.Write([]byte(strings.ReplaceAll(strings.ReplaceAll(part.body, "\r\n", "\n"), "\n", "\r\n")))
		_ = qp.Close()
		b.WriteString("\r\n")
	}
	b.WriteString("--" + boundary + "--\r\n")
	return b.Bytes()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// fromHost is the domain of the sender's address.
func (s *smtpSender) fromHost() string {
	if _, host, ok := strings.Cut(s.from.Address, "@"); ok {
		return host
	}
	return s.host
}

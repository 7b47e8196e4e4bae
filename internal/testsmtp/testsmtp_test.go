package testsmtp

import (
	"crypto/tls"
	"crypto/x509"
	"net/smtp"
	"strings"
	"testing"
	"time"
)

func TestMailArrivesOverSTARTTLSAndAuthWaitsForTLS(t *testing.T) {
	s := Start(t, Options{Username: "u", Password: "p"})
	c, err := smtp.Dial(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Fatal("AUTH offered before STARTTLS")
	}
	if err := c.Mail("a@example.test"); err == nil || !strings.HasPrefix(err.Error(), "530") {
		t.Fatalf("MAIL before AUTH: %v, want 530", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.caPEM)
	if err := c.StartTLS(&tls.Config{ServerName: "127.0.0.1", RootCAs: pool}); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(smtp.PlainAuth("", "u", "p", "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("a@example.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("b@example.test"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Subject: hi\r\n\r\n.leading dot\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	m := s.WaitFor(t, 1, 5*time.Second)[0]
	p, err := m.Parse()
	if err != nil {
		t.Fatal(err)
	}
	if !m.TLS || m.AuthUser != "u" || m.From != "a@example.test" || m.To[0] != "b@example.test" || p.Subject != "hi" || p.Text != ".leading dot\n" {
		t.Fatalf("got %+v / %+v", m, p)
	}
}

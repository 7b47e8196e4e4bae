package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/internal/testcaddy"
	"github.com/cubeauth/cubeauth/internal/testsmtp"
)

// resetCaddyfile is app 2 (production) with password reset mails through
// the test's SMTP server (STARTTLS, AUTH with a password from the
// environment, its certificate trusted through ca_file), and an access log.
const resetCaddyfile = `{GLOBALS}
http://127.0.0.1:{PORT} {
	log {
		output file {DIR}/access.log
	}
	cubeauth {
		storage badger {DIR}/data
		smtp {
			host 127.0.0.1
			port {SMTP_PORT}
			tls starttls
			username mailer
			password {env.TEST_SMTP_PASSWORD}
			from "Example App <no-reply@example.test>"
			ca_file {CA}
		}
		password_reset {
			link_base_url http://127.0.0.1:{PORT}
			ttl {RESET_TTL}
		}
		app 2 {
			auth_key 0b7f5a2c-3e1d-4f6a-8b9c-1d2e3f4a5b6c
			stage production
			password_reset {
				subject "Reset your Example password"
			}
		}
	}
	respond /whoami 200
}
`

const (
	smtpPassword = "smtp-pass-7d1e"
	resetTTL     = 45 * time.Second
)

// resetServer is Caddy with cubeauth and a mail server.
type resetServer struct {
	*server
	mail *testsmtp.Server
	c    *client
}

func startResetServer(t *testing.T, ttl time.Duration, globals ...string) *resetServer {
	t.Helper()
	mail := testsmtp.Start(t, testsmtp.Options{Username: "mailer", Password: smtpPassword})
	s := &resetServer{server: &server{dir: t.TempDir()}, mail: mail}
	ca := mail.WriteCA(t, s.dir)
	s.start(t, func(p *testcaddy.Ports) string {
		return strings.NewReplacer(
			"{GLOBALS}", testcaddy.Globals(s.admin, globals...), "{PORT}", strconv.Itoa(s.port), "{DIR}", s.dir,
			"{SMTP_PORT}", strconv.Itoa(mail.Port), "{CA}", ca, "{RESET_TTL}", ttl.String(),
		).Replace(resetCaddyfile)
	}, testcaddy.WithEnv("TEST_SMTP_PASSWORD="+smtpPassword))
	s.c = newClient(t, s.server)
	return s
}

// appToken is a new app session of app 2.
func (s *resetServer) appToken(t *testing.T) string {
	t.Helper()
	return decodeSession(t, s.c.postJSON("/session.json", map[string]any{
		"application_id": prodAppID, "auth_key": prodAuthKey,
	}).want(t, http.StatusCreated)).Token
}

// signup creates a user of app 2 with an email and returns its ID.
func (s *resetServer) signup(t *testing.T, login, email, password string) int64 {
	t.Helper()
	r := s.c.postJSON("/users.json", map[string]any{"user": map[string]any{"login": login, "email": email, "password": password}},
		"CB-AuthKey", prodAuthKey).want(t, http.StatusCreated)
	id, err := strconv.ParseInt(fmt.Sprint(r.JSON(t)["user"].(map[string]any)["id"]), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

var resetLinkPattern = regexp.MustCompile(`http://127\.0\.0\.1:\d+/users/password/edit\?token=[0-9a-f]{64}`)

// linkOfMail waits for the n-th mail (from 1), checks it went to email over
// TLS, and returns the link in it.
func (s *resetServer) linkOfMail(t *testing.T, n int, email string) string {
	t.Helper()
	m := s.mail.WaitFor(t, n, 15*time.Second)[n-1]
	if len(m.To) != 1 || m.To[0] != email || !m.TLS || m.AuthUser != "mailer" {
		t.Fatalf("mail %d: to %v, TLS %v, auth %q; want to %s over TLS as mailer", n, m.To, m.TLS, m.AuthUser, email)
	}
	p, err := m.Parse()
	if err != nil {
		t.Fatal(err)
	}
	link := resetLinkPattern.FindString(p.Text)
	if link == "" || !strings.Contains(p.HTML, `href="`+link+`"`) || p.Subject != "Reset your Example password" {
		t.Fatalf("mail %d: subject %q, text %q: want app 2's subject and the link in both parts", n, p.Subject, p.Text)
	}
	return link
}

// pageStatus opens a link like a browser that follows no redirects.
func (s *resetServer) pageStatus(t *testing.T, link string) int {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return s.c.do(http.MethodGet, u.RequestURI(), nil).Status
}

// TestPasswordResetByMailInARealBrowserEndsOldSessionsAndIsSingleUse is the
// whole flow with real parts: the official SDK asks for a reset, a real
// SMTP server receives the mail, headless Chromium follows its link and
// sets a new password, and the SDK logs in with it; the old sessions are
// gone, the link works once, another link expires, a password change or a
// deletion cancels pending links, unknown emails are answered exactly like
// known ones, and no token reaches a log.
func TestPasswordResetByMailInARealBrowserEndsOldSessionsAndIsSingleUse(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH: the password reset test drives the SDK and Chromium under Node 20")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if _, statErr := os.Stat("/usr/bin/chromium"); statErr != nil {
			t.Skip("chromium is not installed (apt-get install -y chromium)")
		}
		chromium = "/usr/bin/chromium"
	}
	dashDir, err := filepath.Abs("dashboard")
	if err != nil {
		t.Fatal(err)
	}
	installNodePackages(t, dashDir, map[string]string{"playwright-core": playwrightVersion})
	sdk := sdkDir(t)
	installNodePackages(t, sdk, sdkVersions)

	srv := startResetServer(t, resetTTL, "debug")
	c := srv.c
	suffix := uniqueSuffix(t)
	bob, carol, dave := "bob"+suffix+"@example.test", "carol"+suffix+"@example.test", "dave"+suffix+"@example.test"
	srv.signup(t, "bob"+suffix, bob, "bob-old-password")
	carolID := srv.signup(t, "carol"+suffix, carol, "carol-old-password")
	daveID := srv.signup(t, "dave"+suffix, dave, "dave-old-password")
	var links []string
	mails := 0
	nextLink := func(email string) string {
		mails++
		link := srv.linkOfMail(t, mails, email)
		links = append(links, link)
		return link
	}

	// A link that will expire, asked for first (GET, as the docs and the
	// Flutter SDK do).
	app := srv.appToken(t)
	c.do(http.MethodGet, "/users/password/reset.json?email="+url.QueryEscape(bob), nil, "CB-Token", app).want(t, http.StatusOK)
	expiring, expiringAt := nextLink(bob), time.Now().Add(resetTTL)

	// Unknown and known emails get the same answer, by every method.
	for _, form := range []struct {
		name string
		send func(email string) reply
	}{
		{"GET ?email=", func(e string) reply {
			return c.do(http.MethodGet, "/users/password/reset?email="+url.QueryEscape(e), nil, "CB-Token", app)
		}},
		{"POST JSON", func(e string) reply {
			return c.postJSON("/users/password/reset.json", map[string]any{"email": e}, "CB-Token", app)
		}},
		{"POST form", func(e string) reply {
			return c.postForm("/users/password/reset", "email="+url.QueryEscape(e), "CB-Token", app)
		}},
	} {
		known, unknown := form.send(carol), form.send("nobody"+suffix+"@example.test")
		if known.Status != http.StatusOK || unknown.Status != known.Status || string(unknown.Body) != string(known.Body) ||
			unknown.Header.Get("Content-Type") != known.Header.Get("Content-Type") ||
			unknown.Header.Get("Content-Length") != known.Header.Get("Content-Length") {
			t.Fatalf("%s: known %s %v, unknown %s %v; want the same 200", form.name, known, known.Header, unknown, unknown.Header)
		}
		nextLink(carol)
	}
	c.do(http.MethodGet, "/users/password/reset?email="+url.QueryEscape(bob), nil).want(t, http.StatusUnauthorized)

	// The official SDK asks for the reset of alice, who has two sessions.
	alice, oldPassword, newPassword := "alice"+suffix+"@example.test", "alice-old-password", "alice-new-password-"+suffix
	srv.signup(t, "alice"+suffix, alice, oldPassword)
	var aliceSessions []string
	for range 2 {
		s := decodeSession(t, c.postJSON("/session.json", map[string]any{"application_id": prodAppID, "auth_key": prodAuthKey,
			"user": map[string]any{"email": alice, "password": oldPassword}}).want(t, http.StatusCreated))
		aliceSessions = append(aliceSessions, s.Token)
	}
	runNode := func(dir, script string, env ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, node, script)
		cmd.Dir = dir
		cmd.Env = append(append(os.Environ(), "CUBEAUTH_URL="+srv.URL, fmt.Sprintf("APP_ID=%d", prodAppID),
			"AUTH_KEY="+prodAuthKey, "LOGIN_SUFFIX="+suffix, "CHROMIUM="+chromium), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("node %s: %v\n%s", script, err, out)
		}
		t.Logf("node %s:\n%s", script, out)
	}
	runNode(sdk, "v6-password-reset.js", "MODE=request", "EMAIL="+alice, "UNKNOWN_EMAIL=nobody-sdk"+suffix+"@example.test")
	link := nextLink(alice)
	if n := len(srv.mail.Messages()); n != mails {
		t.Fatalf("%d mails, want %d: an unknown email got one", n, mails)
	}

	// Chromium follows the link and sets the password; the link then is used up.
	runNode(dashDir, "password-reset.js", "RESET_LINK="+link, "NEW_PASSWORD="+newPassword)
	if got := srv.pageStatus(t, link); got != http.StatusNotFound {
		t.Fatalf("the used link: %d, want 404", got)
	}
	for _, token := range aliceSessions {
		c.do(http.MethodGet, "/session.json", nil, "CB-Token", token).want(t, http.StatusUnauthorized).wantBody(t, expiredSessionBody)
	}
	runNode(sdk, "v6-password-reset.js", "MODE=login", "EMAIL="+alice, "OLD_PASSWORD="+oldPassword, "NEW_PASSWORD="+newPassword)

	// A password changed with PUT /users/{id}, or a deleted user, cancels
	// the pending links.
	carolLinks := links[1:4]
	carolSession := decodeSession(t, c.postJSON("/session.json", map[string]any{"application_id": prodAppID, "auth_key": prodAuthKey,
		"user": map[string]any{"email": carol, "password": "carol-old-password"}}).want(t, http.StatusCreated))
	if got := srv.pageStatus(t, carolLinks[0]); got != http.StatusOK {
		t.Fatalf("carol's pending link: %d, want 200", got)
	}
	c.do(http.MethodPut, fmt.Sprintf("/users/%d.json", carolID),
		strings.NewReader(`{"user":{"password":"carol-new-password","old_password":"carol-old-password"}}`),
		"Content-Type", "application/json", "CB-Token", carolSession.Token).want(t, http.StatusOK)
	for _, l := range carolLinks {
		if got := srv.pageStatus(t, l); got != http.StatusNotFound {
			t.Fatalf("carol's link after PUT /users/{id}: %d, want 404", got)
		}
	}
	c.do(http.MethodGet, "/users/password/reset?email="+url.QueryEscape(dave), nil, "CB-Token", app).want(t, http.StatusOK)
	daveLink := nextLink(dave)
	daveSession := decodeSession(t, c.postJSON("/session.json", map[string]any{"application_id": prodAppID, "auth_key": prodAuthKey,
		"user": map[string]any{"email": dave, "password": "dave-old-password"}}).want(t, http.StatusCreated))
	c.do(http.MethodDelete, fmt.Sprintf("/users/%d.json", daveID), nil, "CB-Token", daveSession.Token).want(t, http.StatusOK)
	if got := srv.pageStatus(t, daveLink); got != http.StatusNotFound {
		t.Fatalf("the link of a deleted user: %d, want 404", got)
	}

	// The first link expires after the ttl.
	if got := srv.pageStatus(t, expiring); got != http.StatusOK {
		t.Fatalf("bob's link before its ttl: %d, want 200 (the test took longer than %v)", got, resetTTL)
	}
	time.Sleep(time.Until(expiringAt) + 2*time.Second)
	if got := srv.pageStatus(t, expiring); got != http.StatusNotFound {
		t.Fatalf("bob's link after its ttl: %d, want 404", got)
	}

	// No token and not the SMTP password in any log, with debug on.
	if err := srv.Caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	access, err := os.ReadFile(filepath.Join(srv.dir, "access.log"))
	if err != nil || !strings.Contains(string(access), "/users/password/reset") {
		t.Fatalf("the access log has no reset request to check: %v", err)
	}
	logs := srv.Caddy.Logs() + string(access)
	for _, l := range links {
		token := l[strings.Index(l, "token=")+len("token="):]
		if strings.Contains(logs, token) || strings.Contains(logs, token[:16]) {
			t.Errorf("a log line contains a reset token")
		}
	}
	if strings.Contains(logs, smtpPassword) {
		t.Error("a log line contains the SMTP password")
	}
}

// TestPasswordResetWithoutSMTPAnswersAClearErrorAndLogsWhyOnce: a server
// with no smtp block refuses reset requests in ConnectyCube's error shape
// and says why in its log, once.
func TestPasswordResetWithoutSMTPAnswersAClearErrorAndLogsWhyOnce(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := newClient(t, srv)
	app := decodeSession(t, c.postJSON("/session.json", map[string]any{"application_id": prodAppID, "auth_key": prodAuthKey}).
		want(t, http.StatusCreated)).Token
	for range 3 {
		c.do(http.MethodGet, "/users/password/reset.json?email=a%40example.test", nil, "CB-Token", app).
			want(t, http.StatusNotImplemented).wantBody(t, `{"errors":{"base":["Password reset by email is not configured on this server"]}}`)
	}
	c.postJSON("/users/password/reset.json", map[string]any{"email": "a@example.test"}, "CB-Token", app).want(t, http.StatusNotImplemented)
	if n := strings.Count(srv.Caddy.Logs(), "no smtp server is configured"); n != 1 {
		t.Fatalf("the reason was logged %d times, want once:\n%s", n, srv.Caddy.Logs())
	}
}

// TestPasswordResetAnswersKnownAndUnknownEmailsInTheSameTime measures GET
// /users/password/reset for emails that have a user and emails that do not,
// interleaved, each from its own client address (X-Forwarded-For from a
// trusted proxy) so that no limit is reached, and logs the medians and
// 90th percentiles side by side. The lookup, the token and the mail happen
// after the answer, so the two must not differ by more than noise.
func TestPasswordResetAnswersKnownAndUnknownEmailsInTheSameTime(t *testing.T) {
	t.Parallel()
	const n = 100
	srv := startResetServer(t, time.Hour, "servers {\n\t\ttrusted_proxies static 127.0.0.1/32\n\t}")
	c := srv.c
	suffix := uniqueSuffix(t)
	app := srv.appToken(t)
	known := make([]string, n)
	for i := range known {
		known[i] = fmt.Sprintf("known%d-%s@example.test", i, suffix)
		c.postJSON("/users.json", map[string]any{"user": map[string]any{"email": known[i], "password": "known-password"}},
			"CB-AuthKey", prodAuthKey, "X-Forwarded-For", fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)).want(t, http.StatusCreated)
	}
	measure := func(email, ip string) time.Duration {
		start := time.Now()
		c.do(http.MethodGet, "/users/password/reset.json?email="+url.QueryEscape(email), nil,
			"CB-Token", app, "X-Forwarded-For", ip).want(t, http.StatusOK)
		return time.Since(start)
	}
	var knownTimes, unknownTimes []time.Duration
	for i := range n {
		// Alternate which goes first: the request after a known one meets
		// that one's mail being sent in the background.
		k := func() { knownTimes = append(knownTimes, measure(known[i], fmt.Sprintf("10.2.%d.%d", i/250, i%250+1))) }
		u := func() {
			unknownTimes = append(unknownTimes, measure(fmt.Sprintf("unknown%d-%s@example.test", i, suffix), fmt.Sprintf("10.3.%d.%d", i/250, i%250+1)))
		}
		if i%2 == 0 {
			k()
			u()
		} else {
			u()
			k()
		}
	}
	srv.mail.WaitFor(t, n, time.Minute) // every known address got its mail; unknown ones none
	km, k90 := percentiles(knownTimes)
	um, u90 := percentiles(unknownTimes)
	t.Logf("GET /users/password/reset, %d requests each, interleaved: known email median %v p90 %v; unknown email median %v p90 %v",
		n, km, k90, um, u90)
	if diff := (km - um).Abs(); diff > max(time.Millisecond, max(km, um)/2) {
		t.Errorf("medians differ by %v: the answer's time tells whether the email exists", diff)
	}
	if got := len(srv.mail.Messages()); got != n {
		t.Errorf("%d mails, want %d (one per known address)", got, n)
	}
}

// percentiles returns the median and the 90th percentile of ds.
func percentiles(ds []time.Duration) (median, p90 time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)*9/10]
}

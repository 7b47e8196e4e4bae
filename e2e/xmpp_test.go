//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	osuser "os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/cubeauth/cubeauth/internal/testcaddy"
)

// The adapter ejabberd runs for external authentication.
const extauthPackage = "github.com/cubeauth/cubeauth/cmd/cubeauth-extauth"

// buildExtauth builds cmd/cubeauth-extauth into dir and returns its path.
func buildExtauth(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "cubeauth-extauth")
	out, err := exec.Command("go", "build", "-o", bin, extauthPackage).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", extauthPackage, err, out)
	}
	return bin
}

// extauthProcess is the adapter run the way ejabberd runs it: requests on its
// stdin, replies on its stdout.
type extauthProcess struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.Reader
	stderr bytes.Buffer
}

func startExtauth(t *testing.T, bin string, args ...string) *extauthProcess {
	t.Helper()
	return startExtauthWith(t, nil, bin, args...)
}

// startExtauthWith starts the adapter with env added to its environment.
func startExtauthWith(t *testing.T, env []string, bin string, args ...string) *extauthProcess {
	t.Helper()
	p := &extauthProcess{cmd: exec.Command(bin, args...)}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = &p.stderr
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if p.stdout, err = p.cmd.StdoutPipe(); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	return p
}

// ask sends one request frame and returns the adapter's answer, 1 or 0.
func (p *extauthProcess) ask(t *testing.T, payload string) int {
	t.Helper()
	req := binary.BigEndian.AppendUint16(nil, uint16(len(payload)))
	if _, err := p.stdin.Write(append(req, payload...)); err != nil {
		t.Fatalf("writing a request: %v", err)
	}
	var reply [4]byte
	if _, err := io.ReadFull(p.stdout, reply[:]); err != nil {
		t.Fatalf("reading the reply: %v (stderr: %s)", err, p.stderr.String())
	}
	if reply[0] != 0 || reply[1] != 2 || reply[2] != 0 || reply[3] > 1 {
		t.Fatalf("reply %v, want [0 2 0 0|1]", reply)
	}
	return int(reply[3])
}

// TestXMPPExtauthAdapterAsksCubeauth runs cmd/cubeauth-extauth against a real
// cubeauth, speaking ejabberd's protocol on its stdin and stdout: only a live
// user session of exactly that user in exactly that app gets a 1.
func TestXMPPExtauthAdapterAsksCubeauth(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := newClient(t, srv)
	suffix := uniqueSuffix(t)
	login := func(name string) session {
		return decodeSession(t, c.postJSON("/session.json", map[string]any{
			"application_id": devAppID, "auth_key": devAuthKey,
			"user": map[string]string{"login": name + suffix, "password": "supersecret1"},
		}).want(t, http.StatusCreated))
	}
	alice, bob := login("xalice"), login("xbob")
	appSession := decodeSession(t, c.postJSON("/session.json", map[string]any{
		"application_id": devAppID, "auth_key": devAuthKey,
	}).want(t, http.StatusCreated))
	aliceJID := fmt.Sprintf("%d-%d", *alice.UserID, devAppID)
	bobJID := fmt.Sprintf("%d-%d", *bob.UserID, devAppID)

	bin := buildExtauth(t, t.TempDir())
	if out, err := exec.Command(bin, "-api", srv.URL).CombinedOutput(); err == nil || !strings.Contains(string(out), "-domains") {
		t.Fatalf("the adapter started without -domains: %v\n%s", err, out)
	}
	p := startExtauth(t, bin, "-api", srv.URL, "-timeout", "10s", "-domains", "localhost", "-v")
	for _, tc := range []struct {
		name, payload string
		want          int
	}{
		{"a user's own live token", "auth:" + aliceJID + ":localhost:" + alice.Token, 1},
		{"a user's own live token for another XMPP domain", "auth:" + aliceJID + ":chat.elsewhere.example:" + alice.Token, 0},
		{"isuser on another XMPP domain", "isuser:" + bobJID + ":chat.elsewhere.example", 0},
		{"another user's token", "auth:" + aliceJID + ":localhost:" + bob.Token, 0},
		{"an app session's token", "auth:" + aliceJID + ":localhost:" + appSession.Token, 0},
		{"the right user id in another app", fmt.Sprintf("auth:%d-%d:localhost:%s", *alice.UserID, prodAppID, alice.Token), 0},
		{"an unknown token", "auth:" + aliceJID + ":localhost:" + strings.Repeat("0", len(alice.Token)), 0},
		{"a login instead of {userId}-{appId}", "auth:xalice" + suffix + ":localhost:" + alice.Token, 0},
		{"isuser for a well-formed user", "isuser:" + bobJID + ":localhost", 1},
		{"isuser for a malformed user", "isuser:bob:localhost", 0},
		{"the user's password, without the secret shared with cubeauth", "auth:" + aliceJID + ":localhost:supersecret1", 0},
		{"setpass", "setpass:" + aliceJID + ":localhost:newpass", 0},
		{"tryregister", "tryregister:" + aliceJID + ":localhost:newpass", 0},
		{"removeuser", "removeuser:" + aliceJID + ":localhost", 0},
	} {
		if got := p.ask(t, tc.payload); got != tc.want {
			t.Errorf("%s: answered %d, want %d", tc.name, got, tc.want)
		}
	}

	// With cubeauth's chat_password_secret, the user's password is accepted.
	withSecret := startExtauthWith(t, []string{"CUBEAUTH_EXTAUTH_SECRET=" + e2eChatSecret}, bin, "-api", srv.URL, "-domains", "localhost")
	for payload, want := range map[string]int{
		"auth:" + aliceJID + ":localhost:supersecret1": 1,
		"auth:" + aliceJID + ":localhost:wrongsecret1": 0,
		"auth:" + bobJID + ":localhost:" + alice.Token: 0,
	} {
		if got := withSecret.ask(t, payload); got != want {
			t.Errorf("with the secret, %s: answered %d, want %d", strings.SplitN(payload, ":", 3)[1], got, want)
		}
	}
	wrongSecret := startExtauthWith(t, []string{"CUBEAUTH_EXTAUTH_SECRET=not-the-secret-at-all"}, bin, "-api", srv.URL, "-domains", "localhost")
	if got := wrongSecret.ask(t, "auth:"+aliceJID+":localhost:supersecret1"); got != 0 {
		t.Errorf("with a wrong secret, the user's password: answered %d, want 0", got)
	}

	c.do(http.MethodDelete, "/session.json", nil, "CB-Token", alice.Token).want(t, http.StatusOK)
	if got := p.ask(t, "auth:"+aliceJID+":localhost:"+alice.Token); got != 0 {
		t.Errorf("a revoked token: answered %d, want 0", got)
	}
	if got := p.ask(t, "auth:"+bobJID+":localhost:"+bob.Token); got != 1 {
		t.Errorf("bob's token after alice logged out: answered %d, want 1", got)
	}

	p.stdin.Close() // ejabberd closing the port
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("the adapter did not exit cleanly at the end of its input: %v\n%s", err, p.stderr.String())
	}
	logs := p.stderr.String()
	for _, token := range []string{alice.Token, bob.Token, appSession.Token} {
		if strings.Contains(logs, token) {
			t.Fatalf("a token appears in the adapter's log:\n%s", logs)
		}
	}
	if !strings.Contains(logs, fmt.Sprintf("auth %q@%q: accepted", aliceJID, "localhost")) {
		t.Errorf("the log does not show the accepted login:\n%s", logs)
	}
	t.Logf("adapter log:\n%s", logs)
}

// TestXMPPChatConnectThroughEjabberd runs the official SDK's chat.connect
// against a real ejabberd (examples/xmpp/ejabberd.yml) whose logins are
// checked by cubeauth through cmd/cubeauth-extauth; see e2e/sdk/chat-connect.js.
func TestXMPPChatConnectThroughEjabberd(t *testing.T) {
	t.Parallel()
	node, ctl, dir := sdkChatPrerequisites(t)

	srv := startServer(t)
	ej := startEjabberd(t, ctl, srv.URL)
	chatURL := fmt.Sprintf("ws://localhost:%d/ws", ej.wsPort)

	t.Run("ejabberd offers only PLAIN, the one mechanism that hands the token to cubeauth", func(t *testing.T) {
		if got := saslMechanisms(t, chatURL, "localhost"); len(got) != 1 || got[0] != "PLAIN" {
			t.Fatalf("ejabberd offers %v, want [PLAIN]", got)
		}
	})

	runChatScript(t, node, dir, "chat-connect.js", srv, chatURL, ej)
	if !strings.Contains(ej.logs(), "accepted") {
		t.Errorf("ejabberd's output does not show the adapter accepting a login:\n%s", ej.logs())
	}
}

// sdkChatPrerequisites returns node, ejabberdctl and e2e/sdk with its
// packages installed, or skips the test when node or ejabberd is missing.
func sdkChatPrerequisites(t *testing.T) (node, ctl, dir string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH: the SDK chat tests need Node 20 (and npm to install e2e/sdk)")
	}
	ctl = findEjabberdctl()
	if ctl == "" {
		t.Skip("ejabberd is not installed (Debian: apt-get install ejabberd, which scripts/setup.sh does as root): skipping the SDK chat test against a real XMPP server")
	}
	dir = sdkDir(t)
	installNodePackages(t, dir, sdkVersions)
	return node, ctl, dir
}

// runChatScript runs e2e/sdk/<script> against srv and ejabberd's chatURL,
// with env added to its environment, and fails the test unless it passes.
func runChatScript(t *testing.T, node, dir, script string, srv *server, chatURL string, ej *ejabberdInstance, env ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(),
		"CUBEAUTH_URL="+srv.URL,
		fmt.Sprintf("APP_ID=%d", devAppID),
		"AUTH_KEY="+devAuthKey,
		"LOGIN_SUFFIX="+uniqueSuffix(t),
		"CHAT_URL="+chatURL,
		"CHAT_DOMAIN=localhost",
	), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node %s: %v\n%s\nejabberd:\n%s", script, err, out, ej.logs())
	}
	t.Logf("node %s:\n%s", script, out)
	return string(out)
}

// TestXMPPRevocationClosesOpenStreams runs the official SDK's chat.connect
// on a real ejabberd with app 1's xmpp_kick pointing at ejabberd's HTTP API
// (examples/xmpp/ejabberd.yml): a logout, a password change, deleting the
// user and an operator's revoke each close the stream within a second,
// and a session that never logged in to chat ends without closing it, and
// a logout or a password change after Caddy crashed and restarted still
// closes a stream that logged in before; see e2e/sdk/chat-revocation.js.
func TestXMPPRevocationClosesOpenStreams(t *testing.T) {
	t.Parallel()
	node, ctl, dir := sdkChatPrerequisites(t)

	apiPort := testcaddy.FreePort(t)
	withKick := xmppKickFor(t, apiPort)
	srv := &server{dir: t.TempDir()}
	srv.start(t, func(p *testcaddy.Ports) string {
		srv.backend = p.Port("backend")
		return withKick(srv.caddyfile("development"))
	})
	ej := startEjabberdPorts(t, ctl, srv.URL, testcaddy.FreePort(t), apiPort)
	chatURL := fmt.Sprintf("ws://localhost:%d/ws", ej.wsPort)

	t.Run("ejabberd's HTTP API offers cubeauth only kick_user", func(t *testing.T) {
		res, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/api/kick_session", apiPort), "application/json",
			strings.NewReader(`{"user":"1-1","host":"localhost","resource":"x","reason":"test"}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			t.Fatalf("kick_session through the API: %s %s, want a refusal", res.Status, body)
		}
	})

	// The script asks here for a crash and restart of Caddy mid-way.
	restart := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := srv.Caddy.KillAndStart(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}))
	t.Cleanup(restart.Close)
	out := runChatScript(t, node, dir, "chat-revocation.js", srv, chatURL, ej,
		fmt.Sprintf("ADMIN_URL=http://127.0.0.1:%d", srv.admin), "RESTART_URL="+restart.URL)
	if n := strings.Count(out, "stream closed"); n != 7 {
		t.Errorf("the script reported %d closed streams, want 7", n)
	}
	logs := srv.Caddy.Logs()
	if !strings.Contains(logs, "ended the user's XMPP streams") {
		t.Errorf("Caddy's log does not show the kicks:\n%s", logs)
	}
}

// TestXMPPFleetRevocationOnAnotherNodeClosesTheStream is
// TestXMPPRevocationClosesOpenStreams on a fleet of two nodes over
// PostgreSQL: ejabberd's adapter asks node 0, the SDK and the operator talk
// to node 1, so every stream is closed by the node that saw its login,
// told of the session's end by the store.
func TestXMPPFleetRevocationOnAnotherNodeClosesTheStream(t *testing.T) {
	t.Parallel()
	node, ctl, dir := sdkChatPrerequisites(t)

	apiPort := testcaddy.FreePort(t)
	f := startFleetWith(t, 2, xmppKickFor(t, apiPort))
	ej := startEjabberdPorts(t, ctl, f.nodes[0].URL, testcaddy.FreePort(t), apiPort)
	chatURL := fmt.Sprintf("ws://localhost:%d/ws", ej.wsPort)
	out := runChatScript(t, node, dir, "chat-revocation.js", f.nodes[1], chatURL, ej,
		fmt.Sprintf("ADMIN_URL=http://127.0.0.1:%d", f.nodes[1].admin))
	if n := strings.Count(out, "stream closed"); n != 5 {
		t.Errorf("the script reported %d closed streams, want 5", n)
	}
	if logs := f.nodes[0].Caddy.Logs(); !strings.Contains(logs, `"why":"session ended"`) {
		t.Errorf("node 0, which saw the chat logins, did not kick for the ended sessions:\n%s", logs)
	}
}

// xmppKickFor returns an edit that adds the xmpp_kick block of
// examples/config/xmpp_kick.caddyfile (the README's), with ejabberd's API
// on apiPort, to app 1 of the e2e Caddyfile.
func xmppKickFor(t *testing.T, apiPort int) func(caddyfile string) string {
	t.Helper()
	kick := xmppKickExample(t, apiPort)
	return func(cf string) string {
		const anchor = "\t\t\tstage development\n"
		if strings.Count(cf, anchor) != 1 {
			t.Fatalf("the e2e Caddyfile has no single line %q to add xmpp_kick after:\n%s", anchor, cf)
		}
		return strings.Replace(cf, anchor, anchor+kick, 1)
	}
}

// xmppKickExample is the xmpp_kick block of
// examples/config/xmpp_kick.caddyfile (the README's), with ejabberd's API
// on apiPort.
func xmppKickExample(t *testing.T, apiPort int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "examples", "config", "xmpp_kick.caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile(`(?s)\t+xmpp_kick .*?\n\t+\}\n`).FindString(string(b))
	if block == "" || strings.Count(block, "5281") != 1 {
		t.Fatalf("examples/config/xmpp_kick.caddyfile has no xmpp_kick block on port 5281:\n%s", b)
	}
	return strings.Replace(block, "5281", strconv.Itoa(apiPort), 1)
}

// saslMechanisms opens an XMPP stream over WebSocket (RFC 7395) to domain
// and returns the SASL mechanisms of the first stream features.
func saslMechanisms(t *testing.T, chatURL, domain string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, chatURL, &websocket.DialOptions{Subprotocols: []string{"xmpp"}})
	if err != nil {
		t.Fatalf("dialing %s: %v", chatURL, err)
	}
	defer conn.CloseNow()
	open := fmt.Sprintf(`<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to=%q version="1.0"/>`, domain)
	if err := conn.Write(ctx, websocket.MessageText, []byte(open)); err != nil {
		t.Fatal(err)
	}
	for {
		_, msg, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for stream features: %v", err)
		}
		if !bytes.Contains(msg, []byte("features")) {
			continue
		}
		var mechs []string
		for _, m := range mechanismElem.FindAllSubmatch(msg, -1) {
			mechs = append(mechs, string(m[1]))
		}
		return mechs
	}
}

var mechanismElem = regexp.MustCompile(`<mechanism>([^<]*)</mechanism>`)

// findEjabberdctl returns the path of ejabberdctl, or "" when ejabberd is
// not installed. Debian puts it in /usr/sbin, which a non-root PATH may lack.
func findEjabberdctl() string {
	if p, err := exec.LookPath("ejabberdctl"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/ejabberdctl"); err == nil {
		return "/usr/sbin/ejabberdctl"
	}
	return ""
}

// ejabberdInstance is an ejabberd node started by startEjabberd.
type ejabberdInstance struct {
	dir     string
	wsPort  int
	apiPort int
	node    string
	adapter string // path of the extauth binary it runs
	console string // file with ejabberd's stdout and stderr

	cmd  *exec.Cmd
	done chan struct{} // closed when ejabberdctl has exited
}

// logs returns ejabberd's console output and its log file.
func (e *ejabberdInstance) logs() string {
	console, _ := os.ReadFile(e.console)
	logFile, _ := os.ReadFile(filepath.Join(e.dir, "logs", "ejabberd.log"))
	return fmt.Sprintf("--- console ---\n%s\n--- ejabberd.log ---\n%s", console, logFile)
}

// startEjabberd runs examples/xmpp/ejabberd.yml, with its WebSocket port, its
// Erlang distribution port and the adapter's path and -api replaced, in a
// fresh directory, as the ejabberd user. It returns once the WebSocket
// listener accepts connections, and stops the node (and checks that no
// process of it is left) when the test ends.
func startEjabberd(t *testing.T, ctl, api string) *ejabberdInstance {
	t.Helper()
	return startEjabberdOn(t, ctl, api, testcaddy.FreePort(t))
}

// startEjabberdOn is startEjabberd with its WebSocket listener on wsPort.
func startEjabberdOn(t *testing.T, ctl, api string, wsPort int) *ejabberdInstance {
	t.Helper()
	return startEjabberdPorts(t, ctl, api, wsPort, testcaddy.FreePort(t))
}

// startEjabberdPorts is startEjabberd with its WebSocket listener on wsPort
// and its HTTP API (kick_user, for xmpp_kick) on apiPort.
func startEjabberdPorts(t *testing.T, ctl, api string, wsPort, apiPort int) *ejabberdInstance {
	t.Helper()
	cred := ejabberdCredential(t)

	// Not t.TempDir(): its parents are private to the test's user, and
	// ejabberd runs as its own.
	dir, err := os.MkdirTemp("", "cubeauth-xmpp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	e := &ejabberdInstance{
		dir:     dir,
		wsPort:  wsPort,
		apiPort: apiPort,
		node:    "n" + uniqueSuffix(t) + "@localhost",
		adapter: buildExtauth(t, dir),
		console: filepath.Join(dir, "console.log"),
		done:    make(chan struct{}),
	}
	distPort := testcaddy.FreePort(t)
	writeFromExample(t, "ejabberd.yml", filepath.Join(dir, "ejabberd.yml"),
		"port: 5280", fmt.Sprintf("port: %d", e.wsPort),
		"port: 5281", fmt.Sprintf("port: %d", e.apiPort),
		`extauth_program: "/usr/local/bin/cubeauth-extauth -api http://127.0.0.1:8080 -domains localhost"`,
		fmt.Sprintf("extauth_program: %q", e.adapter+" -api "+api+" -domains localhost -v"),
	)
	writeFromExample(t, "ejabberdctl.cfg", filepath.Join(dir, "ejabberdctl.cfg"),
		"ERL_DIST_PORT=5210", fmt.Sprintf("ERL_DIST_PORT=%d", distPort),
	)
	writeFromExample(t, "inetrc", filepath.Join(dir, "inetrc"))
	for _, sub := range []string{"logs", "db"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if cred != nil {
		err := filepath.WalkDir(dir, func(path string, _ os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(path, int(cred.Uid), int(cred.Gid))
		})
		if err != nil {
			t.Fatalf("handing %s to the ejabberd user: %v", dir, err)
		}
	}

	console, err := os.Create(e.console)
	if err != nil {
		t.Fatal(err)
	}
	defer console.Close() // the child has its own copy
	e.cmd = exec.Command(ctl,
		"--config-dir", dir, "--logs", filepath.Join(dir, "logs"), "--spool", filepath.Join(dir, "db"),
		"--node", e.node, "foreground")
	e.cmd.Dir = dir
	// HOME holds the Erlang cookie; ejabberdctl.cfg sets the distribution port.
	// The adapter inherits CUBEAUTH_EXTAUTH_SECRET through ejabberd: chat
	// logins with the user's password.
	e.cmd.Env = append(os.Environ(), "HOME="+dir, "CUBEAUTH_EXTAUTH_SECRET="+e2eChatSecret)
	e.cmd.Stdout, e.cmd.Stderr = console, console
	// Started as the ejabberd user directly (not through ejabberdctl's su),
	// and in a process group of its own, so that stopping it reaches the
	// Erlang VM too.
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	started := time.Now()
	if err := e.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", ctl, err)
	}
	go func() {
		e.cmd.Wait()
		close(e.done)
	}()
	t.Cleanup(func() { e.stop(t) })

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(e.wsPort))
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			break
		}
		select {
		case <-e.done:
			t.Fatalf("ejabberd exited before it listened on %s: %v\n%s", addr, e.cmd.ProcessState, e.logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("ejabberd did not listen on %s within 60s\n%s", addr, e.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("ejabberd %s listening on %s after %v", e.node, addr, time.Since(started).Round(time.Millisecond))
	return e
}

// ejabberdCredential returns the credential ejabberd must run with: the
// ejabberd user when the test runs as root, nothing when it already runs as
// that user. Anyone else cannot start Debian's ejabberd, and the test skips.
func ejabberdCredential(t *testing.T) *syscall.Credential {
	t.Helper()
	u, err := osuser.Lookup("ejabberd")
	if err != nil {
		t.Skipf("ejabberdctl is installed but there is no ejabberd user (%v): skipping", err)
	}
	if os.Geteuid() != 0 {
		if strconv.Itoa(os.Geteuid()) == u.Uid {
			return nil
		}
		t.Skip("ejabberd must be started as root or as the ejabberd user: skipping the SDK chat.connect test")
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatalf("ejabberd user %s/%s: %v", u.Uid, u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// writeFromExample copies examples/xmpp/<name> to dst, replacing each
// old/new pair, each of which must occur exactly once, so the test always
// runs the shipped example.
func writeFromExample(t *testing.T, name, dst string, oldnew ...string) {
	t.Helper()
	src := filepath.Join("..", "examples", "xmpp", name)
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i+1 < len(oldnew); i += 2 {
		if n := strings.Count(s, oldnew[i]); n != 1 {
			t.Fatalf("%s: %q occurs %d times, want once", src, oldnew[i], n)
		}
		s = strings.Replace(s, oldnew[i], oldnew[i+1], 1)
	}
	if err := os.WriteFile(dst, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// stop ends the node: SIGTERM to its process group (ejabberdctl and the
// Erlang VM, which shuts down cleanly on it), SIGKILL after 20s. Then it makes
// sure nothing of it is left: no process of the group, no VM of this node
// name, no adapter instance (ejabberd starts those in sessions of their own;
// they end when their stdin closes). Leftovers are killed and fail the test.
func (e *ejabberdInstance) stop(t *testing.T) {
	pgid := e.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	deadline := time.Now().Add(20 * time.Second)
	for len(e.processes(pgid)) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if left := e.processes(pgid); len(left) > 0 {
		t.Errorf("ejabberd processes %v still running 20s after SIGTERM: killing them", left)
		syscall.Kill(-pgid, syscall.SIGKILL)
		for _, pid := range left {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	<-e.done
	// Adapters notice the closed port a moment after the VM is gone.
	deadline = time.Now().Add(5 * time.Second)
	for len(e.processes(0)) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if left := e.processes(0); len(left) > 0 {
		t.Errorf("processes %v of ejabberd %s outlived it: killing them", left, e.node)
		for _, pid := range left {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// processes lists the live (not zombie) processes that belong to this node:
// those of process group pgid when pgid > 0, and always those whose command
// line names the node or the adapter binary.
func (e *ejabberdInstance) processes(pgid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) < 3 || fields[0] == "Z" || fields[0] == "X" {
			continue
		}
		if pgid > 0 && fields[2] == strconv.Itoa(pgid) {
			pids = append(pids, pid)
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline"))
		if bytes.Contains(cmdline, []byte(e.node)) || bytes.Contains(cmdline, []byte(e.adapter)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/internal/testcaddy"
)

// hardenedTemplate is a server for abuse and fault tests: volume limits off
// (every request comes from 127.0.0.1), debug logs and an access log with
// the log filter the README recommends, and a second cubeauth site whose
// backend is down. The backend runs in the test process, outside the Caddy
// being reloaded, so that reloads test cubeauth rather than the proxy's
// connections to a site of the same Caddy.
const hardenedTemplate = `{GLOBALS}
http://127.0.0.1:{PORT} {
	log {
		output file {DIR}/access.log
		format filter {
			request>headers>Cb-Token delete
			request>headers>Cb-Authkey delete
			request>uri query {
				delete token
			}
		}
	}
	cubeauth {
		storage badger {DIR}/data
		session_ttl {TTL}
		hash_concurrency {HASHES}
		hash_wait {HASH_WAIT}
		chat_password_secret {env.TEST_CHAT_SECRET}
		limits {
			sessions_per_ip off
			signups_per_ip off
		}
		# Credentials as runtime placeholders: the config Caddy holds (and
		# logs in debug mode) never contains them.
		app 1 {
			auth_key {env.TEST_DEV_KEY}
			auth_secret {env.TEST_DEV_SECRET}
			stage development
		}
		app 2 {
			auth_key {env.TEST_PROD_KEY}
			stage production
		}
	}
	reverse_proxy 127.0.0.1:{BACKEND}
}
http://127.0.0.1:{DOWN_SITE} {
	cubeauth {
		storage badger {DIR}/data
	}
	reverse_proxy 127.0.0.1:{DEAD}
}
`

type hardenedServer struct {
	*server
	downURL string
	vars    map[string]string
}

func startHardened(t *testing.T, vars ...string) *hardenedServer {
	t.Helper()
	return startHardenedIn(t, t.TempDir(), vars...)
}

// startHardenedIn is startHardened with the data (and access log) in dir.
func startHardenedIn(t *testing.T, dir string, vars ...string) *hardenedServer {
	t.Helper()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(whoami{
			UserID: r.Header.Get("X-Cube-User-Id"), AppID: r.Header.Get("X-Cube-App-Id"),
			Login: r.Header.Get("X-Cube-User-Login"), SessionType: r.Header.Get("X-Cube-Session-Type"),
			Method: r.Method, XCubeExtra: r.Header.Get("X-Cube-Extra"),
			CBToken: r.Header.Get("CB-Token"), Authorization: r.Header.Get("Authorization"),
		})
	}))
	t.Cleanup(backend.Close)
	backendPort, _ := strconv.Atoi(backend.URL[strings.LastIndex(backend.URL, ":")+1:])
	h := &hardenedServer{server: &server{dir: dir, backend: backendPort}}
	h.start(t, func(p *testcaddy.Ports) string {
		down := p.Port("down")
		h.downURL = fmt.Sprintf("http://127.0.0.1:%d", down)
		h.vars = map[string]string{
			"{GLOBALS}": testcaddy.Globals(h.admin, "debug"), "{PORT}": strconv.Itoa(h.port), "{BACKEND}": strconv.Itoa(h.backend),
			"{DIR}": h.dir, "{DOWN_SITE}": strconv.Itoa(down), "{DEAD}": strconv.Itoa(p.Port("dead")),
			"{TTL}": "2h", "{HASHES}": "2", "{HASH_WAIT}": "5s",
		}
		for i := 0; i+1 < len(vars); i += 2 {
			h.vars[vars[i]] = vars[i+1]
		}
		return h.caddyfile()
	}, testcaddy.WithEnv("TEST_DEV_KEY="+devAuthKey, "TEST_DEV_SECRET="+devAuthSecret, "TEST_PROD_KEY="+prodAuthKey, "TEST_CHAT_SECRET="+e2eChatSecret))
	return h
}

func (h *hardenedServer) caddyfile() string {
	cf := hardenedTemplate
	for k, v := range h.vars {
		cf = strings.ReplaceAll(cf, k, v)
	}
	return cf
}

func signupBody(login, password string) map[string]any {
	return map[string]any{"user": map[string]any{"login": login, "password": password}}
}

func prodLogin(c *client, login, password string) reply {
	return c.postJSON("/session.json", map[string]any{
		"application_id": prodAppID, "auth_key": prodAuthKey,
		"user": map[string]any{"login": login, "password": password},
	})
}

func TestEveryAcknowledgedSignupSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	srv := startHardened(t)
	c := newClient(t, srv.server)
	suffix := uniqueSuffix(t)
	var (
		mu    sync.Mutex
		acked []string
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				login := fmt.Sprintf("k%s-%d-%d", suffix, w, i)
				resp, err := postJSONRaw(srv.URL+"/users.json", signupBody(login, "supersecret1"), "CB-AuthKey", prodAuthKey)
				if err != nil {
					return // the server died under us: this signup was not acknowledged
				}
				if resp == http.StatusCreated {
					mu.Lock()
					acked = append(acked, login)
					mu.Unlock()
				}
			}
		}()
	}
	// Kill while signups are in flight.
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 40 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.Caddy.Kill()
	stop.Store(true)
	wg.Wait()
	if len(acked) < 10 {
		t.Fatalf("only %d signups acknowledged before the kill", len(acked))
	}
	srv.Caddy.Restart(t)
	for _, login := range acked {
		prodLogin(c, login, "supersecret1").want(t, http.StatusCreated)
	}
	t.Logf("%d acknowledged signups all logged in after SIGKILL", len(acked))
}

// postJSONRaw posts without failing the test on a transport error, for
// requests racing a crash.
func postJSONRaw(url string, v any, header ...string) (int, error) {
	b, _ := json.Marshal(v)
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(string(b)))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Not parallel: its burst of password hashes must all be admitted within
// hash_wait, which a neighbour's hashing on the same two cores can exceed.
func TestConcurrentFirstSessionsAndSignupsMakeExactlyOneUser(t *testing.T) {
	srv := startHardened(t)
	c := newClient(t, srv.server)
	suffix := uniqueSuffix(t)
	const n = 24

	replies := make([]reply, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i] = c.postJSON("/session.json", map[string]any{
				"application_id": devAppID, "auth_key": devAuthKey,
				"user": map[string]any{"login": "first" + suffix, "password": "supersecret1"},
			})
		}()
	}
	wg.Wait()
	ids := map[int64]bool{}
	for _, r := range replies {
		ids[*decodeSession(t, r.want(t, http.StatusCreated)).UserID] = true
	}
	if len(ids) != 1 {
		t.Fatalf("%d concurrent first sessions made %d users", n, len(ids))
	}

	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i] = c.postJSON("/users.json", signupBody("dup"+suffix, "supersecret1"), "CB-AuthKey", prodAuthKey)
		}()
	}
	wg.Wait()
	created := 0
	for _, r := range replies {
		switch r.Status {
		case http.StatusCreated:
			created++
		case http.StatusUnprocessableEntity:
			if !strings.Contains(string(r.Body), "has already been taken") {
				t.Fatalf("%s: want a duplicate-login error", r)
			}
		default:
			t.Fatalf("%s: want 201 or 422", r)
		}
	}
	if created != 1 {
		t.Fatalf("%d concurrent signups for one login created %d users", n, created)
	}
}

func TestReloadUnderTrafficFailsNoRequestAndKeepsSessions(t *testing.T) {
	t.Parallel()
	srv := startHardened(t)
	c := newClient(t, srv.server)
	s := devLogin(t, c, "reload"+uniqueSuffix(t), "supersecret1")
	var (
		stop     atomic.Bool
		failures atomic.Int64
		retried  atomic.Int64
		served   atomic.Int64
		firstBad atomic.Value
		wg       sync.WaitGroup
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := &http.Client{Timeout: 10 * time.Second}
			for !stop.Load() {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+whoamiPath, nil)
				req.Header.Set("CB-Token", s.Token)
				resp, err := cl.Do(req)
				if err != nil {
					// Caddy swaps listeners on reload; a connection caught
					// in the old one's queue is reset before any response,
					// with or without cubeauth. Clients retry that, as
					// browsers do for idempotent requests.
					retried.Add(1)
					resp, err = cl.Do(req)
				}
				if err != nil {
					failures.Add(1)
					firstBad.CompareAndSwap(nil, err.Error())
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failures.Add(1)
					firstBad.CompareAndSwap(nil, resp.Status)
				}
				served.Add(1)
			}
		}()
	}
	for i, ttl := range []string{"3h", "2h", "90m", "2h"} {
		srv.vars["{TTL}"] = ttl
		srv.Caddy.Reload(t, srv.caddyfile())
		devLogin(t, c, fmt.Sprintf("during%d%s", i, uniqueSuffix(t)), "supersecret1")
		time.Sleep(100 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	if failures.Load() != 0 {
		t.Fatalf("%d of %d requests failed during reloads; first: %v", failures.Load(), served.Load(), firstBad.Load())
	}
	if strings.Contains(srv.Caddy.Logs(), "Cannot acquire directory lock") {
		t.Fatal("a reload hit Badger's directory lock")
	}
	t.Logf("%d requests during 4 reloads, none failed (%d retried after a connection reset)", served.Load(), retried.Load())
}

// Not parallel: the flood takes both cores by design, and would starve the
// timed checks of a test beside it.
func TestALoginFloodKeepsMemoryBoundedAndTheProxyFlowing(t *testing.T) {
	// Real OWASP argon2id cost (19 MiB each), at most 2 at once, in worker
	// processes.
	srv := startHardened(t, "{HASH_WAIT}", "1s")
	c := newClient(t, srv.server)
	s := devLogin(t, c, "steady"+uniqueSuffix(t), "supersecret1")
	suffix := uniqueSuffix(t)

	var (
		wg            sync.WaitGroup
		statuses      sync.Map
		proxied, bad  atomic.Int64
		floodFinished atomic.Bool
	)
	const flood = 200
	for i := range flood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, err := postJSONRaw(srv.URL+"/session.json", map[string]any{
				"application_id": devAppID, "auth_key": devAuthKey,
				"user": map[string]any{"login": fmt.Sprintf("flood%s%d", suffix, i), "password": "supersecret1"},
			})
			if err != nil {
				code = -1
			}
			n, _ := statuses.LoadOrStore(code, new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
		}()
	}
	proxyDone := make(chan struct{})
	go func() {
		defer close(proxyDone)
		cl := &http.Client{Timeout: 5 * time.Second}
		for !floodFinished.Load() {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+whoamiPath, nil)
			req.Header.Set("CB-Token", s.Token)
			resp, err := cl.Do(req)
			if err != nil || resp.StatusCode != http.StatusOK {
				bad.Add(1)
			}
			if err == nil {
				resp.Body.Close()
			}
			proxied.Add(1)
		}
	}()
	wg.Wait()
	floodFinished.Store(true)
	<-proxyDone

	statuses.Range(func(k, v any) bool {
		code := k.(int)
		if code != http.StatusCreated && code != http.StatusServiceUnavailable {
			t.Errorf("%d flood requests answered %d; want only 201 or 503", v.(*atomic.Int64).Load(), code)
		}
		return true
	})
	if bad.Load() != 0 || proxied.Load() < 10 {
		t.Fatalf("proxied requests during the flood: %d, %d failed", proxied.Load(), bad.Load())
	}
	// Refusals for lack of hashing turns are counted, not logged one by one:
	// a log line each would add to the storm.
	if busy, ok := statuses.Load(http.StatusServiceUnavailable); ok && busy.(*atomic.Int64).Load() > 0 {
		if n := strings.Count(srv.Caddy.Logs(), `"request failed"`); n > 0 {
			t.Errorf("%d refusals for lack of hashing turns were logged as failed requests", n)
		}
	}
	// The hashes ran in worker processes, at most hash_concurrency (2) per
	// cubeauth site (2), which stay for the next logins; their memory
	// counts with Caddy's.
	workers := childPIDs(t, srv.Caddy.PID())
	if len(workers) == 0 || len(workers) > 2*2 {
		t.Fatalf("%d hash worker processes after the flood, want 1 to 4", len(workers))
	}
	hwm := peakRSS(t, srv.Caddy.PID())
	for _, pid := range workers {
		hwm += peakRSS(t, pid)
	}
	// 200 unbounded hashes would need 200 × 19 MiB ≈ 3.8 GiB.
	if hwm > 400<<20 {
		t.Fatalf("peak RSS %d MiB during a flood of %d logins, want under 400 MiB", hwm>>20, flood)
	}
	t.Logf("peak RSS %d MiB (Caddy and %d hash workers); %d proxied requests went through during the flood",
		hwm>>20, len(workers), proxied.Load())
}

// childPIDs lists the processes whose parent is pid.
func childPIDs(t *testing.T, pid int) []int {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil || len(stats) == 0 {
		t.Skipf("no /proc here: %v", err)
	}
	var children []int
	for _, path := range stats {
		stat, err := os.ReadFile(path)
		if err != nil {
			continue // the process ended
		}
		// Fields after the command name (which may hold spaces): state, ppid.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			child, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
			children = append(children, child)
		}
	}
	return children
}

// peakRSS reads a process's peak resident set size (VmHWM) in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

func TestLogsNeverContainPasswordsTokensKeysOrSecrets(t *testing.T) {
	t.Parallel()
	srv := startHardened(t)
	c := newClient(t, srv.server)
	suffix := uniqueSuffix(t)
	secrets := []string{devAuthKey, prodAuthKey, devAuthSecret, e2eChatSecret}

	devPassword, prodPassword, wrongPassword := "dev-pass-"+suffix, "prod-pass-"+suffix, "wrong-pass-"+suffix
	secrets = append(secrets, devPassword, prodPassword, wrongPassword)
	s := devLogin(t, c, "logdev"+suffix, devPassword)
	c.postJSON("/users.json", signupBody("logprod"+suffix, prodPassword), "CB-AuthKey", prodAuthKey).want(t, http.StatusCreated)
	p := decodeSession(t, prodLogin(c, "logprod"+suffix, prodPassword).want(t, http.StatusCreated))
	prodLogin(c, "logprod"+suffix, wrongPassword).want(t, http.StatusUnauthorized)
	secrets = append(secrets, s.Token, p.Token)

	c.backend(http.MethodGet, "CB-Token", s.Token)
	c.do(http.MethodGet, whoamiPath+"?token="+p.Token, nil, "Upgrade", "websocket", "Connection", "Upgrade")
	c.do(http.MethodPost, whoamiPath, nil, "Authorization", "Bearer "+p.Token)
	c.do(http.MethodGet, "/session.json", nil, "CB-Token", s.Token).want(t, http.StatusOK)
	// cubeauth-extauth's password check: the shared secret and the password.
	c.postJSON("/cubeauth/chat_password", map[string]any{"application_id": devAppID, "user_id": *s.UserID, "password": devPassword},
		"Authorization", "Extauth "+e2eChatSecret).want(t, http.StatusOK)
	// The backend of the second site is down: the 502 must not log the token.
	down := &client{t: t, base: srv.downURL, http: c.http}
	down.do(http.MethodGet, "/anything", nil, "CB-Token", s.Token).want(t, http.StatusBadGateway).wantErrorShape(t)
	c.do(http.MethodDelete, "/session.json", nil, "CB-Token", s.Token).want(t, http.StatusOK)
	c.do(http.MethodGet, whoamiPath, nil, "CB-Token", s.Token).want(t, http.StatusUnauthorized)

	if err := srv.Caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	access, err := os.ReadFile(srv.dir + "/access.log")
	if err != nil || len(access) == 0 {
		t.Fatalf("no access log to check: %v", err)
	}
	logs := srv.Caddy.Logs() + string(access)
	if !strings.Contains(logs, "backend failed") {
		t.Fatal("the backend failure was not logged at all")
	}
	for _, secret := range secrets {
		if strings.Contains(logs, secret) {
			t.Errorf("a log line contains a secret (%d characters, starting %q)", len(secret), secret[:4])
		}
	}
}

func TestMetricsCountSessionsFailuresAndForwards(t *testing.T) {
	t.Parallel()
	srv := startHardened(t)
	c := newClient(t, srv.server)
	suffix := uniqueSuffix(t)
	s := devLogin(t, c, "metrics"+suffix, "supersecret1")
	c.backend(http.MethodGet, "CB-Token", s.Token)
	c.do(http.MethodGet, whoamiPath, nil, "CB-Token", "nope").want(t, http.StatusUnauthorized)
	prodLogin(c, "nobody"+suffix, "supersecret1").want(t, http.StatusNotFound)

	resp, err := http.Get(srv.Caddy.AdminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "cubeauth_") {
			b.WriteString(sc.Text() + "\n")
		}
	}
	got := b.String()
	for _, want := range []string{
		`cubeauth_sessions_created_total{app_id="1",stage="development",type="user"} 1`,
		`cubeauth_users_created_total{app_id="1",via="session"} 1`,
		`cubeauth_forwarded_requests_total{app_id="1",session_type="user"} 1`,
		`cubeauth_auth_failures_total{reason="session_not_found"} 1`,
		`cubeauth_auth_failures_total{reason="user_not_found"} 1`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("metrics lack %s\n%s", want, got)
		}
	}
}

func TestAFullDiskAnswers503AndKeepsTheProcessAlive(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs to fill needs root")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=300m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
	}
	// Registered first, so it runs after Caddy has stopped.
	t.Cleanup(func() { _ = exec.Command("umount", "-l", mnt).Run() })

	srv := startHardenedIn(t, mnt)
	c := newClient(t, srv.server)
	suffix := uniqueSuffix(t)
	s := devLogin(t, c, "disk"+suffix, "supersecret1")

	// Leave less free space than the store's 128 MiB reserve.
	fill := mnt + "/fill"
	if out, err := exec.Command("fallocate", "-l", "200M", fill).CombinedOutput(); err != nil {
		t.Fatalf("filling the disk: %v: %s", err, out)
	}
	time.Sleep(300 * time.Millisecond) // past the store's space-check interval

	r := c.postJSON("/users.json", signupBody("full"+suffix, "supersecret1"), "CB-AuthKey", prodAuthKey).want(t, http.StatusServiceUnavailable)
	r.wantErrorShape(t)
	if r.Header.Get("Retry-After") == "" {
		t.Fatalf("%s: no Retry-After", r)
	}
	c.postJSON("/session.json", map[string]any{"application_id": devAppID, "auth_key": devAuthKey}).want(t, http.StatusServiceUnavailable)
	// Reads go on: the existing session still reaches the backend, and an
	// unknown token is still refused, never forwarded.
	if got := c.backend(http.MethodGet, "CB-Token", s.Token); got.UserID != fmt.Sprint(*s.UserID) {
		t.Fatalf("existing session on a full disk: %+v", got)
	}
	c.do(http.MethodGet, whoamiPath, nil, "CB-Token", strings.Repeat("ab", 32)).want(t, http.StatusUnauthorized)
	if !srv.Caddy.Running() {
		t.Fatal("Caddy died on a full disk")
	}

	// Space comes back: writes work again without a restart.
	if err := os.Remove(fill); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	c.postJSON("/users.json", signupBody("full"+suffix, "supersecret1"), "CB-AuthKey", prodAuthKey).want(t, http.StatusCreated)
}

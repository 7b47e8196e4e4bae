package testcaddy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// respondSite is a Caddyfile with one site that answers body to every request.
func respondSite(adminPort, port int, body string) string {
	return Globals(adminPort) + fmt.Sprintf(`
http://127.0.0.1:%d {
	respond %q
}
`, port, body)
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

func TestStartServesTheCaddyfileWithItsOwnHomeAndXDGDirectories(t *testing.T) {
	t.Parallel()
	admin, port := FreePort(t), FreePort(t)
	inst := Start(t, respondSite(admin, port, "hello"))

	if status, body := get(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); status != 200 || body != "hello" {
		t.Fatalf("got %d %q, want 200 \"hello\"", status, body)
	}
	if want := fmt.Sprintf("http://127.0.0.1:%d", admin); inst.AdminURL != want {
		t.Errorf("AdminURL = %q, want %q", inst.AdminURL, want)
	}
	if !inst.Running() || inst.PID() == 0 {
		t.Errorf("Running() = %v, PID() = %d; want a running process", inst.Running(), inst.PID())
	}
	// Caddy autosaves the loaded config under XDG_CONFIG_HOME: proof that it
	// did not write into the developer's real home.
	autosave := filepath.Join(inst.Dir, "config", "caddy", "autosave.json")
	if _, err := os.Stat(autosave); err != nil {
		t.Errorf("autosave not under the instance's XDG_CONFIG_HOME: %v", err)
	}
	if !strings.Contains(inst.Logs(), "=== testcaddy: start #1") {
		t.Errorf("Logs() lacks the start marker:\n%s", inst.Logs())
	}
	fileLogs, err := os.ReadFile(inst.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(fileLogs) == 0 || !strings.HasPrefix(inst.Logs(), string(fileLogs[:min(len(fileLogs), 40)])) {
		t.Errorf("log file %s does not mirror Logs()", inst.LogPath)
	}
}

func TestReloadReplacesTheConfigAndRestartKeepsTheReloadedOne(t *testing.T) {
	t.Parallel()
	admin, port := FreePort(t), FreePort(t)
	inst := Start(t, respondSite(admin, port, "one"))
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)

	inst.Reload(t, respondSite(admin, port, "two"))
	if _, body := get(t, url); body != "two" {
		t.Fatalf("after reload got %q, want \"two\"", body)
	}
	firstPID := inst.PID()

	inst.Restart(t)
	if inst.PID() == firstPID {
		t.Errorf("Restart kept PID %d; want a new process", firstPID)
	}
	if _, body := get(t, url); body != "two" {
		t.Fatalf("after restart got %q, want the reloaded \"two\"", body)
	}
	if !strings.Contains(inst.Logs(), "=== testcaddy: start #2") {
		t.Errorf("Logs() does not span the restart:\n%s", inst.Logs())
	}
}

func TestReloadCanMoveTheSiteToAnotherPort(t *testing.T) {
	t.Parallel()
	admin, port, other := FreePort(t), FreePort(t), FreePort(t)
	inst := Start(t, respondSite(admin, port, "here"))

	inst.Reload(t, respondSite(admin, other, "there"))
	if _, body := get(t, fmt.Sprintf("http://127.0.0.1:%d/", other)); body != "there" {
		t.Fatalf("got %q on the new port, want \"there\"", body)
	}
	client := &http.Client{Timeout: time.Second}
	if resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", port)); err == nil {
		resp.Body.Close()
		t.Errorf("old port still answers after the reload")
	}
}

func TestTryReloadReportsARefusedConfigAndKeepsTheOldOne(t *testing.T) {
	t.Parallel()
	admin, port := FreePort(t), FreePort(t)
	good := respondSite(admin, port, "still here")
	inst := Start(t, good)

	broken := Globals(admin) + fmt.Sprintf("http://127.0.0.1:%d {\n\tno_such_directive\n}\n", port)
	err := inst.TryReload(broken)
	if err == nil || !strings.Contains(err.Error(), "no_such_directive") {
		t.Fatalf("TryReload(broken) = %v, want an error naming the bad directive", err)
	}
	if _, body := get(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); body != "still here" {
		t.Errorf("after a refused reload got %q, want the old config's answer", body)
	}
	onDisk, _ := os.ReadFile(inst.ConfigPath)
	if string(onDisk) != good {
		t.Errorf("a refused reload rewrote the config file:\n%s", onDisk)
	}
}

func TestKillLeavesNothingServingAndRestartBringsItBack(t *testing.T) {
	t.Parallel()
	admin, port := FreePort(t), FreePort(t)
	inst := Start(t, respondSite(admin, port, "back"))
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)

	inst.Kill()
	if inst.Running() {
		t.Fatal("Running() after Kill")
	}
	client := &http.Client{Timeout: time.Second}
	if resp, err := client.Get(url); err == nil {
		resp.Body.Close()
		t.Fatal("site still answers after Kill")
	}

	inst.Restart(t)
	if _, body := get(t, url); body != "back" {
		t.Fatalf("after restart got %q, want \"back\"", body)
	}
}

func TestStopExitsCleanlyAndIsIdempotent(t *testing.T) {
	t.Parallel()
	admin, port := FreePort(t), FreePort(t)
	inst := Start(t, respondSite(admin, port, "bye"))

	if err := inst.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := inst.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if inst.Running() || inst.PID() != 0 {
		t.Fatalf("Running() = %v, PID() = %d after Stop", inst.Running(), inst.PID())
	}
}

// fatalRecorder is a testing.TB whose Fatal* record the message and end the
// calling goroutine, so a test can watch the harness fail another test.
type fatalRecorder struct {
	testing.TB
	mu    sync.Mutex
	fatal string
}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.fatal = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *fatalRecorder) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }

func (r *fatalRecorder) FailNow() { r.Fatalf("FailNow") }

// fatalMessage runs fn with a fatalRecorder and returns what it failed with,
// or "" if it did not fail.
func fatalMessage(t *testing.T, fn func(testing.TB)) string {
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(rec)
	}()
	<-done
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.fatal
}

func TestStartFailsFastWithCaddysOutputWhenTheConfigIsBroken(t *testing.T) {
	t.Parallel()
	admin, port := FreePort(t), FreePort(t)
	broken := Globals(admin) + fmt.Sprintf("http://127.0.0.1:%d {\n\tno_such_directive\n}\n", port)

	began := time.Now()
	msg := fatalMessage(t, func(tb testing.TB) { Start(tb, broken) })
	if msg == "" {
		t.Fatal("Start did not fail on a broken Caddyfile")
	}
	if !strings.Contains(msg, "exited while starting") || !strings.Contains(msg, "no_such_directive") {
		t.Errorf("failure does not explain itself with Caddy's output:\n%s", msg)
	}
	if elapsed := time.Since(began); elapsed > DefaultStartTimeout/2 {
		t.Errorf("Start took %s to notice that Caddy exited", elapsed)
	}
}

func TestStartRequiresALocalAdminEndpoint(t *testing.T) {
	for name, caddyfile := range map[string]string{
		"none": "http://127.0.0.1:1 {\n\trespond ok\n}\n",
		"off":  "{\n\tadmin off\n}\nhttp://127.0.0.1:1 {\n\trespond ok\n}\n",
	} {
		t.Run(name, func(t *testing.T) {
			msg := fatalMessage(t, func(tb testing.TB) { Start(tb, caddyfile) })
			if !strings.Contains(msg, "testcaddy.Globals") {
				t.Errorf("failure %q does not point at Globals", msg)
			}
		})
	}
}

func TestBinaryUsesAPrebuiltBinaryFromTheEnvironment(t *testing.T) {
	bin := Binary(t)
	t.Setenv(EnvBinary, bin)
	if got := Binary(t); got != bin {
		t.Errorf("Binary() = %q with %s=%q", got, EnvBinary, bin)
	}

	t.Setenv(EnvBinary, filepath.Join(t.TempDir(), "missing"))
	if msg := fatalMessage(t, func(tb testing.TB) { Binary(tb) }); !strings.Contains(msg, EnvBinary) {
		t.Errorf("a missing prebuilt binary failed with %q, want a message naming %s", msg, EnvBinary)
	}
}

func TestGlobalsPutsTheAdminEndpointFirstAndBindsSitesToLoopback(t *testing.T) {
	got := Globals(2999, "grace_period 1s")
	want := "{\n\tadmin 127.0.0.1:2999\n\tdefault_bind 127.0.0.1\n\tgrace_period 1s\n}\n"
	if got != want {
		t.Errorf("Globals() = %q, want %q", got, want)
	}
	if url, err := adminURL(got); err != nil || url != "http://127.0.0.1:2999" {
		t.Errorf("adminURL(Globals()) = %q, %v", url, err)
	}
}

func TestDialAddressUnderstandsCaddyListenAddresses(t *testing.T) {
	for _, tc := range []struct {
		listen, want string
		ok           bool
	}{
		{":8080", "127.0.0.1:8080", true},
		{"127.0.0.1:8080", "127.0.0.1:8080", true},
		{"tcp/:8080", "127.0.0.1:8080", true},
		{"tcp4/0.0.0.0:8080", "127.0.0.1:8080", true},
		{"[::]:8080", "[::1]:8080", true},
		{":8080-8085", "127.0.0.1:8080", true},
		{"udp/:443", "", false},
		{"unix//run/caddy.sock", "", false},
	} {
		got, ok := dialAddress(tc.listen)
		if got != tc.want || ok != tc.ok {
			t.Errorf("dialAddress(%q) = %q, %v; want %q, %v", tc.listen, got, ok, tc.want, tc.ok)
		}
	}
}

func TestASiteOn127001StartsWhileItsPortIsBusyOnAnotherLoopbackAddress(t *testing.T) {
	t.Parallel()
	// Linux routes all of 127/8 to lo: 127.0.0.2 stands for any other
	// process's listener on the same port.
	other, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no second loopback address: %v", err)
	}
	defer other.Close()
	port := other.Addr().(*net.TCPAddr).Port
	// The control: a server on every interface cannot have this port.
	if everywhere, err := net.Listen("tcp", fmt.Sprintf(":%d", port)); err == nil {
		everywhere.Close()
		t.Fatalf("port %d is free on every interface although 127.0.0.2 holds it: the test proves nothing", port)
	}

	Start(t, respondSite(FreePort(t), port, "only loopback"))
	if _, body := get(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); body != "only loopback" {
		t.Fatalf("got %q, want \"only loopback\"", body)
	}
}

func TestStartRefusesAConfigThatBindsEveryInterface(t *testing.T) {
	t.Parallel()
	admin, port := FreePort(t), FreePort(t)
	everywhere := fmt.Sprintf("{\n\tadmin 127.0.0.1:%d\n}\nhttp://127.0.0.1:%d {\n\trespond ok\n}\n", admin, port)
	msg := fatalMessage(t, func(tb testing.TB) { Start(tb, everywhere) })
	if !strings.Contains(msg, "every interface") || !strings.Contains(msg, "default_bind 127.0.0.1") {
		t.Errorf("failure %q does not say that the config binds every interface and how to fix it", msg)
	}
}

func TestStartOnFreePortsTriesNewPortsWhenOneIsTaken(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	attempts := 0
	inst := StartOnFreePorts(t, func(p *Ports) string {
		attempts++
		port := p.Port("site")
		if attempts == 1 {
			port = taken.Addr().(*net.TCPAddr).Port
		}
		return respondSite(p.Port("admin"), port, "moved")
	})

	if attempts != 2 {
		t.Fatalf("rendered the Caddyfile %d times, want 2 (the taken port, then a new one)", attempts)
	}
	if _, body := get(t, fmt.Sprintf("http://127.0.0.1:%d/", inst.Port("site"))); body != "moved" {
		t.Fatalf("got %q on Port(\"site\"), want \"moved\"", body)
	}
	if want := fmt.Sprintf("http://127.0.0.1:%d", inst.Port("admin")); inst.AdminURL != want {
		t.Errorf("AdminURL = %q, want the started attempt's %q", inst.AdminURL, want)
	}
	if !strings.Contains(inst.Logs(), "a port was taken; trying new ports") {
		t.Errorf("Logs() does not show the retry:\n%s", inst.Logs())
	}
}

func TestStartOnFreePortsGivesUpOnAnotherFailure(t *testing.T) {
	t.Parallel()
	attempts := 0
	msg := fatalMessage(t, func(tb testing.TB) {
		StartOnFreePorts(tb, func(p *Ports) string {
			attempts++
			return Globals(p.Port("admin")) + fmt.Sprintf("http://127.0.0.1:%d {\n\tno_such_directive\n}\n", p.Port("site"))
		})
	})
	if attempts != 1 || !strings.Contains(msg, "no_such_directive") {
		t.Errorf("a broken config was tried %d times and failed with %q; want once, naming the directive", attempts, msg)
	}
}

func TestFreePortCanBeListenedOn(t *testing.T) {
	port := FreePort(t)
	if port <= 0 || port > 65535 {
		t.Fatalf("FreePort() = %d", port)
	}
}

func TestFreePortNeverReturnsAPortTwice(t *testing.T) {
	seen := map[int]bool{}
	for range 200 {
		port := FreePort(t)
		if seen[port] {
			t.Fatalf("FreePort returned %d twice", port)
		}
		seen[port] = true
	}
}

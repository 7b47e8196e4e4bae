package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/internal/testcaddy"
)

// demoPorts are the fixed ports of ./examples/demo.sh (Caddyfile.example).
var demoPorts = []int{8080, 8443, 8081, 9000, 9001, 2019}

// demoExamples are the README's examples that run against the demo, in the
// order the test runs them (admin.sh and cli.sh leave app 1 as they found it).
var demoExamples = []string{
	"examples/demo.sh",
	"examples/walkthrough.sh",
	"examples/sdk/session.mjs",
	"examples/sdk-v3/signed.mjs",
	"examples/chat.sh",
	"examples/admin.sh",
	"examples/cli.sh",
	"examples/sdk/chat.mjs",
}

// demoLock is the file every test process on this machine locks while it
// runs the demo, whose ports are fixed.
var demoLock = filepath.Join(os.TempDir(), "cubeauth-demo-ports.lock")

// lockDemoPorts waits for the machine-wide demo lock, then skips the test if
// another program holds one of the demo's ports.
func lockDemoPorts(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(demoLock, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() }) // closing releases the lock
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	for _, port := range demoPorts {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Skipf("the demo needs port %d of 127.0.0.1, which is taken: %v", port, err)
		}
		l.Close()
	}
}

// demo is a running ./examples/demo.sh.
type demo struct {
	Dir    string            // its state: CUBEAUTH_DEMO_DIR
	Env    map[string]string // what `source .demo/env` exports
	Output string            // what it printed until it was up
}

// startDemo runs ./examples/demo.sh with a prebuilt Caddy and its state in
// a temporary directory, and stops it (with Caddy and the chat backend, its
// process group) when the test ends.
func startDemo(t *testing.T) *demo {
	t.Helper()
	// A directory named like the demo's default, so its paths read as the
	// README shows them.
	d := &demo{Dir: filepath.Join(t.TempDir(), ".demo")}
	xdg := t.TempDir() // Caddy's autosaved config; Go's caches stay the machine's
	cmd := exec.Command("./examples/demo.sh")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(),
		testcaddy.EnvBinary+"="+testcaddy.Binary(t),
		"CUBEAUTH_DEMO_DIR="+d.Dir,
		"XDG_CONFIG_HOME="+xdg+"/config", "XDG_DATA_HOME="+xdg+"/data",
	)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(d.Dir, "caddy.log")); err == nil {
				t.Logf("the end of the demo's caddy.log:\n%s", tail(string(b), 20))
			}
		}
	})
	up := make(chan string, 1)
	go func() {
		var out strings.Builder
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			out.WriteString(lines.Text() + "\n")
			if strings.HasPrefix(lines.Text(), "In another shell:") {
				up <- out.String()
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
		close(exited)
		up <- out.String()
	}()
	select {
	case d.Output = <-up:
	case <-time.After(3 * time.Minute):
		t.Fatal("the demo did not come up within 3 minutes")
	}
	select {
	case <-exited:
		t.Fatalf("./examples/demo.sh exited:\n%s", d.Output)
	default:
	}
	d.Env = readDemoEnv(t, filepath.Join(d.Dir, "env"))
	return d
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// exportLine is one line of the demo's env file.
var exportLine = regexp.MustCompile(`^export ([A-Z0-9_]+)=(.*)$`)

// readDemoEnv reads what `source .demo/env` would export.
func readDemoEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		t.Errorf("%s is readable by others (%v): it holds the demo's credentials", path, info.Mode().Perm())
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if m := exportLine.FindStringSubmatch(line); m != nil {
			env[m[1]] = strings.Trim(m[2], "'")
		}
	}
	for _, name := range []string{"CUBEAUTH_APP1_KEY", "CUBEAUTH_APP2_KEY", "CUBEAUTH_APP1_SECRET", "CUBEAUTH_DASHBOARD_USER", "CUBEAUTH_DASHBOARD_PASSWORD", "CUBEAUTH_CA_ROOT"} {
		if env[name] == "" {
			t.Fatalf("%s does not export %s", path, name)
		}
	}
	return env
}

// run runs a README command block in the repository root, in a shell that
// has sourced the demo's env file, and returns what it printed. An
// example's `npm ci` is done once per test process instead.
func (d *demo) run(t *testing.T, block string) (string, error) {
	t.Helper()
	var script []string
	for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
		if m := npmCI.FindStringSubmatch(line); m != nil {
			installExamplePackages(t, m[1])
			continue
		}
		script = append(script, line)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", strings.Join(script, "\n"))
	cmd.Dir = ".."
	cmd.Env = os.Environ()
	for k, v := range d.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

var npmCI = regexp.MustCompile(`^\(cd (examples/[\w-]+) && npm ci\)$`)

// installExamplePackages installs what an example's package.json pins.
func installExamplePackages(t *testing.T, dir string) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not on PATH: the SDK examples run under Node 20")
	}
	versions := map[string]string{"examples/sdk": "6.1.2", "examples/sdk-v3": "3.35.3"}
	if versions[dir] == "" {
		t.Fatalf("no pinned connectycube version known for %s", dir)
	}
	abs, err := filepath.Abs(filepath.Join("..", dir))
	if err != nil {
		t.Fatal(err)
	}
	installNodePackages(t, abs, map[string]string{"connectycube": versions[dir]})
}

// TestDemoRunsTheReadmeExamplesAsWritten runs ./examples/demo.sh as a
// newcomer would, then each README example against it exactly as the README
// shows it, and compares what each prints with the output the README shows.
// Last, a newcomer opens the dashboard URL the demo printed, logs in with the
// password it printed, switches app 1 to production in headless Chromium,
// and the next login that would create a user is refused.
func TestDemoRunsTheReadmeExamplesAsWritten(t *testing.T) {
	lockDemoPorts(t)
	examples := readmeExamples(t)
	d := startDemo(t)
	wantOutput(t, "./examples/demo.sh", examples["examples/demo.sh"], d.Output)

	for _, name := range demoExamples[1:] {
		if name == "examples/sdk/chat.mjs" {
			continue // below, with ejabberd
		}
		ex, ok := examples[name]
		if !ok {
			t.Fatalf("README.md does not show %s with its output", name)
		}
		out, err := d.run(t, ex.Command.Text)
		if name == "examples/chat.sh" && err == nil && !strings.Contains(out, "chat-client exited with status 1") {
			t.Errorf("%s: the chat client did not exit 1 when its session ended:\n%s", name, out)
		}
		if err != nil {
			t.Errorf("README.md:%d (%s): %v\n%s", ex.Command.Line, name, err, out)
			continue
		}
		wantOutput(t, name, ex, out)
	}

	t.Run("the SDK connects to chat on ejabberd with the demo's session", func(t *testing.T) {
		ex, ok := examples["examples/sdk/chat.mjs"]
		if !ok {
			t.Fatal("README.md does not show examples/sdk/chat.mjs with its output")
		}
		ctl := findEjabberdctl()
		if ctl == "" {
			t.Skip("ejabberd is not installed (Debian: apt-get install ejabberd)")
		}
		if l, err := net.Listen("tcp", "127.0.0.1:5280"); err != nil {
			t.Skipf("ejabberd's port 5280, as examples/xmpp has it, is taken: %v", err)
		} else {
			l.Close()
		}
		ej := startEjabberdOn(t, ctl, "http://127.0.0.1:8080", 5280)
		installExamplePackages(t, "examples/sdk")
		out, err := d.run(t, ex.Command.Text)
		if err != nil {
			t.Fatalf("README.md:%d: %v\n%s\nejabberd:\n%s", ex.Command.Line, err, out, ej.logs())
		}
		wantOutput(t, "examples/sdk/chat.mjs", ex, out)
	})

	t.Run("a newcomer switches app 1 to production in the dashboard", func(t *testing.T) {
		dashURL := regexp.MustCompile(`dashboard +(http://\S+)`).FindStringSubmatch(d.Output)
		if dashURL == nil {
			t.Fatalf("the demo printed no dashboard URL:\n%s", d.Output)
		}
		if !strings.Contains(d.Output, "password "+d.Env["CUBEAUTH_DASHBOARD_PASSWORD"]) {
			t.Fatalf("the demo did not print the dashboard password:\n%s", d.Output)
		}
		// The URL refuses a browser without the password.
		res, err := http.Get(dashURL[1])
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("GET %s without the password: %s, want 401", dashURL[1], res.Status)
		}
		runBrowser(t, "newcomer.js", map[string]string{
			"DASH_URL":      dashURL[1],
			"DASH_USER":     d.Env["CUBEAUTH_DASHBOARD_USER"],
			"DASH_PASSWORD": d.Env["CUBEAUTH_DASHBOARD_PASSWORD"],
			"APP_ID":        "1",
		})
		c := &client{t: t, base: "http://localhost:8080", http: &http.Client{Timeout: 15 * time.Second}}
		userSession(c, 1, d.Env["CUBEAUTH_APP1_KEY"], "newcomer"+uniqueSuffix(t)).
			want(t, http.StatusNotFound).wantBody(t, `{"errors":["User not found"]}`)
	})
}

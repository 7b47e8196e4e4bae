package testcaddy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Default timeouts; see [WithStartTimeout] and [WithStopTimeout].
const (
	DefaultStartTimeout = 20 * time.Second
	DefaultStopTimeout  = 15 * time.Second
)

// Option changes how [Start] runs Caddy.
type Option func(*options)

type options struct {
	env          []string
	startTimeout time.Duration
	stopTimeout  time.Duration
}

// WithEnv adds KEY=value pairs to Caddy's environment, after the inherited
// environment and the HOME/XDG variables, so they win over both.
func WithEnv(kv ...string) Option {
	return func(o *options) { o.env = append(o.env, kv...) }
}

// WithStartTimeout sets how long [Start], [Instance.Restart] and
// [Instance.Reload] wait for Caddy to serve. Default: 20s.
func WithStartTimeout(d time.Duration) Option {
	return func(o *options) { o.startTimeout = d }
}

// WithStopTimeout sets how long [Instance.Stop] waits after SIGTERM before it
// kills the process. Default: 15s.
func WithStopTimeout(d time.Duration) Option {
	return func(o *options) { o.stopTimeout = d }
}

// Instance is a Caddy process started by [Start]. Its temporary directory
// (config file, log file, HOME, XDG data and config) outlives restarts and is
// removed when the test ends.
type Instance struct {
	// AdminURL is the admin endpoint, e.g. "http://127.0.0.1:41234".
	AdminURL string
	// Dir is the instance's temporary directory.
	Dir string
	// ConfigPath is the Caddyfile Caddy runs with; [Instance.Reload] rewrites it.
	ConfigPath string
	// LogPath is a file holding everything Caddy wrote to stdout and stderr.
	LogPath string

	bin    string
	opts   options
	logs   *logSink
	client *http.Client

	ports map[string]int // by name, as the started attempt's Ports gave them

	mu     sync.Mutex
	proc   *process // nil when stopped
	starts int
}

// Port returns the port that [Ports.Port] gave name in the attempt of
// [StartOnFreePorts] that started, or 0 if the Caddyfile did not ask for it.
func (i *Instance) Port(name string) int { return i.ports[name] }

// process is one run of the Caddy binary.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // cmd.Wait's result; read only after done is closed
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// adminDirective finds the admin endpoint in a Caddyfile's global options.
var adminDirective = regexp.MustCompile(`(?m)^\s*admin\s+([^\s{}]+)`)

// startAttempts is how often [StartOnFreePorts] tries before it gives up on
// ports that others keep taking.
const startAttempts = 4

// Ports hands a Caddyfile its ports for one start attempt of
// [StartOnFreePorts].
type Ports struct {
	t      testing.TB
	byName map[string]int
}

// Port returns a free port on 127.0.0.1 (see [FreePort]) for name: the same
// port for every call with that name in one attempt, a new one in the next.
func (p *Ports) Port(name string) int {
	p.t.Helper()
	port, ok := p.byName[name]
	if !ok {
		port = FreePort(p.t)
		p.byName[name] = port
	}
	return port
}

// Start writes caddyfile to a temporary directory and runs
// `caddy run --config <file> --adapter caddyfile` with HOME, XDG_DATA_HOME and
// XDG_CONFIG_HOME inside that directory. The Caddyfile's global options must
// put the admin endpoint on a free local port and make sites listen on
// 127.0.0.1 only (see [Globals]). Start returns once the admin endpoint
// answers and every HTTP listener of the config accepts connections; if that
// does not happen in time it fails the test with Caddy's output. The instance
// is stopped when the test ends, and its output is logged if the test failed.
//
// Start tries only the ports written in caddyfile; [StartOnFreePorts] tries
// new ones when a port is taken.
func Start(t testing.TB, caddyfile string, opts ...Option) *Instance {
	t.Helper()
	return start(t, 1, func(*Ports) string { return caddyfile }, opts)
}

// StartOnFreePorts is [Start] for a Caddyfile that caddyfile renders from
// the ports it asks for: when Caddy cannot bind one of them because another
// process took it after [FreePort] found it free, StartOnFreePorts renders the
// Caddyfile again with new ports and tries again, a few times. The instance's
// [Instance.Port] tells the ports of the attempt that started.
func StartOnFreePorts(t testing.TB, caddyfile func(p *Ports) string, opts ...Option) *Instance {
	t.Helper()
	return start(t, startAttempts, caddyfile, opts)
}

func start(t testing.TB, attempts int, render func(p *Ports) string, opts []Option) *Instance {
	t.Helper()
	bin := Binary(t)
	inst := &Instance{
		Dir:    t.TempDir(),
		bin:    bin,
		opts:   options{startTimeout: DefaultStartTimeout, stopTimeout: DefaultStopTimeout},
		client: &http.Client{Timeout: 5 * time.Second},
	}
	for _, opt := range opts {
		opt(&inst.opts)
	}
	inst.ConfigPath = filepath.Join(inst.Dir, "Caddyfile")
	inst.LogPath = filepath.Join(inst.Dir, "caddy.log")
	for _, sub := range []string{"home", "data", "config"} {
		if err := os.MkdirAll(filepath.Join(inst.Dir, sub), 0o700); err != nil {
			t.Fatalf("testcaddy: %v", err)
		}
	}
	logFile, err := os.OpenFile(inst.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("testcaddy: opening log file: %v", err)
	}
	inst.logs = &logSink{file: logFile}

	t.Cleanup(func() {
		if err := inst.Stop(); err != nil {
			t.Errorf("testcaddy: stopping caddy: %v", err)
		}
		if t.Failed() {
			t.Logf("testcaddy: caddy output (%s):\n%s", inst.LogPath, inst.Logs())
		}
		_ = logFile.Close()
	})

	for attempt := 1; ; attempt++ {
		ports := &Ports{t: t, byName: map[string]int{}}
		caddyfile := render(ports)
		admin, err := adminURL(caddyfile)
		if err != nil {
			t.Fatalf("testcaddy: %v", err)
		}
		inst.AdminURL, inst.ports = admin, ports.byName
		if err := os.WriteFile(inst.ConfigPath, []byte(caddyfile), 0o600); err != nil {
			t.Fatalf("testcaddy: writing Caddyfile: %v", err)
		}
		logged := inst.logs.len()
		err = inst.launchAndWait()
		if err == nil {
			return inst
		}
		inst.Kill()
		if attempt < attempts && strings.Contains(inst.logs.since(logged), "address already in use") {
			fmt.Fprintf(inst.logs, "=== testcaddy: a port was taken; trying new ports\n")
			continue
		}
		t.Fatalf("testcaddy: %v\n--- caddy output ---\n%s", err, inst.Logs())
	}
}

// adminURL returns the admin endpoint's URL from a Caddyfile's global options.
func adminURL(caddyfile string) (string, error) {
	m := adminDirective.FindStringSubmatch(caddyfile)
	if m == nil || m[1] == "off" {
		return "", errors.New("the Caddyfile must set `admin 127.0.0.1:<port>` in its global options (see testcaddy.Globals)")
	}
	addr := strings.TrimPrefix(m[1], "tcp/")
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", fmt.Errorf("admin address %q: %v", m[1], err)
	}
	return "http://" + addr, nil
}

// Logs returns everything Caddy wrote to stdout and stderr so far, across
// restarts.
func (i *Instance) Logs() string { return i.logs.String() }

// Running reports whether the Caddy process is alive.
func (i *Instance) Running() bool {
	p := i.current()
	return p != nil && !p.exited()
}

// PID returns the current process ID, or 0 when stopped.
func (i *Instance) PID() int {
	if p := i.current(); p != nil {
		return p.cmd.Process.Pid
	}
	return 0
}

// Stop sends SIGTERM and waits for Caddy to exit, killing it after the stop
// timeout. It returns an error if Caddy did not exit with status 0 (including
// a crash before Stop was called). Stopping a stopped instance does nothing.
func (i *Instance) Stop() error {
	p := i.take()
	if p == nil {
		return nil
	}
	if p.exited() {
		return exitError("caddy had already exited", p.err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("sending SIGTERM: %w", err)
	}
	select {
	case <-p.done:
		return exitError("caddy exited uncleanly after SIGTERM", p.err)
	case <-time.After(i.opts.stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("caddy did not exit within %s of SIGTERM; killed it", i.opts.stopTimeout)
	}
}

func exitError(msg string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", msg, err)
}

// Kill sends SIGKILL and waits for the process to be gone, as a crash or a
// power cut would leave it. Killing a stopped instance does nothing.
func (i *Instance) Kill() {
	p := i.take()
	if p == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Restart stops Caddy if it still runs, then starts it again with the current
// config file and the same directories, and waits until it serves.
func (i *Instance) Restart(t testing.TB) {
	t.Helper()
	if err := i.Stop(); err != nil {
		t.Fatalf("testcaddy: restart: %v\n--- caddy output ---\n%s", err, i.Logs())
	}
	if err := i.launchAndWait(); err != nil {
		i.Kill()
		t.Fatalf("testcaddy: restart: %v\n--- caddy output ---\n%s", err, i.Logs())
	}
}

// KillAndStart kills Caddy as a crash would, then starts it again with the
// current config file and the same directories, and returns once it serves.
// Unlike Restart it reports to its caller, so it may run off the test's
// goroutine (in a handler the test serves, say).
func (i *Instance) KillAndStart() error {
	i.Kill()
	if err := i.launchAndWait(); err != nil {
		i.Kill()
		return fmt.Errorf("testcaddy: start after kill: %w", err)
	}
	return nil
}

// Reload replaces the running config with caddyfile through the admin API
// (POST /load, Content-Type text/caddyfile), as `caddy reload` does, and
// rewrites the config file so that a later Restart uses it. It fails the test
// if Caddy refuses the config.
func (i *Instance) Reload(t testing.TB, caddyfile string) {
	t.Helper()
	if err := i.TryReload(caddyfile); err != nil {
		t.Fatalf("testcaddy: reload: %v\n--- caddy output ---\n%s", err, i.Logs())
	}
}

// TryReload is [Instance.Reload] for tests that expect a refusal: it returns
// the error instead of failing the test, and leaves the config file alone
// when the load fails.
func (i *Instance) TryReload(caddyfile string) error {
	admin, err := adminURL(caddyfile)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, i.AdminURL+"/load", strings.NewReader(caddyfile))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/caddyfile")
	resp, err := i.client.Do(req)
	if err != nil {
		return fmt.Errorf("POST /load: %w", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /load: %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	if err := os.WriteFile(i.ConfigPath, []byte(caddyfile), 0o600); err != nil {
		return fmt.Errorf("writing Caddyfile: %w", err)
	}
	i.AdminURL = admin
	p := i.current()
	if p == nil {
		return errors.New("caddy is not running")
	}
	return i.waitReady(p)
}

func (i *Instance) current() *process {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.proc
}

// take detaches the current process from the instance, so that exactly one
// caller stops it.
func (i *Instance) take() *process {
	i.mu.Lock()
	defer i.mu.Unlock()
	p := i.proc
	i.proc = nil
	return p
}

// launchAndWait starts the binary with the config file and waits until it
// serves. On failure the process is left for the caller to kill.
func (i *Instance) launchAndWait() error {
	i.mu.Lock()
	if i.proc != nil {
		i.mu.Unlock()
		return errors.New("caddy is already running")
	}
	i.starts++
	args := []string{"run", "--config", i.ConfigPath, "--adapter", "caddyfile"}
	fmt.Fprintf(i.logs, "=== testcaddy: start #%d: %s %s\n", i.starts, i.bin, strings.Join(args, " "))
	cmd := exec.Command(i.bin, args...)
	cmd.Dir = i.Dir
	cmd.Env = append(os.Environ(),
		"HOME="+filepath.Join(i.Dir, "home"),
		"XDG_DATA_HOME="+filepath.Join(i.Dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(i.Dir, "config"),
	)
	cmd.Env = append(cmd.Env, i.opts.env...)
	cmd.Stdout = i.logs
	cmd.Stderr = i.logs
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		i.mu.Unlock()
		return fmt.Errorf("starting caddy: %w", err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	i.proc = p
	i.mu.Unlock()
	return i.waitReady(p)
}

// waitReady polls until the admin endpoint answers GET /config/ and every TCP
// listener of the http app accepts connections. The admin endpoint starts
// before the apps do, so the first alone does not mean Caddy serves.
func (i *Instance) waitReady(p *process) error {
	ctx, cancel := context.WithTimeout(context.Background(), i.opts.startTimeout)
	defer cancel()
	var last error
	for {
		if p.exited() {
			return exitError("caddy exited while starting", p.err)
		}
		last = i.checkReady(ctx)
		if last == nil || errors.Is(last, errEveryInterface) {
			return last
		}
		select {
		case <-p.done:
			if p.err == nil {
				return errors.New("caddy exited while starting")
			}
			return exitError("caddy exited while starting", p.err)
		case <-ctx.Done():
			return fmt.Errorf("caddy not ready after %s: %v", i.opts.startTimeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (i *Instance) checkReady(ctx context.Context) error {
	if _, err := i.adminGet(ctx, "/config/"); err != nil {
		return err
	}
	body, err := i.adminGet(ctx, "/config/apps/http/servers")
	if err != nil {
		return err
	}
	var servers map[string]struct {
		Listen []string `json:"listen"`
	}
	if err := json.Unmarshal(body, &servers); err != nil {
		return fmt.Errorf("decoding http servers: %w", err)
	}
	dialer := net.Dialer{Timeout: 500 * time.Millisecond}
	for name, srv := range servers {
		for _, listen := range srv.Listen {
			addr, ok := dialAddress(listen)
			if !ok {
				continue
			}
			if bindsEveryInterface(listen) {
				return fmt.Errorf("%w: server %s listens on %q; put `default_bind 127.0.0.1` in the global options (testcaddy.Globals does) or `bind 127.0.0.1` in the site",
					errEveryInterface, name, listen)
			}
			conn, err := dialer.DialContext(ctx, "tcp", addr)
			if err != nil {
				return fmt.Errorf("server %s not listening on %s yet: %w", name, listen, err)
			}
			conn.Close()
		}
	}
	return nil
}

func (i *Instance) adminGet(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, i.AdminURL+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := i.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin endpoint: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("admin endpoint: GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("admin endpoint: GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(body))
	}
	return body, nil
}

// errEveryInterface is the refusal of a config whose server listens on every
// interface: it would collide with whatever holds its port on any address,
// and expose a test server to the network.
var errEveryInterface = errors.New("a server binds every interface")

// bindsEveryInterface reports whether a Caddy TCP listen address has no host
// or a wildcard one.
func bindsEveryInterface(listen string) bool {
	if idx := strings.Index(listen, "/"); idx >= 0 && !strings.HasPrefix(listen, "[") {
		listen = listen[idx+1:]
	}
	host, _, err := net.SplitHostPort(listen)
	return err == nil && (host == "" || net.ParseIP(host).IsUnspecified())
}

// dialAddress turns a Caddy listen address (":8080", "tcp/127.0.0.1:8080",
// "[::]:8080-8081") into an address to dial on this host; it reports false for
// non-TCP networks such as unix sockets.
func dialAddress(listen string) (string, bool) {
	network, addr := "tcp", listen
	if idx := strings.Index(listen, "/"); idx >= 0 && !strings.HasPrefix(listen, "[") {
		network, addr = listen[:idx], listen[idx+1:]
	}
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return "", false
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", false
	}
	port, _, _ = strings.Cut(port, "-")
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port), true
}

// logSink collects a process's output in memory and in a file.
type logSink struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	file *os.File
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	_, _ = s.file.Write(p)
	return len(p), nil
}

// len is how many bytes were written so far; see since.
func (s *logSink) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Len()
}

// since returns what was written after the first offset bytes.
func (s *logSink) since(offset int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.buf.Bytes()[offset:])
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

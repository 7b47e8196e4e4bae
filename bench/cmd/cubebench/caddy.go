package main

import (
	"bufio"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// benchAuthKey is app 1's auth key in every benchmark server. It is a
// credential only for servers this program starts on loopback.
const benchAuthKey = "6f1c2b8e-0d4a-4c55-9a57-2a3c4f1e9b10"

// ports are the sites of one benchmark server, all in one Caddy process and
// all in front of one backend site, so that they differ only in what the
// benchmark compares.
type ports struct {
	b0, b1, b2, backend int
	// b1a and b1b are B1 with a signed assertion, unbound and bound.
	b1a, b1b int
}

// caddyfile is the benchmark server: B0 a plain reverse_proxy, B1 the same
// behind cubeauth, B2 = B1 with the session cache off, and the backend a
// Caddy respond site. B3 is B1 with an invalid token. Every request comes
// from 127.0.0.1, so the abuse limits that key on the client IP are off
// (the login storm would otherwise be throttled before it costs a hash).
func caddyfile(p ports, dataDir, admin, options string) string {
	cubeauth := func(extra string) string {
		return `	cubeauth {
		storage badger ` + dataDir + `
` + extra + options + `		limits {
			failures_per_ip off
			failures_per_account_ip off
			failures_per_account off
			sessions_per_ip off
		}
		app 1 {
			auth_key {env.CUBEBENCH_AUTH_KEY}
			stage development
		}
	}
`
	}
	return fmt.Sprintf(`{
	admin %s
	persist_config off
	grace_period 2s
}
http://127.0.0.1:%d {
	bind 127.0.0.1
	reverse_proxy 127.0.0.1:%d
}
http://127.0.0.1:%d {
	bind 127.0.0.1
%s	reverse_proxy 127.0.0.1:%d
}
http://127.0.0.1:%d {
	bind 127.0.0.1
%s	reverse_proxy 127.0.0.1:%d
}
http://127.0.0.1:%d {
	bind 127.0.0.1
	respond "{\"ok\":true}" 200
}
http://127.0.0.1:%d {
	bind 127.0.0.1
%s	reverse_proxy 127.0.0.1:%d
}
http://127.0.0.1:%d {
	bind 127.0.0.1
%s	reverse_proxy 127.0.0.1:%d
}
`, admin, p.b0, p.backend, p.b1, cubeauth(""), p.backend, p.b2, cubeauth("\t\tsession_cache_size -1\n"), p.backend, p.backend,
		p.b1a, cubeauth("\t\tassertion\n"), p.backend, p.b1b, cubeauth("\t\tassertion {\n\t\t\tbind_request\n\t\t}\n"), p.backend)
}

// caddyProc is a running benchmark server.
type caddyProc struct {
	cmd     *exec.Cmd
	ports   ports
	done    chan struct{}
	logPath string
	// startup is the time from exec to the first HTTP answer of B1: Caddy
	// answers only after every handler is provisioned (store opened, apps
	// applied).
	startup time.Duration
}

// startCaddy runs bin with a new Caddyfile in dir, on free ports, and
// waits until B1 answers. admin is Caddy's admin address ("off", or an
// address to profile through: /debug/pprof/). options are extra cubeauth
// subdirectives, one per line.
func startCaddy(bin, dir, dataDir, admin, options string) (*caddyProc, error) {
	var p ports
	for _, port := range []*int{&p.b0, &p.b1, &p.b2, &p.backend, &p.b1a, &p.b1b} {
		var err error
		if *port, err = freePort(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	config := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(config, []byte(caddyfile(p, dataDir, admin, options)), 0o644); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "caddy.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "run", "--config", config, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "xdg-data"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "xdg-config"), "CUBEBENCH_AUTH_KEY="+benchAuthKey)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting caddy: %w", err)
	}
	c := &caddyProc{cmd: cmd, ports: p, done: make(chan struct{}), logPath: logPath}
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(c.done)
	}()
	client := &http.Client{Timeout: time.Second}
	for deadline := started.Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		select {
		case <-c.done:
			return nil, fmt.Errorf("caddy exited while starting; see %s", logPath)
		default:
		}
		res, err := client.Get(c.url(p.b1, "/"))
		if err == nil {
			res.Body.Close()
			c.startup = time.Since(started)
			return c, nil
		}
	}
	c.stop()
	return nil, errors.New("caddy did not answer within 5 minutes; see " + logPath)
}

func (c *caddyProc) url(port int, path string) string {
	return "http://127.0.0.1:" + strconv.Itoa(port) + path
}

// stop ends Caddy gracefully, or kills it after 20 seconds.
func (c *caddyProc) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// cpuTime is the CPU time Caddy has used so far (user + system).
func (c *caddyProc) cpuTime() time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: utime and stime are the 12th and 13th, in clock ticks.
	_, rest, _ := strings.Cut(string(data), ") ")
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// memUsage is Caddy's resident memory, in bytes.
type memUsage struct {
	// RSS is all of it; Peak its high-water mark.
	RSS, Peak int64
	// Anon is the Go heap, stacks and Badger's memtables; File is pages of
	// mmapped files (Badger's tables and value log), which the kernel can
	// drop and read back as it needs.
	Anon, File int64
}

func (m memUsage) String() string {
	return fmt.Sprintf("%s (anon %s + file %s; peak %s)", mib(m.RSS), mib(m.Anon), mib(m.File), mib(m.Peak))
}

// memory reads Caddy's resident memory from /proc.
func (c *caddyProc) memory() memUsage {
	var m memUsage
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return m
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, _ := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(value)
		if len(fields) == 0 {
			continue
		}
		kb, _ := strconv.ParseInt(fields[0], 10, 64)
		switch name {
		case "VmRSS":
			m.RSS = kb << 10
		case "VmHWM":
			m.Peak = kb << 10
		case "RssAnon":
			m.Anon = kb << 10
		case "RssFile", "RssShmem":
			m.File += kb << 10
		}
	}
	return m
}

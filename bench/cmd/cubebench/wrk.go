package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what one wrk run measured.
type wrkResult struct {
	Requests int64
	Duration time.Duration
	// Non2xx counts answers outside 2xx and 3xx (expected for B3: 401).
	Non2xx int64
	// SocketErrors are connect, read, write and timeout errors.
	SocketErrors       int64
	P50, P90, P99, Max time.Duration
	// CPUPerRequest is the CPU time Caddy (proxy, cubeauth and backend
	// site) used during the run, divided by the requests: less sensitive
	// to other load on the machine than throughput.
	CPUPerRequest time.Duration
}

// RPS is requests per second.
func (r wrkResult) RPS() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Duration.Seconds()
}

// wrkReport is appended to every script: wrk calls done() once with the
// totals, and this prints them on one line that runWrk parses.
const wrkReport = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("CUBEBENCH %d %d %d %d %d %d %d %d %d %d\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, 0, 0))
end
`

// wrkRun is one invocation of wrk.
type wrkRun struct {
	threads, conns int
	duration       time.Duration
	url            string
	// script is Lua that sets up the requests (headers, body, request()).
	script string
}

// runWrk runs wrk and parses its report. The command line is returned for
// the record.
func runWrk(ctx context.Context, dir string, run wrkRun) (wrkResult, string, error) {
	f, err := os.CreateTemp(dir, "wrk-*.lua")
	if err != nil {
		return wrkResult{}, "", err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(run.script + wrkReport); err != nil {
		f.Close()
		return wrkResult{}, "", err
	}
	f.Close()
	args := []string{"-t" + strconv.Itoa(run.threads), "-c" + strconv.Itoa(run.conns),
		"-d" + strconv.Itoa(int(run.duration.Seconds())) + "s", "--timeout", "10s", "-s", f.Name(), run.url}
	cmdline := "wrk " + strings.Join(args, " ")
	cmdline = strings.Replace(cmdline, f.Name(), filepath.Base(f.Name()), 1)
	cmd := exec.CommandContext(ctx, "wrk", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return wrkResult{}, cmdline, fmt.Errorf("%s: %w\n%s", cmdline, err, out.String())
	}
	for _, line := range strings.Split(out.String(), "\n") {
		fields := strings.Fields(line)
		if len(fields) != 11 || fields[0] != "CUBEBENCH" {
			continue
		}
		n := make([]int64, 10)
		for i := range n {
			n[i], _ = strconv.ParseInt(fields[i+1], 10, 64)
		}
		us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
		return wrkResult{
			Requests: n[0], Duration: us(n[1]), Non2xx: n[2], SocketErrors: n[3],
			P50: us(n[4]), P90: us(n[5]), P99: us(n[6]), Max: us(n[7]),
		}, cmdline, nil
	}
	return wrkResult{}, cmdline, fmt.Errorf("%s: no report in output:\n%s", cmdline, out.String())
}

// Scripts.

func luaString(s string) string { return strconv.Quote(s) }

// getScript sends GET requests with a token (none when token is "").
func getScript(token string) string {
	if token == "" {
		return ""
	}
	return "wrk.headers[\"CB-Token\"] = " + luaString(token) + "\n"
}

// pacedScript is getScript with a pause before each request on each
// connection: conns connections then offer about conns*1000/pauseMs
// requests per second, far below capacity, so latency is not queueing.
func pacedScript(token string, pauseMs int) string {
	return getScript(token) + fmt.Sprintf("delay = function() return %d end\n", pauseMs)
}

// rotatingScript sends each request with the next token of a file (one
// per line), each thread starting elsewhere in it.
func rotatingScript(tokenFile string) string {
	return `local tokens = {}
for line in io.lines(` + luaString(tokenFile) + `) do tokens[#tokens + 1] = line end
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("offset", threads * 104729)
end
local i = nil
request = function()
  if i == nil then i = (offset or 0) % #tokens end
  i = i % #tokens + 1
  return wrk.format(nil, nil, {["CB-Token"] = tokens[i]})
end
`
}

// createSessionScript posts app-session creations.
func createSessionScript(authKey string) string {
	return `wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = ` + luaString(`{"application_id":1,"auth_key":"`+authKey+`"}`) + "\n"
}

// loginScript posts user-session creations for logins prefix0..prefix(n-1)
// with password, in turn.
func loginScript(authKey, prefix string, n int, password string) string {
	return fmt.Sprintf(`wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local i = 0
request = function()
  i = i + 1
  local body = string.format('{"application_id":1,"auth_key":"%s","user":{"login":"%s%%d","password":"%s"}}', i %% %d)
  return wrk.format(nil, "/session", nil, body)
end
`, authKey, prefix, password, n)
}

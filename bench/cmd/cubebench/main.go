// Command cubebench measures what cubeauth costs on the proxied path, side
// by side with a plain reverse_proxy in the same run, and how fast it
// creates sessions, how a login storm affects proxied requests, and how it
// behaves with a million users and sessions. It builds Caddy from
// ./cmd/caddy, starts it on loopback ports, drives wrk, and prints
// Markdown tables (BENCHMARKS.md quotes them).
//
//	go run ./bench/cmd/cubebench [-d 10s] [-rounds 3] [-phases proxy,create,storm,scale] [-scale 1000,1000000]
//
// Rounds interleave the scenarios (B0, B1, B2, B3, B0, B1, ...), so machine
// noise hits all of them alike; tables show medians over the rounds, and
// ratios are medians of each round's ratio. Needs wrk (scripts/setup.sh
// installs it). Only 127.0.0.1 is ever sent a request.
package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/cubeauth/cubeauth/authcore"
)

// benchPassword is every benchmark user's password.
const benchPassword = "correct horse battery staple"

type config struct {
	caddyBin  string
	duration  time.Duration
	rounds    int
	threads   int
	conns     int
	phases    map[string]bool
	scale     []int
	out       string
	keep      bool
	accounts  int
	pacedConn int
	pauseMs   int
	stormX    float64
	stormKey  string
	stormSpin bool
	admin     string
	options   string
	createC   int
}

func main() {
	log.SetFlags(log.Ltime)
	log.SetPrefix("cubebench: ")
	var cfg config
	var phases, scale string
	flag.StringVar(&cfg.caddyBin, "caddy", os.Getenv("CUBEAUTH_CADDY_BIN"), "Caddy binary with cubeauth (default: build ./cmd/caddy)")
	flag.DurationVar(&cfg.duration, "d", 10*time.Second, "duration of each measurement")
	flag.IntVar(&cfg.rounds, "rounds", 3, "rounds of interleaved scenarios; tables show medians")
	flag.IntVar(&cfg.threads, "t", 1, "wrk threads")
	flag.IntVar(&cfg.conns, "c", 32, "wrk connections for throughput runs")
	flag.StringVar(&phases, "phases", "proxy,create,storm,scale", "phases to run, of proxy, assertion, create, storm and scale")
	flag.StringVar(&scale, "scale", "1000,1000000", "store sizes (users and sessions each) for the scale phase")
	flag.StringVar(&cfg.out, "o", "", "also write the report to this file")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the work directory (Caddyfiles, logs, data)")
	flag.IntVar(&cfg.createC, "create-c", 128, "wrk connections creating app sessions (each group fsync covers the creations in flight)")
	flag.IntVar(&cfg.accounts, "accounts", 64, "accounts used by logins and the login storm")
	flag.IntVar(&cfg.pacedConn, "paced-c", 8, "connections of the paced latency probe")
	flag.IntVar(&cfg.pauseMs, "paced-pause", 4, "pause in ms before each paced request on a connection")
	flag.Float64Var(&cfg.stormX, "storm-x", 10, "login storm rate, as a multiple of the raw argon2id rate")
	flag.StringVar(&cfg.stormKey, "storm-auth-key", "", "auth key the storm sends (default: the right one, so each login costs a hash turn; a wrong one measures the storm's HTTP cost alone)")
	flag.BoolVar(&cfg.stormSpin, "storm-spin", false, "during the storm, also spin a thread in the idle CPU class (with -storm-x 0: only that), to measure what sharing the CPUs with background work costs B1")
	flag.StringVar(&cfg.admin, "admin", "off", "Caddy's admin address, e.g. 127.0.0.1:2999 to take profiles at /debug/pprof/ during a run")
	flag.StringVar(&cfg.options, "cubeauth", "", "extra cubeauth subdirectives for every server, separated by ';' (e.g. \"hash_concurrency 1\")")
	flag.Parse()
	cfg.phases = map[string]bool{}
	for _, p := range strings.Split(phases, ",") {
		cfg.phases[strings.TrimSpace(p)] = true
	}
	for _, s := range strings.Split(scale, ",") {
		if s = strings.TrimSpace(s); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				log.Fatalf("-scale: %q is not a positive number", s)
			}
			cfg.scale = append(cfg.scale, n)
		}
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		log.Fatal("wrk not found: install it (scripts/setup.sh, or apt-get install wrk)")
	}
	work, err := os.MkdirTemp("", "cubebench-")
	if err != nil {
		log.Fatal(err)
	}
	if !cfg.keep {
		defer os.RemoveAll(work)
	}
	if cfg.caddyBin == "" {
		cfg.caddyBin = filepath.Join(work, "caddy")
		log.Printf("building ./cmd/caddy")
		cmd := exec.Command("go", "build", "-o", cfg.caddyBin, "./cmd/caddy")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			log.Fatalf("building caddy: %v", err)
		}
	}
	b := &bench{cfg: cfg, work: work, ctx: context.Background()}
	if err := b.run(); err != nil {
		log.Print(err)
		b.finish()
		os.Exit(1)
	}
	b.finish()
}

type bench struct {
	cfg  config
	work string
	ctx  context.Context
	out  bytes.Buffer
	// hashRate is the raw argon2id rate measured in the create phase.
	hashRate float64
}

// options are the -cubeauth subdirectives as Caddyfile lines.
func (b *bench) options() string {
	var lines strings.Builder
	for _, o := range strings.Split(b.cfg.options, ";") {
		if o = strings.TrimSpace(o); o != "" {
			lines.WriteString("\t\t" + o + "\n")
		}
	}
	return lines.String()
}

func (b *bench) printf(format string, args ...any) {
	fmt.Fprintf(&b.out, format, args...)
}

func (b *bench) finish() {
	b.printf("\nLoad average at the end: %s\n", loadavg())
	os.Stdout.Write(b.out.Bytes())
	if b.cfg.out != "" {
		if err := os.WriteFile(b.cfg.out, b.out.Bytes(), 0o644); err != nil {
			log.Print(err)
		}
	}
	if b.cfg.keep {
		log.Printf("work directory kept: %s", b.work)
	}
}

func (b *bench) run() error {
	b.machine()
	needServer := b.cfg.phases["proxy"] || b.cfg.phases["assertion"] || b.cfg.phases["create"] || b.cfg.phases["storm"]
	if needServer {
		c, err := startCaddy(b.cfg.caddyBin, filepath.Join(b.work, "main"), filepath.Join(b.work, "main", "data"), b.cfg.admin, b.options())
		if err != nil {
			return err
		}
		err = b.mainPhases(c)
		c.stop()
		if err != nil {
			return err
		}
	}
	if b.cfg.phases["scale"] {
		return b.scalePhase()
	}
	return nil
}

func (b *bench) machine() {
	b.printf("## Machine\n\n")
	b.printf("| | |\n|---|---|\n")
	b.printf("| CPUs (nproc) | %d |\n", runtime.NumCPU())
	b.printf("| CPU model | %s |\n", cpuModel())
	b.printf("| memory | %s |\n", memTotal())
	b.printf("| kernel | %s |\n", readTrim("/proc/sys/kernel/osrelease"))
	b.printf("| Go | %s |\n", runtime.Version())
	b.printf("| wrk | %s |\n", wrkVersion())
	b.printf("| load average at the start | %s |\n", loadavg())
	b.printf("| settings | `-d %s -rounds %d -t %d -c %d -cubeauth %q` |\n\n", b.cfg.duration, b.cfg.rounds, b.cfg.threads, b.cfg.conns, b.cfg.options)
}

func (b *bench) mainPhases(c *caddyProc) error {
	userToken, err := createSession(c.url(c.ports.b1, "/session"), "benchuser", benchPassword)
	if err != nil {
		return err
	}
	appToken, err := createSession(c.url(c.ports.b1, "/session"), "", "")
	if err != nil {
		return err
	}
	_ = appToken
	if b.cfg.phases["proxy"] {
		if err := b.proxyPhase(c, userToken); err != nil {
			return err
		}
	}
	if b.cfg.phases["assertion"] {
		if err := b.assertionPhase(c, userToken); err != nil {
			return err
		}
	}
	if b.cfg.phases["create"] || b.cfg.phases["storm"] {
		log.Printf("creating %d accounts", b.cfg.accounts)
		for i := range b.cfg.accounts {
			if _, err := createSession(c.url(c.ports.b1, "/session"), "acct"+strconv.Itoa(i), benchPassword); err != nil {
				return err
			}
		}
	}
	if b.cfg.phases["create"] {
		if err := b.createPhase(c); err != nil {
			return err
		}
	}
	if b.cfg.phases["storm"] {
		if err := b.stormPhase(c, userToken); err != nil {
			return err
		}
	}
	return nil
}

// scenario is one column of a side-by-side comparison.
type scenario struct {
	name, what string
	run        wrkRun
	// wantStatus is what a single request must answer before measuring.
	wantStatus int
	token      string
}

func (b *bench) throughputRun(url, script string) wrkRun {
	return wrkRun{threads: b.cfg.threads, conns: b.cfg.conns, duration: b.cfg.duration, url: url, script: script}
}

// proxyScenarios are B0..B3 against c.
func (b *bench) proxyScenarios(c *caddyProc, token string, withB3 bool) []scenario {
	path := "/api/messages?limit=20"
	sc := []scenario{
		{name: "B0", what: "plain reverse_proxy", run: b.throughputRun(c.url(c.ports.b0, path), getScript("")), wantStatus: 200},
		{name: "B1", what: "cubeauth, valid token (cached)", run: b.throughputRun(c.url(c.ports.b1, path), getScript(token)), wantStatus: 200, token: token},
		{name: "B2", what: "cubeauth, session_cache_size -1 (Badger)", run: b.throughputRun(c.url(c.ports.b2, path), getScript(token)), wantStatus: 200, token: token},
	}
	if withB3 {
		// B0h isolates what the identity headers cost in transit: B0 with
		// the client sending the four headers cubeauth injects, so that
		// the proxy and the backend handle the same upstream request as
		// in B1, without cubeauth.
		identity := `wrk.headers["X-Cube-User-Id"] = "1"
wrk.headers["X-Cube-App-Id"] = "1"
wrk.headers["X-Cube-User-Login"] = "benchuser"
wrk.headers["X-Cube-Session-Type"] = "user"
`
		sc = slices.Insert(sc, 1, scenario{name: "B0h", what: "plain reverse_proxy, the client sending B1's four identity headers",
			run: b.throughputRun(c.url(c.ports.b0, path), identity), wantStatus: 200})
		// B1a and B1b: B1 with a signed identity assertion, unbound (one
		// per session, reused) and bound (signed per request).
		sc = slices.Insert(sc, 3,
			scenario{name: "B1a", what: "cubeauth with `assertion` (unbound, cached per session)",
				run: b.throughputRun(c.url(c.ports.b1a, path), getScript(token)), wantStatus: 200, token: token},
			scenario{name: "B1b", what: "cubeauth with `assertion { bind_request }` (ES256 per request)",
				run: b.throughputRun(c.url(c.ports.b1b, path), getScript(token)), wantStatus: 200, token: token})
		invalid := strings.Repeat("0", 64)
		sc = append(sc, scenario{name: "B3", what: "cubeauth, invalid token (401, no upstream)",
			run: b.throughputRun(c.url(c.ports.b1, path), getScript(invalid)), wantStatus: 401, token: invalid})
	}
	return sc
}

// sideBySide checks each scenario once, warms them up, then measures
// rounds of all of them in turn, every other round in reverse order (B0 B1
// B2 B3 B3 B2 B1 B0 ...), so that a drift in the machine's load does not
// favour the scenarios that come first.
func (b *bench) sideBySide(c *caddyProc, scenarios []scenario) ([][]wrkResult, []string, error) {
	cmdlines := make([]string, len(scenarios))
	for _, s := range scenarios {
		if err := expectStatus(s.run.url, s.token, s.wantStatus); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", s.name, err)
		}
		warm := s.run
		warm.duration = 2 * time.Second
		if _, _, err := runWrk(b.ctx, b.work, warm); err != nil {
			return nil, nil, err
		}
	}
	results := make([][]wrkResult, len(scenarios))
	for round := range b.cfg.rounds {
		order := make([]int, len(scenarios))
		for i := range order {
			order[i] = i
		}
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, i := range order {
			s := scenarios[i]
			cpu := c.cpuTime()
			res, cmdline, err := runWrk(b.ctx, b.work, s.run)
			if err != nil {
				return nil, nil, err
			}
			if res.Requests > 0 {
				res.CPUPerRequest = (c.cpuTime() - cpu) / time.Duration(res.Requests)
			}
			cmdlines[i] = cmdline
			log.Printf("round %d %s: %.0f req/s p50 %v p99 %v cpu/req %v non-2xx %d errors %d", round+1, s.name,
				res.RPS(), res.P50, res.P99, res.CPUPerRequest, res.Non2xx, res.SocketErrors)
			results[i] = append(results[i], res)
		}
	}
	return results, cmdlines, nil
}

// throughputTable prints the scenarios' medians and each one's ratio to
// the first (B0), the median of the per-round ratios.
func (b *bench) throughputTable(scenarios []scenario, results [][]wrkResult) {
	b.printf("| scenario | req/s (median) | ratio to B0 (median of rounds) | p50 | p99 | Caddy CPU per request | CPU/request − B0's | req/s per round | non-2xx | socket errors |\n")
	b.printf("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|\n")
	var cpu0 float64
	for i, s := range scenarios {
		var rps, ratios, p50, p99, cpu []float64
		var rounds []string
		var non2xx, errs int64
		for r, res := range results[i] {
			rps = append(rps, res.RPS())
			ratios = append(ratios, res.RPS()/results[0][r].RPS())
			p50 = append(p50, float64(res.P50))
			p99 = append(p99, float64(res.P99))
			cpu = append(cpu, float64(res.CPUPerRequest))
			rounds = append(rounds, fmt.Sprintf("%.0f", res.RPS()))
			non2xx += res.Non2xx
			errs += res.SocketErrors
		}
		if i == 0 {
			cpu0 = median(cpu)
		}
		b.printf("| %s: %s | %.0f | %.3f | %v | %v | %.1f µs | %+.1f µs | %s | %d | %d |\n", s.name, s.what, median(rps), median(ratios),
			roundDur(median(p50)), roundDur(median(p99)), median(cpu)/1e3, (median(cpu)-cpu0)/1e3,
			strings.Join(rounds, ", "), non2xx, errs)
	}
	b.printf("\n")
}

func (b *bench) commands(scenarios []scenario, cmdlines []string) {
	b.printf("Commands (the Lua script sets the `CB-Token` header; ports are picked at start):\n\n```\n")
	for i, s := range scenarios {
		b.printf("%s: %s\n", s.name, cmdlines[i])
	}
	b.printf("```\n\n")
}

func (b *bench) proxyPhase(c *caddyProc, token string) error {
	log.Printf("proxy phase")
	b.printf("## Proxied path, side by side\n\n")
	b.printf("Load average before: %s\n\n", loadavg())
	scenarios := b.proxyScenarios(c, token, true)
	results, cmdlines, err := b.sideBySide(c, scenarios)
	if err != nil {
		return err
	}
	b.throughputTable(scenarios, results)
	b.commands(scenarios, cmdlines)
	b.printf("Caddy's resident memory after the runs: %s.\n\n", c.memory())
	return nil
}

func (b *bench) createPhase(c *caddyProc) error {
	log.Printf("create phase")
	b.printf("## Session creation\n\n")
	b.printf("Load average before: %s\n\n", loadavg())
	app := b.throughputRun(c.url(c.ports.b1, "/session"), createSessionScript(benchAuthKey))
	app.conns = b.cfg.createC
	user := wrkRun{threads: 1, conns: 2 * runtime.NumCPU(), duration: b.cfg.duration, url: c.url(c.ports.b1, "/session"),
		script: loginScript(benchAuthKey, "acct", b.cfg.accounts, benchPassword)}
	var appRPS, userRPS, hashRPS, hash1RPS, userRatio []float64
	var appCmd, userCmd string
	var appBad, userBad int64
	for round := range b.cfg.rounds {
		res, cmd, err := runWrk(b.ctx, b.work, app)
		if err != nil {
			return err
		}
		appCmd, appBad = cmd, appBad+res.Non2xx+res.SocketErrors
		appRPS = append(appRPS, res.RPS())
		res, cmd, err = runWrk(b.ctx, b.work, user)
		if err != nil {
			return err
		}
		userCmd, userBad = cmd, userBad+res.Non2xx+res.SocketErrors
		userRPS = append(userRPS, res.RPS())
		h := argon2Rate(runtime.NumCPU(), b.cfg.duration)
		hashRPS = append(hashRPS, h)
		h1 := argon2Rate(1, b.cfg.duration)
		hash1RPS = append(hash1RPS, h1)
		// The server hashes hash_concurrency passwords at once: that many
		// raw hashes at once are what its user sessions contain.
		atOnce := h1
		switch n := b.hashConcurrency(); n {
		case 1:
		case runtime.NumCPU():
			atOnce = h
		default:
			atOnce = argon2Rate(n, b.cfg.duration)
		}
		userRatio = append(userRatio, res.RPS()/atOnce)
		log.Printf("round %d: app sessions %.0f/s, user sessions %.1f/s, argon2id %.1f/s (%d at once), %.1f/s (1 at once)",
			round+1, appRPS[round], res.RPS(), h, runtime.NumCPU(), h1)
	}
	b.hashRate = max(median(hashRPS), median(hash1RPS))
	b.printf("| what | per second (median) | per round | failed |\n|---|---:|---|---:|\n")
	b.printf("| app sessions (`POST /session`, %d connections) | %.0f | %s | %d |\n", app.conns, median(appRPS), joinRates(appRPS, 0), appBad)
	b.printf("| user sessions, existing users, OWASP argon2id (`POST /session`, %d connections) | %.1f | %s | %d |\n", user.conns, median(userRPS), joinRates(userRPS, 1), userBad)
	b.printf("| raw argon2id m=19456 t=2 p=1, %d at once (in the driver, between the runs) | %.1f | %s | |\n", runtime.NumCPU(), median(hashRPS), joinRates(hashRPS, 1))
	b.printf("| raw argon2id, 1 at once | %.1f | %s | |\n", median(hash1RPS), joinRates(hash1RPS, 1))
	b.printf("| user sessions / raw argon2id rate at the server's hash_concurrency (%d at once) | %.3f | %s | |\n\n", b.hashConcurrency(), median(userRatio), joinRates(userRatio, 3))
	b.printf("Commands:\n\n```\napp sessions:  %s\nuser sessions: %s\n```\n\n", appCmd, userCmd)
	return nil
}

// argon2Rate hashes with the OWASP parameters from n goroutines for d and
// returns hashes per second.
func argon2Rate(n int, d time.Duration) float64 {
	p := authcore.DefaultArgon2Params
	salt := []byte("cubebench salt16")
	var count atomic.Int64
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				argon2.IDKey([]byte(benchPassword), salt, p.Time, p.MemoryKiB, p.Threads, 32)
				count.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(count.Load()) / time.Since(start).Seconds()
}

// hashConcurrency is the server's hash_concurrency: from -cubeauth, or its
// default (the CPU count less one, at least one).
func (b *bench) hashConcurrency() int {
	for _, opt := range strings.Split(b.cfg.options, ";") {
		if f := strings.Fields(opt); len(f) == 2 && f[0] == "hash_concurrency" {
			if n, err := strconv.Atoi(f[1]); err == nil && n > 0 {
				return n
			}
		}
	}
	return authcore.DefaultHashConcurrency()
}

func (b *bench) stormPhase(c *caddyProc, token string) error {
	log.Printf("storm phase")
	if b.hashRate == 0 {
		b.hashRate = max(argon2Rate(runtime.NumCPU(), 5*time.Second), argon2Rate(1, 5*time.Second))
	}
	rate := b.cfg.stormX * b.hashRate
	b.printf("## Login storm beside B1\n\n")
	b.printf("Load average before: %s\n\n", loadavg())
	url := c.url(c.ports.b1, "/api/messages?limit=20")
	paced := wrkRun{threads: 1, conns: b.cfg.pacedConn, duration: b.cfg.duration, url: url, script: pacedScript(token, b.cfg.pauseMs)}
	saturated := b.throughputRun(url, getScript(token))
	type sample struct{ paced, saturated wrkResult }
	var quiet, stormy []sample
	var pacedCmd, satCmd string
	var totals struct{ sent, unauthorized, busy, throttled, other, failed int64 }
	var stormWindow time.Duration
	for round := range b.cfg.rounds {
		for _, withStorm := range []bool{false, true} {
			var s *storm
			var began time.Time
			if withStorm {
				s = startStorm(c.url(c.ports.b1, "/session"), cmp.Or(b.cfg.stormKey, benchAuthKey), "acct", b.cfg.accounts, rate, b.cfg.stormSpin)
				began = time.Now()
				time.Sleep(3 * time.Second) // let the hashing queue fill
			}
			p, cmd, err := runWrk(b.ctx, b.work, paced)
			if err != nil {
				return err
			}
			pacedCmd = cmd
			sat, cmd, err := runWrk(b.ctx, b.work, saturated)
			if err != nil {
				return err
			}
			satCmd = cmd
			if withStorm {
				stormWindow += time.Since(began)
				s.stop()
				totals.sent += s.sent.Load()
				totals.unauthorized += s.unauthorized.Load()
				totals.busy += s.busy.Load()
				totals.throttled += s.throttled.Load()
				totals.other += s.other.Load()
				totals.failed += s.failed.Load()
				stormy = append(stormy, sample{p, sat})
			} else {
				quiet = append(quiet, sample{p, sat})
			}
			log.Printf("round %d storm=%v: paced %.0f req/s p50 %v p99 %v; saturated %.0f req/s p99 %v",
				round+1, withStorm, p.RPS(), p.P50, p.P99, sat.RPS(), sat.P99)
		}
	}
	pick := func(ss []sample, f func(sample) float64) float64 {
		var v []float64
		for _, s := range ss {
			v = append(v, f(s))
		}
		return median(v)
	}
	var growth []float64
	for i := range quiet {
		growth = append(growth, float64(stormy[i].paced.P99)/float64(quiet[i].paced.P99)-1)
	}
	b.printf("Storm: wrong passwords for %d existing accounts in turn, open loop at %.0f logins/s = %g × the best raw argon2id rate measured in this run (%.1f/s, in the driver).\n\n",
		b.cfg.accounts, rate, b.cfg.stormX, b.hashRate)
	if b.cfg.stormSpin {
		b.printf("During the storm the driver also spins one thread in the kernel's idle CPU class (`-storm-spin`).\n\n")
	}
	b.printf("| B1 | quiet (median) | during the storm (median) | change |\n|---|---:|---:|---:|\n")
	row := func(name string, f func(sample) float64, isDur bool) {
		q, s := pick(quiet, f), pick(stormy, f)
		if isDur {
			b.printf("| %s | %v | %v | %+.0f%% |\n", name, roundDur(q), roundDur(s), 100*(s/q-1))
		} else {
			b.printf("| %s | %.0f | %.0f | %+.0f%% |\n", name, q, s, 100*(s/q-1))
		}
	}
	row("paced: req/s", func(s sample) float64 { return s.paced.RPS() }, false)
	row("paced: p50", func(s sample) float64 { return float64(s.paced.P50) }, true)
	row("paced: p99", func(s sample) float64 { return float64(s.paced.P99) }, true)
	row("saturated: req/s", func(s sample) float64 { return s.saturated.RPS() }, false)
	row("saturated: p50", func(s sample) float64 { return float64(s.saturated.P50) }, true)
	row("saturated: p99", func(s sample) float64 { return float64(s.saturated.P99) }, true)
	b.printf("\nPaced p99 growth per round: %s (median %+.0f%%).\n\n", joinPercents(growth), 100*median(growth))
	var errs int64
	for _, s := range append(slices.Clone(quiet), stormy...) {
		errs += s.paced.Non2xx + s.paced.SocketErrors + s.saturated.Non2xx + s.saturated.SocketErrors
	}
	b.printf("B1 requests that failed (non-2xx or socket errors) in all these runs: %d.\n\n", errs)
	b.printf("Storm answers over %d rounds (%.0f s of storm): %d sent, %d × 401 (hashed, wrong password), %d × 503 (no hashing turn within hash_wait), %d × 429, %d other, %d transport errors.\n\n",
		b.cfg.rounds, stormWindow.Seconds(), totals.sent, totals.unauthorized, totals.busy, totals.throttled, totals.other, totals.failed)
	b.printf("Commands:\n\n```\npaced:     %s   (Lua delay() %d ms before each request)\nsaturated: %s\n```\n\n", pacedCmd, b.cfg.pauseMs, satCmd)
	return nil
}

func (b *bench) scalePhase() error {
	log.Printf("scale phase")
	b.printf("## Scale\n\n")
	type row struct {
		n                 int
		load              loadStats
		startup           time.Duration
		memIdle, memAfter memUsage
		results           [][]wrkResult
		scenarios         []scenario
		cmdlines          []string
		loadBefore        string
	}
	var rows []row
	for _, n := range b.cfg.scale {
		dir := filepath.Join(b.work, "scale-"+strconv.Itoa(n))
		data := filepath.Join(dir, "data")
		log.Printf("loading %d users and %d sessions", n, n)
		ls, err := bulkLoad(data, n, benchPassword)
		if err != nil {
			return err
		}
		log.Printf("loaded: users %v, sessions %v, %s on disk", ls.usersTook, ls.sessTook, mib(ls.dirBytes))
		tokens := filepath.Join(dir, "tokens.txt")
		if err := writeTokenFile(tokens, n); err != nil {
			return err
		}
		c, err := startCaddy(b.cfg.caddyBin, dir, data, b.cfg.admin, b.options())
		if err != nil {
			return err
		}
		r := row{n: n, load: ls, startup: c.startup, loadBefore: loadavg()}
		time.Sleep(2 * time.Second)
		r.memIdle = c.memory()
		token := loadedToken(n / 2)
		r.scenarios = b.proxyScenarios(c, token, false)
		r.scenarios = append(r.scenarios, scenario{name: "B1r", what: "B1 with a different token of the " + strconv.Itoa(n) + " on each request",
			run: b.throughputRun(c.url(c.ports.b1, "/api/messages?limit=20"), rotatingScript(tokens)), wantStatus: 200, token: token})
		r.results, r.cmdlines, err = b.sideBySide(c, r.scenarios)
		r.memAfter = c.memory()
		c.stop()
		if err != nil {
			return err
		}
		rows = append(rows, r)
	}
	b.printf("Users and sessions bulk-loaded through the store API (store/badger, %d writers sharing group fsyncs), each user with one precomputed OWASP argon2id PHC hash, session i belonging to user i; then Caddy started on the directory. B1 and B2 use the token of session n/2; B1r takes the next of all n tokens on each request (the cache holds 100,000 by default, so at 1,000,000 most of its requests read Badger, and the cache fills to its bound).\n\n", loadWriters)
	b.printf("| sessions + users | load: users, sessions | data dir | Caddy start-up | resident memory after start-up | resident memory after the runs | load avg before |\n")
	b.printf("|---:|---|---:|---:|---:|---|---|\n")
	for _, r := range rows {
		b.printf("| %d | %v, %v | %s | %v | %s | %s | %s |\n",
			r.n, r.load.usersTook.Round(100*time.Millisecond), r.load.sessTook.Round(100*time.Millisecond), mib(r.load.dirBytes),
			r.startup.Round(time.Millisecond), r.memIdle, r.memAfter, r.loadBefore)
	}
	b.printf("\n")
	for _, r := range rows {
		b.printf("### %d sessions and users\n\n", r.n)
		b.throughputTable(r.scenarios, r.results)
	}
	if len(rows) > 0 {
		b.commands(rows[len(rows)-1].scenarios, rows[len(rows)-1].cmdlines)
	}
	return nil
}

// createSession creates a user session for login (an app session when
// login is "") on a development app, creating the user if needed, and
// returns its token.
func createSession(url, login, password string) (string, error) {
	body := map[string]any{"application_id": 1, "auth_key": benchAuthKey}
	if login != "" {
		body["user"] = map[string]string{"login": login, "password": password}
	}
	raw, _ := json.Marshal(body)
	res, err := http.Post(url, "application/json", bytes.NewReader(raw))
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("POST /session for %q: %d %s", login, res.StatusCode, data)
	}
	var out struct {
		Session struct {
			Token string `json:"token"`
		} `json:"session"`
	}
	if err := json.Unmarshal(data, &out); err != nil || out.Session.Token == "" {
		return "", fmt.Errorf("POST /session: no token in %s", data)
	}
	return out.Session.Token, nil
}

func expectStatus(url, token string, want int) error {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("CB-Token", token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != want {
		data, _ := io.ReadAll(res.Body)
		return fmt.Errorf("GET %s: %d %s, want %d", url, res.StatusCode, data, want)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func roundDur(ns float64) time.Duration {
	d := time.Duration(ns)
	switch {
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

func joinRates(v []float64, decimals int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(x, 'f', decimals, 64)
	}
	return strings.Join(s, ", ")
}

func joinPercents(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%+.0f%%", 100*x)
	}
	return strings.Join(s, ", ")
}

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

func readTrim(path string) string {
	data, _ := os.ReadFile(path)
	return strings.TrimSpace(string(data))
}

func loadavg() string {
	f := strings.Fields(readTrim("/proc/loadavg"))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func cpuModel() string {
	for _, line := range strings.Split(readTrim("/proc/cpuinfo"), "\n") {
		if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return "?"
}

func memTotal() string {
	for _, line := range strings.Split(readTrim("/proc/meminfo"), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
	}
	return "?"
}

func wrkVersion() string {
	out, _ := exec.Command("wrk", "-v").CombinedOutput()
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

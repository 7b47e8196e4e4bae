// Package testcaddy runs a real Caddy process, built from this repository's
// cmd/caddy, for integration tests.
//
// Caddy's own caddytest package binds fixed ports (admin 2999, 9080, 9443), so
// two packages using it collide under `go test ./...`. This harness instead
// starts `caddy run` as a child process on ports the test picks with
// [FreePort], with HOME and the XDG directories inside the test's temporary
// directory, and stops it when the test ends.
//
// The binary is built once per test process. Set CUBEAUTH_CADDY_BIN to the
// path of a prebuilt binary to skip the build (CI builds once and shares it
// between packages); CUBEAUTH_CADDY_BUILD_FLAGS adds flags to the build, for
// example "-race".
//
// A package that uses the harness should remove the built binary when its
// tests end:
//
//	func TestMain(m *testing.M) { os.Exit(testcaddy.Main(m)) }
package testcaddy

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Environment variables read by [Binary].
const (
	// EnvBinary names a prebuilt Caddy binary to use instead of building one.
	EnvBinary = "CUBEAUTH_CADDY_BIN"
	// EnvBuildFlags holds extra space-separated `go build` flags, e.g. "-race".
	EnvBuildFlags = "CUBEAUTH_CADDY_BUILD_FLAGS"
)

// built is the result of the one build of cmd/caddy in this test process.
var built struct {
	once sync.Once
	dir  string // temporary directory holding the binary; removed by Main
	path string
	err  error
}

// Binary returns the path of a Caddy binary with this repository's modules
// built in. It honours CUBEAUTH_CADDY_BIN; otherwise it builds ./cmd/caddy
// once per test process into a temporary directory and fails the test if the
// build fails.
func Binary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv(EnvBinary); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			t.Fatalf("testcaddy: %s=%q: %v", EnvBinary, bin, err)
		}
		info, err := os.Stat(abs)
		if err != nil {
			t.Fatalf("testcaddy: %s=%q: %v", EnvBinary, bin, err)
		}
		if info.IsDir() || info.Mode()&0o111 == 0 {
			t.Fatalf("testcaddy: %s=%q is not an executable file", EnvBinary, bin)
		}
		return abs
	}
	built.once.Do(buildCaddy)
	if built.err != nil {
		t.Fatalf("testcaddy: %v", built.err)
	}
	return built.path
}

// buildCaddy builds ./cmd/caddy of the enclosing module into a new temporary
// directory and records the outcome in built.
func buildCaddy() {
	root, err := moduleRoot()
	if err != nil {
		built.err = err
		return
	}
	dir, err := os.MkdirTemp("", "cubeauth-testcaddy-")
	if err != nil {
		built.err = fmt.Errorf("creating build directory: %w", err)
		return
	}
	built.dir = dir
	path := filepath.Join(dir, "caddy")
	args := []string{"build", "-o", path}
	args = append(args, strings.Fields(os.Getenv(EnvBuildFlags))...)
	args = append(args, "./cmd/caddy")
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		built.err = fmt.Errorf("go %s (in %s): %v\n%s", strings.Join(args, " "), root, err, out)
		return
	}
	built.path = path
}

// moduleRoot finds the directory holding go.mod: `go env GOMOD` first, then a
// walk up from the working directory.
func moduleRoot() (string, error) {
	if out, err := exec.Command("go", "env", "GOMOD").Output(); err == nil {
		gomod := strings.TrimSpace(string(out))
		if gomod != "" && gomod != os.DevNull {
			return filepath.Dir(gomod), nil
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("finding module root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Main runs the tests of a package and then removes the Caddy binary that
// [Binary] built, returning the exit code for os.Exit.
func Main(m *testing.M) int {
	code := m.Run()
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
	return code
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago and
// that no other FreePort call on this machine holds: not one earlier in this
// process (the kernel may hand out a just-released port again, and two sites
// of one Caddyfile on the same port make Caddy refuse the config), and not one
// in another test process, since Caddy binds with SO_REUSEPORT and two Caddy
// processes on one port would silently share it (see reservePort). The port
// itself is released before returning, so an unrelated process may take it;
// [StartOnFreePorts] then tries new ports.
func FreePort(t testing.TB) int {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 1000 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testcaddy: finding a free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !handedOut.ports[port] && reservePort(port) {
			handedOut.ports[port] = true
			return port
		}
	}
	t.Fatal("testcaddy: every free port found was handed out before")
	return 0
}

// handedOut remembers the ports FreePort returned.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// Globals returns a Caddyfile global options block that puts the admin
// endpoint on 127.0.0.1:adminPort, as [Start] requires, and makes every site
// listen on 127.0.0.1 only (a site address such as http://127.0.0.1:8080
// alone binds every interface, and collides with anything on that port on
// another address), followed by any extra option lines (e.g.
// "grace_period 1s").
func Globals(adminPort int, extra ...string) string {
	var b bytes.Buffer
	b.WriteString("{\n")
	fmt.Fprintf(&b, "\tadmin 127.0.0.1:%d\n", adminPort)
	b.WriteString("\tdefault_bind 127.0.0.1\n")
	for _, line := range extra {
		fmt.Fprintf(&b, "\t%s\n", line)
	}
	b.WriteString("}\n")
	return b.String()
}

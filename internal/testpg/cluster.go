package testpg

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// cluster is a throwaway PostgreSQL cluster that testpg may stop, start and
// restart. Its directory holds data/ (the data directory), socket/ (the Unix
// socket directory) and postgres.log; ./scripts/test.sh makes the same
// layout and names the directory in CUBEAUTH_TEST_POSTGRES_CLUSTER.
type cluster struct {
	dir string
	bin string // directory holding pg_ctl and initdb
	// asOwner makes a command run as the data directory's owner: initdb and
	// pg_ctl refuse to run as root.
	asOwner func(*exec.Cmd)
}

func (c *cluster) data() string { return filepath.Join(c.dir, "data") }

// lockPath is the file the tests on this cluster lock; see lock.
func (c *cluster) lockPath() string { return filepath.Join(c.dir, "testpg.lock") }

// openCluster returns the cluster laid out in dir, run with the binaries of
// the PostgreSQL version that made it.
func openCluster(dir string) (*cluster, error) {
	version, err := os.ReadFile(filepath.Join(dir, "data", "PG_VERSION"))
	if err != nil {
		return nil, fmt.Errorf("%s is not a cluster made by testpg or scripts/test.sh: %w", dir, err)
	}
	bin, err := binDir(strings.TrimSpace(string(version)))
	if err != nil {
		return nil, err
	}
	asOwner, err := runAsOwnerOf(filepath.Join(dir, "data"))
	if err != nil {
		return nil, err
	}
	return &cluster{dir: dir, bin: bin, asOwner: asOwner}, nil
}

// newCluster creates and starts a cluster in a new temporary directory, with
// trust authentication for the user postgres, on a free port of 127.0.0.1.
// It returns the cluster and its connection string.
func newCluster() (*cluster, string, error) {
	bin, err := binDir("")
	if err != nil {
		return nil, "", err
	}
	dir, err := os.MkdirTemp("", "cubeauth-testpg-")
	if err != nil {
		return nil, "", err
	}
	c := &cluster{dir: dir, bin: bin}
	socket := filepath.Join(dir, "socket")
	err = os.Mkdir(socket, 0o700)
	if err == nil {
		c.asOwner, err = runAsPostgresIfRoot(dir, socket)
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, "", err
	}
	dsn, err := c.initAndStart()
	if err != nil {
		c.remove()
		return nil, "", err
	}
	return c, dsn, nil
}

func (c *cluster) initAndStart() (string, error) {
	if out, err := c.run("initdb", "-D", c.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"); err != nil {
		return "", fmt.Errorf("initdb: %v\n%s", err, out)
	}
	// Throwaway data: durability is not worth the time.
	settings := fmt.Sprintf("listen_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n"+
		"fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n", filepath.Join(c.dir, "socket"))
	var last error
	for range 3 { // another process may take the port before the server does
		port, err := freePort()
		if err != nil {
			return "", err
		}
		if err := appendFile(filepath.Join(c.data(), "postgresql.conf"), settings+fmt.Sprintf("port = %d\n", port)); err != nil {
			return "", err
		}
		if last = c.start(); last == nil {
			return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port), nil
		}
	}
	return "", last
}

func (c *cluster) start() error { return c.pgctl("start") }

func (c *cluster) stop() error { return c.pgctl("stop", "-m", "fast") }

// restartPause is how long restart keeps the server down. A throwaway
// cluster restarts in well under a second, and pgxpool pings a pooled
// connection before use only after it idled for a second: the first request
// on each connection killed by a sub-second restart then fails (a 503 from
// cubeauth). The pause keeps the restart tests to what they test, servers
// that come back; a store that retries a dead pooled connection would make
// it unnecessary.
const restartPause = 1500 * time.Millisecond

// restart stops the server, waits restartPause and starts it again.
func (c *cluster) restart() error {
	if err := c.stop(); err != nil {
		return err
	}
	time.Sleep(restartPause)
	return c.start()
}

// pgctl runs pg_ctl with action on the cluster and waits for it to finish;
// the server's output goes to postgres.log.
func (c *cluster) pgctl(action string, args ...string) error {
	args = append([]string{action, "-D", c.data(), "-l", filepath.Join(c.dir, "postgres.log"), "-w", "-t", "60"}, args...)
	if out, err := c.run("pg_ctl", args...); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
		return fmt.Errorf("pg_ctl %s: %v\n%s\n--- postgres.log ---\n%s", action, err, out, log)
	}
	return nil
}

// remove stops the cluster and deletes its directory.
func (c *cluster) remove() {
	if _, err := os.Stat(filepath.Join(c.data(), "postmaster.pid")); err == nil {
		_ = c.stop()
	}
	_ = os.RemoveAll(c.dir)
}

// run runs a PostgreSQL program as the cluster's owner.
func (c *cluster) run(program string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(c.bin, program), args...)
	cmd.Dir = c.dir
	c.asOwner(cmd)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// binDir finds the directory with initdb and pg_ctl: Debian's
// /usr/lib/postgresql/<version>/bin (the given major version, or the newest),
// else the one on PATH.
func binDir(version string) (string, error) {
	dirs := []string{filepath.Join("/usr/lib/postgresql", version, "bin")}
	if version == "" {
		dirs, _ = filepath.Glob("/usr/lib/postgresql/*/bin")
		sort.Slice(dirs, func(i, j int) bool { return majorOf(dirs[i]) > majorOf(dirs[j]) })
	}
	for _, dir := range dirs {
		if isFile(filepath.Join(dir, "initdb")) && isFile(filepath.Join(dir, "pg_ctl")) {
			return dir, nil
		}
	}
	if path, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(path), nil
	}
	return "", errors.New("no PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or on PATH; on Debian: apt-get install postgresql")
}

func majorOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isFile(path string) bool {
	info, err := os.Stat(path)
	return err == nil && !info.IsDir()
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

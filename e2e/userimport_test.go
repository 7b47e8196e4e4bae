package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/internal/testcaddy"
)

// referenceHashes runs Debian's python3-bcrypt and Django (scripts/setup.sh
// installs them) to hash password the way the systems users come from do.
func referenceHashes(t *testing.T, password string) (bcryptHash, djangoHash string) {
	t.Helper()
	out, err := exec.Command("/usr/bin/python3", "-c", `
import sys, bcrypt
from django.conf import settings
settings.configure()
from django.contrib.auth.hashers import PBKDF2PasswordHasher
pw = sys.argv[1]
print(bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4)).decode())
print(PBKDF2PasswordHasher().encode(pw, PBKDF2PasswordHasher().salt(), iterations=20000))
`, password).Output()
	if err != nil {
		t.Fatalf("reference hashers (scripts/setup.sh installs them): %v", err)
	}
	lines := strings.Fields(string(out))
	return lines[0], lines[1]
}

// Firebase's own example (github.com/firebase/scrypt's README).
const (
	firebaseSignerKey = "jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA=="
	firebaseHash      = "lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ=="
	firebaseSalt      = "42xEC+ixf3L2lw=="
)

func writeLines(t *testing.T, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCLIImportsUsersWithForeignHashesThatLogInAndAreRehashed(t *testing.T) {
	t.Parallel()
	srv := startOperatorServer(t)
	c := cli{t: t, bin: testcaddy.Binary(t), addr: srv.AdminAddr}
	client := newClient(t, srv.server)
	suffix := uniqueSuffix(t)
	bcryptHash, _ := referenceHashes(t, "old bcrypt pw")
	_, djangoHash := referenceHashes(t, "old django pw")
	line := func(login string, fields map[string]any) string {
		fields["login"] = login + suffix
		b, _ := json.Marshal(fields)
		return string(b)
	}
	fbFlags := []string{"--firebase-signer-key", firebaseSignerKey, "--firebase-salt-separator", "Bw==",
		"--firebase-rounds", "8", "--firebase-mem-cost", "14"}

	// A malformed line and a duplicate: reported by line, nothing imported.
	bad := writeLines(t,
		line("ann", map[string]any{"password_hash": bcryptHash}),
		`{"login": "broken`,
		line("bea", map[string]any{"password_hash": "md5$nope"}),
		line("ann", map[string]any{"password_hash": djangoHash}),
	)
	errOut := c.fail("users", "import", "1", bad)
	for _, want := range []string{"line 2: not a JSON object", "line 3: password_hash is not in a known format", "line 4: duplicate login of line 1", "nothing imported"} {
		if !strings.Contains(errOut, want) {
			t.Fatalf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(c.run("users", "export", "1"), "ann"+suffix) {
		t.Fatal("a refused file was partly imported")
	}

	good := writeLines(t,
		line("ann", map[string]any{"password_hash": bcryptHash, "email": "ann" + suffix + "@example.com"}),
		line("dan", map[string]any{"password_hash": djangoHash, "full_name": "Dan Django"}),
		line("fay", map[string]any{"password_hash": firebaseHash, "password_salt": firebaseSalt}),
	)
	wantLine(t, c.run(append([]string{"users", "import", "1", good}, fbFlags...)...), `^3 user\(s\) imported, 0 already there\.$`)
	// Resumable: a second run skips what the first stored.
	wantLine(t, c.run(append([]string{"users", "import", "1", good}, fbFlags...)...), `^0 user\(s\) imported, 3 already there\.$`)

	login := func(name, password string) reply {
		return client.postJSON("/session.json", map[string]any{
			"application_id": devAppID, "auth_key": devAuthKey,
			"user": map[string]any{"login": name + suffix, "password": password},
		})
	}
	for _, u := range []struct{ name, password string }{{"ann", "old bcrypt pw"}, {"dan", "old django pw"}, {"fay", "user1password"}} {
		login(u.name, u.password+"x").want(t, http.StatusUnauthorized)
		decodeSession(t, login(u.name, u.password).want(t, http.StatusCreated))
	}
	// Each login re-hashed its user to argon2id; the password still works.
	hashes := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(c.run("users", "export", "1")))
	for sc.Scan() {
		var u struct {
			Login        string
			PasswordHash string `json:"password_hash"`
		}
		if err := json.Unmarshal(sc.Bytes(), &u); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		u.Login = strings.TrimSuffix(u.Login, suffix)
		hashes[u.Login] = u.PasswordHash
	}
	for _, name := range []string{"ann", "dan", "fay"} {
		if !strings.HasPrefix(hashes[name], "$argon2id$") {
			t.Errorf("%s's hash after login: %q, want argon2id", name, hashes[name])
		}
	}
	decodeSession(t, login("fay", "user1password").want(t, http.StatusCreated))

	// A user taken by the app already refuses the batch, by line.
	// (A blank line counts in the numbering.)
	clash := writeLines(t, line("gil", map[string]any{"password_hash": bcryptHash}), "", line("ann", map[string]any{"password_hash": bcryptHash}))
	errOut = c.fail("users", "import", "1", clash)
	if !strings.Contains(errOut, "line 3: login or email is taken") {
		t.Fatalf("stderr: %s", errOut)
	}
	if _, ok := hashes["gil"]; ok || strings.Contains(c.run("users", "export", "1"), fmt.Sprintf(`"gil%s"`, suffix)) {
		t.Fatal("a refused batch was partly imported")
	}
}

// TestImportBenchmark100k times `caddy cubeauth users import` of 100,000
// users into a real Caddy with Badger (BENCHMARKS.md). It runs only with
// CUBEAUTH_IMPORT_BENCH=1.
func TestImportBenchmark100k(t *testing.T) {
	if os.Getenv("CUBEAUTH_IMPORT_BENCH") != "1" {
		t.Skip("set CUBEAUTH_IMPORT_BENCH=1")
	}
	srv := startOperatorServer(t)
	c := cli{t: t, bin: testcaddy.Binary(t), addr: srv.AdminAddr}
	bcryptHash, _ := referenceHashes(t, "pw")
	path := filepath.Join(t.TempDir(), "users.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	const n = 100_000
	for i := range n {
		b, _ := json.Marshal(map[string]any{"login": fmt.Sprintf("bench%06d", i),
			"email": fmt.Sprintf("bench%06d@example.com", i), "full_name": "Bench User", "password_hash": bcryptHash})
		w.Write(append(b, '\n'))
	}
	w.Flush()
	f.Close()
	start := time.Now()
	wantLine(t, c.run("users", "import", "1", path), `^100000 user\(s\) imported, 0 already there\.$`)
	imported := time.Since(start)
	start = time.Now()
	out := c.run("users", "export", "1")
	exported := time.Since(start)
	if got := strings.Count(out, "\n"); got < n {
		t.Fatalf("exported %d lines", got)
	}
	start = time.Now()
	wantLine(t, c.run("users", "import", "1", path), `^0 user\(s\) imported, 100000 already there\.$`)
	t.Logf("import %d users: %v; export: %v; re-run (all skipped): %v", n, imported, exported, time.Since(start))
}

// TestImportExampleLogsIn imports the README's examples/import/users.jsonl,
// logs each user in with its old password, then moves the app's users by
// export and import into a new app, where they log in too.
func TestImportExampleLogsIn(t *testing.T) {
	t.Parallel()
	srv := startOperatorServer(t)
	c := cli{t: t, bin: testcaddy.Binary(t), addr: srv.AdminAddr}
	client := newClient(t, srv.server)
	file := filepath.Join("..", "examples", "import", "users.jsonl")
	wantLine(t, c.run("users", "import", "1", file, "--firebase-signer-key", firebaseSignerKey,
		"--firebase-salt-separator", "Bw==", "--firebase-rounds", "8", "--firebase-mem-cost", "14"),
		`^4 user\(s\) imported, 0 already there\.$`)
	users := []struct{ field, name, password string }{
		{"login", "ann", "ann's old password"}, {"login", "dan", "dan's old password"},
		{"login", "ari", "ari's old password"}, {"email", "fay@example.com", "user1password"},
	}
	login := func(appID int64, authKey, field, name, password string) reply {
		return client.postJSON("/session.json", map[string]any{
			"application_id": appID, "auth_key": authKey,
			"user": map[string]any{field: name, "password": password},
		})
	}
	// The official SDK logs the bcrypt and the Firebase user in with their
	// old passwords, against their foreign hashes.
	if node, err := exec.LookPath("node"); err == nil {
		dir := sdkDir(t)
		installNodePackages(t, dir, sdkVersions)
		for _, email := range []string{"ann@example.com", "fay@example.com"} {
			password := map[string]string{"ann@example.com": "ann's old password", "fay@example.com": "user1password"}[email]
			cmd := exec.Command(node, "v6-password-reset.js")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "CUBEAUTH_URL="+srv.URL, fmt.Sprintf("APP_ID=%d", devAppID), "AUTH_KEY="+devAuthKey,
				"LOGIN_SUFFIX=import", "MODE=login", "EMAIL="+email, "OLD_PASSWORD=not "+password, "NEW_PASSWORD="+password)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("node v6-password-reset.js (login as %s): %v\n%s", email, err, out)
			}
		}
	} else {
		t.Log("node is not on PATH: the official SDK's login is not checked")
	}
	for _, u := range users {
		decodeSession(t, login(devAppID, devAuthKey, u.field, u.name, u.password).want(t, http.StatusCreated))
	}
	exported := filepath.Join(t.TempDir(), "exported.jsonl")
	if err := os.WriteFile(exported, []byte(c.run("users", "export", "1")), 0o600); err != nil {
		t.Fatal(err)
	}
	var created struct {
		App struct {
			ID      int64  `json:"id"`
			AuthKey string `json:"auth_key"`
		} `json:"app"`
	}
	if err := json.Unmarshal([]byte(c.run("apps", "create", "--name", "moved", "--json")), &created); err != nil || created.App.ID == 0 {
		t.Fatalf("apps create: %+v, %v", created, err)
	}
	wantLine(t, c.run("users", "import", fmt.Sprint(created.App.ID), exported), `^4 user\(s\) imported, 0 already there\.$`)
	for _, u := range users {
		login(created.App.ID, created.App.AuthKey, u.field, u.name, u.password+"x").want(t, http.StatusUnauthorized)
		decodeSession(t, login(created.App.ID, created.App.AuthKey, u.field, u.name, u.password).want(t, http.StatusCreated))
	}
}

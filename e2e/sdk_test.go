package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// sdkVersions are the packages e2e/sdk/package.json pins, by alias.
var sdkVersions = map[string]string{
	"connectycube6": "6.1.2",
	"connectycube5": "5.0.2",
	"connectycube4": "4.7.32",
	"connectycube3": "3.35.3",
}

// TestOfficialSDKFlows runs each Node script in e2e/sdk against one server:
// the official ConnectyCube SDKs must work by changing only their endpoint.
func TestOfficialSDKFlows(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH: the official-SDK flows need Node 20 (and npm to install e2e/sdk)")
	}
	dir := sdkDir(t)
	installNodePackages(t, dir, sdkVersions)

	srv, tlsHost, tlsRoot := startTLSServer(t)
	waitForFile(t, tlsRoot, 10*time.Second) // Caddy makes its CA as it starts
	suffix := uniqueSuffix(t)
	type flow struct {
		script, sdk     string // sdk: the package alias, "" for the script's own
		appID           int
		authKey, secret string
	}
	flows := []flow{
		{"v6-formats.js", "", prodAppID, prodAuthKey, ""},
		{"v3-signed-flow.js", "", devAppID, devAuthKey, devAuthSecret},
	}
	// The newest 4.x, 5.x and 6.x make the same calls: each runs the
	// development and production flows.
	for _, sdk := range []string{"connectycube6", "connectycube5", "connectycube4"} {
		flows = append(flows, flow{"v6-dev-flow.js", sdk, devAppID, devAuthKey, ""}, flow{"v6-prod-flow.js", sdk, prodAppID, prodAuthKey, ""})
	}
	for _, flow := range flows {
		name := flow.script
		if flow.sdk != "" {
			name += "@" + sdkVersions[flow.sdk]
		}
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, flow.script)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(),
				"CUBEAUTH_URL="+srv.URL,
				"WHOAMI_PATH="+whoamiPath,
				fmt.Sprintf("APP_ID=%d", flow.appID),
				"AUTH_KEY="+flow.authKey,
				"AUTH_SECRET="+flow.secret,
				"LOGIN_SUFFIX="+suffix+flow.sdk,
				"SDK_PACKAGE="+flow.sdk,
				"SDK_API_HOST="+tlsHost,
				"NODE_EXTRA_CA_CERTS="+tlsRoot,
			)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("node %s: %v\n%s", flow.script, err, out)
			}
			t.Logf("node %s:\n%s", flow.script, out)
		})
	}
}

// installNodePackages runs `npm ci` in dir unless node_modules already holds
// the pinned versions.
// nodeInstall serializes installNodePackages.
var nodeInstall sync.Mutex

func installNodePackages(t *testing.T, dir string, versions map[string]string) {
	t.Helper()
	// Parallel tests share the directories: one npm ci at a time.
	nodeInstall.Lock()
	defer nodeInstall.Unlock()
	installed := func() bool {
		for name, version := range versions {
			b, err := os.ReadFile(filepath.Join(dir, "node_modules", name, "package.json"))
			if err != nil {
				return false
			}
			var pkg struct {
				Version string `json:"version"`
			}
			if json.Unmarshal(b, &pkg) != nil || pkg.Version != version {
				return false
			}
		}
		return true
	}
	if installed() {
		return
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatalf("node is on PATH but npm is not: cannot install %v in %s", versions, dir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	if !installed() {
		t.Fatalf("npm ci in %s did not install %v", dir, versions)
	}
}

// waitForFile waits until path exists.
func waitForFile(t *testing.T, path string, timeout time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("%s: %v", path, err)
		}
	}
}

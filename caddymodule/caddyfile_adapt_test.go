package caddymodule

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

var updateGolden = flag.Bool("update", false, "rewrite the JSON of testdata/caddyfile_adapt/*.caddyfiletest")

// goldenSeparator divides a .caddyfiletest file into the Caddyfile and the
// JSON it adapts to, as in Caddy's caddytest/integration/caddyfile_adapt.
const goldenSeparator = "\n----------\n"

// TestCaddyfilesAdaptToTheirGoldenJSON adapts every
// testdata/caddyfile_adapt/*.caddyfiletest and compares the JSON; run with
// -update to rewrite it after a deliberate change (and read the diff).
func TestCaddyfilesAdaptToTheirGoldenJSON(t *testing.T) {
	files, err := filepath.Glob("testdata/caddyfile_adapt/*.caddyfiletest")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".caddyfiletest"), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			caddyfile, want, ok := strings.Cut(string(raw), goldenSeparator)
			if !ok {
				t.Fatalf("%s has no %q line", file, strings.TrimSpace(goldenSeparator))
			}
			adapted, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile+"\n"), nil)
			if err != nil {
				t.Fatalf("adapting: %v", err)
			}
			for _, w := range warnings {
				t.Errorf("warning: line %d: %s", w.Line, w.Message)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, adapted, "", "\t"); err != nil {
				t.Fatal(err)
			}
			got := pretty.String() + "\n"
			if *updateGolden {
				if err := os.WriteFile(file, []byte(caddyfile+goldenSeparator+got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != want {
				t.Errorf("%s adapts to\n%s\nwant\n%s", file, got, want)
			}
		})
	}
}

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cubeauth/cubeauth/internal/testcaddy"
)

// readmeBlock is one fenced code block of the README.
type readmeBlock struct {
	Lang string
	Text string // without the fences, ending in a newline
	Line int    // of the opening fence, 1-based
}

// readmeBlocks returns the README's fenced code blocks in order.
func readmeBlocks(t *testing.T) []readmeBlock {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var blocks []readmeBlock
	var cur *readmeBlock
	for i, line := range strings.Split(string(b), "\n") {
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			cur = &readmeBlock{Lang: strings.TrimPrefix(line, "```"), Line: i + 1}
		case cur != nil && line == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.Text += line + "\n"
		}
	}
	if cur != nil {
		t.Fatalf("README.md:%d: a code block is not closed", cur.Line)
	}
	return blocks
}

// readmeExample is a README sh block that runs something, with the text
// block right after it: the output the README promises.
type readmeExample struct {
	Command readmeBlock
	Output  readmeBlock
}

// readmeExamples returns the README's commands that show their output,
// keyed by the first file under examples/ each one names.
func readmeExamples(t *testing.T) map[string]readmeExample {
	t.Helper()
	blocks := readmeBlocks(t)
	examples := map[string]readmeExample{}
	for i := 1; i < len(blocks); i++ {
		if blocks[i].Lang != "text" {
			continue
		}
		cmd := blocks[i-1]
		name := examplesPath.FindString(cmd.Text)
		if cmd.Lang != "sh" || name == "" {
			t.Fatalf("README.md:%d: an output block must follow the sh block that runs an example under examples/", blocks[i].Line)
		}
		if _, dup := examples[name]; dup {
			t.Fatalf("README.md:%d: %s is shown twice", cmd.Line, name)
		}
		examples[name] = readmeExample{Command: cmd, Output: blocks[i]}
	}
	return examples
}

// examplesPath finds a path under examples/ in a command.
var examplesPath = regexp.MustCompile(`examples/[\w./-]+\.(?:sh|mjs|js)`)

// outputPattern turns a README output block into a regular expression: "…"
// inside a line stands for any text, and a line that is only "…" for any
// number of lines.
func outputPattern(block string) *regexp.Regexp {
	var re strings.Builder
	re.WriteString(`\A`)
	for _, line := range strings.Split(strings.TrimSuffix(block, "\n"), "\n") {
		if line == "…" {
			re.WriteString(`(?:[^\n]*\n)*?`)
			continue
		}
		parts := strings.Split(line, "…")
		for i, p := range parts {
			parts[i] = regexp.QuoteMeta(p)
		}
		re.WriteString(strings.Join(parts, `[^\n]*`) + `\n`)
	}
	re.WriteString(`\z`)
	return regexp.MustCompile(re.String())
}

// wantOutput fails the test unless out matches the README's block.
func wantOutput(t *testing.T, name string, ex readmeExample, out string) {
	t.Helper()
	if !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	if !outputPattern(ex.Output.Text).MatchString(out) {
		t.Errorf("%s: the output differs from README.md:%d (… stands for any text)\nwant:\n%s\ngot:\n%s",
			name, ex.Output.Line, ex.Output.Text, out)
	}
}

func TestOutputPatternMatchesOnlyWhatTheReadmeShows(t *testing.T) {
	p := outputPattern("POST /session.json → 201\n{\"token\":\"…\"}\n…\ndone\n")
	for _, ok := range []string{
		"POST /session.json → 201\n{\"token\":\"abc\"}\ndone\n",
		"POST /session.json → 201\n{\"token\":\"\"}\nmore\nlines\ndone\n",
	} {
		if !p.MatchString(ok) {
			t.Errorf("%q does not match", ok)
		}
	}
	for _, bad := range []string{
		"POST /session.json → 404\n{\"token\":\"abc\"}\ndone\n",
		"POST /session.json → 201\n{\"token\":\"abc\"}\ndone\nextra\n",
		"POST /session.json → 201\n{\"token\":\"a\nb\"}\ndone\n",
	} {
		if p.MatchString(bad) {
			t.Errorf("%q matches", bad)
		}
	}
}

// runsAFile matches a command line that runs a file of this repository
// under examples/ or scripts/, sources the demo's credentials, or installs
// an example's npm packages.
var runsAFile = regexp.MustCompile(`^(?:[A-Z_]+=\S+ )*(?:\./(?:examples|scripts)/[\w./-]+\.sh|node examples/[\w./-]+\.mjs|go run \./examples/[\w./-]+(?: .*)?|source \.demo/env|\(cd examples/[\w-]+ && npm ci\))$`)

// normalizedLines trims each line, so a block may be an indented excerpt of
// a file.
func normalizedLines(s string) []string {
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		out = append(out, strings.TrimSpace(line))
	}
	return out
}

// containsLines reports whether want's lines appear, in order and
// contiguous, among have's.
func containsLines(have, want []string) bool {
	for i := 0; i+len(want) <= len(have); i++ {
		match := true
		for j := range want {
			if have[i+j] != want[j] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// exampleFiles returns the normalized lines of every file under examples/
// (and the demo's Caddyfile.example), by path.
func exampleFiles(t *testing.T) map[string][]string {
	t.Helper()
	files := map[string][]string{}
	add := func(path string) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.ToSlash(strings.TrimPrefix(path, "../"))] = normalizedLines(string(b))
	}
	err := filepath.WalkDir(filepath.Join("..", "examples"), func(path string, d os.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && d.Name() == "node_modules":
			return filepath.SkipDir
		case !d.IsDir() && d.Name() != "package-lock.json":
			add(path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	add(filepath.Join("..", "Caddyfile.example"))
	return files
}

// TestEveryReadmeCodeBlockIsAnExample holds the README to its examples:
// every code block either runs files of this repository (and, if it shows
// output, TestDemoRunsTheReadmeExamplesAsWritten checks that output), or is
// an excerpt of a file under examples/, which a test runs or loads.
func TestEveryReadmeCodeBlockIsAnExample(t *testing.T) {
	examples := readmeExamples(t)
	files := exampleFiles(t)
	for _, b := range readmeBlocks(t) {
		if b.Lang == "text" {
			continue // checked by readmeExamples: the output of the block before
		}
		runs := b.Lang == "sh"
		for _, line := range strings.Split(strings.TrimSpace(b.Text), "\n") {
			if strings.HasPrefix(line, "#") {
				continue
			}
			if !runsAFile.MatchString(line) {
				runs = false
			}
		}
		if runs {
			for _, path := range examplesPath.FindAllString(b.Text, -1) {
				if _, err := os.Stat(filepath.Join("..", path)); err != nil {
					t.Errorf("README.md:%d runs %s: %v", b.Line, path, err)
				}
			}
			continue
		}
		want := normalizedLines(b.Text)
		found := false
		for _, lines := range files {
			if containsLines(lines, want) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("README.md:%d: this %q block is neither a command that runs a file under examples/ or scripts/ nor an excerpt of a file under examples/:\n%s", b.Line, b.Lang, b.Text)
		}
	}
	for _, name := range demoExamples {
		if _, ok := examples[name]; !ok {
			t.Errorf("README.md shows no output of %s", name)
		}
	}
}

// TestReadmeConfigExamplesAreValid runs `caddy validate` on every config
// under examples/config/ (the README's configuration blocks): the real
// Caddy adapts and provisions each one, without opening a store.
func TestReadmeConfigExamplesAreValid(t *testing.T) {
	t.Parallel()
	bin := testcaddy.Binary(t)
	files, err := filepath.Glob(filepath.Join("..", "examples", "config", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no files under examples/config: %v", err)
	}
	for _, f := range files {
		args := []string{"validate", "--config", f}
		if strings.HasSuffix(f, ".caddyfile") {
			args = append(args, "--adapter", "caddyfile")
		}
		cmd := exec.Command(bin, args...)
		home := t.TempDir()
		cmd.Env = append(os.Environ(), "HOME="+home, "XDG_DATA_HOME="+home, "XDG_CONFIG_HOME="+home,
			"APP1_SECRET=some-secret", "SMTP_PASSWORD=some-password", "ASSERTION_KEK=a key encryption key of 32+ characters", "DATABASE_URL=postgres://cubeauth@127.0.0.1:1/cubeauth")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("caddy %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

package caddymodule

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cubeauth/cubeauth/authcore"
)

// TestEveryAuthcoreErrorHasARefusal reads authcore's source for the errors
// it exports (Err* variables, and types with an Error method) and refuses
// any that the refusals table does not name: a new error must say how it is
// answered and counted, rather than fall through to a 500 counted as
// "other".
func TestEveryAuthcoreErrorHasARefusal(t *testing.T) {
	exported := authcoreErrors(t)
	if len(exported) < 10 {
		t.Fatalf("found only %v in authcore: the source scan is broken", exported)
	}
	named := refusalsNaming(t)
	for _, name := range exported {
		if !named[name] {
			t.Errorf("authcore.%s has no entry in refusals (caddymodule/errors.go)", name)
		}
	}
}

// authcoreErrors lists the exported error variables and error types of
// authcore's non-test files.
func authcoreErrors(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../authcore/*.go")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	fset := token.NewFileSet()
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.GenDecl:
				if d.Tok != token.VAR {
					continue
				}
				for _, spec := range d.Specs {
					for _, n := range spec.(*ast.ValueSpec).Names {
						if n.IsExported() && strings.HasPrefix(n.Name, "Err") {
							names = append(names, n.Name)
						}
					}
				}
			case *ast.FuncDecl:
				if d.Recv == nil || d.Name.Name != "Error" || len(d.Type.Params.List) != 0 {
					continue
				}
				recv := d.Recv.List[0].Type
				if star, ok := recv.(*ast.StarExpr); ok {
					recv = star.X
				}
				if id, ok := recv.(*ast.Ident); ok && id.IsExported() {
					names = append(names, id.Name)
				}
			}
		}
	}
	slices.Sort(names)
	return names
}

// refusalsNaming is the set of authcore names the refusals table's
// declaration mentions.
func refusalsNaming(t *testing.T) map[string]bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{}
	for _, decl := range f.Decls {
		d, ok := decl.(*ast.GenDecl)
		if !ok || d.Tok != token.VAR {
			continue
		}
		for _, spec := range d.Specs {
			vs := spec.(*ast.ValueSpec)
			if len(vs.Names) != 1 || vs.Names[0].Name != "refusals" {
				continue
			}
			ast.Inspect(vs, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok {
					if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "authcore" {
						named[sel.Sel.Name] = true
					}
				}
				return true
			})
		}
	}
	if len(named) == 0 {
		t.Fatal("no refusals declaration found in errors.go")
	}
	return named
}

// TestRefusalsAnswerWithTheSDKsStatusBodyAndReason checks entries whose
// order matters (a more general error listed first would shadow them) and
// errors as authcore returns them: wrapped, and joined.
func TestRefusalsAnswerWithTheSDKsStatusBodyAndReason(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		status int
		body   errorBody
		reason string
	}{
		{"an expired session", authcore.ErrSessionNotFound, 401, errSessionBody, "session_not_found"},
		{"a missing user, not any missing thing", authcore.ErrUserNotFound, 404, list("User not found"), "user_not_found"},
		{"any missing thing", authcore.ErrNotFound, 404, base("Not found"), "not_found"},
		{"an app session acting as a user", authcore.ErrNeedUser, 403, base("Forbidden. Need user."), "need_user"},
		{"malformed parameters, with their detail", fmt.Errorf("%w: bad JSON", authcore.ErrBadParams), 400, base("malformed parameters: bad JSON"), "bad_input"},
		{"invalid fields", &authcore.ValidationError{Fields: map[string][]string{"login": {"is too short"}}}, 422, field("login", "is too short"), "invalid_input"},
		{"a rate limit", &authcore.BusyError{Reason: "too many", Throttled: true}, 429, base("too many"), "throttled"},
		{"no hashing capacity", &authcore.BusyError{Reason: "busy"}, 503, base("busy"), "throttled"},
		{"a store failure joined to its cause", errors.Join(authcore.ErrUnavailable, errors.New("disk")), 503, base("Service unavailable"), "store_unavailable"},
		{"a wrapped refusal", fmt.Errorf("creating session: %w", authcore.ErrBadCredentials), 401, list("Unauthorized"), "bad_credentials"},
		{"anything else", errors.New("boom"), 500, base("Internal server error"), "other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := httpError(tc.err)
			if status != tc.status || !reflect.DeepEqual(body, tc.body) {
				t.Errorf("httpError = %d %v, want %d %v", status, body, tc.status, tc.body)
			}
			if reason := refusalFor(tc.err).reason; reason != tc.reason {
				t.Errorf("reason %q, want %q", reason, tc.reason)
			}
		})
	}
}

// TestRefusalReasonsAreDistinctLabels: a reason shared by two errors would
// merge them in the metric (the two BusyError entries share one on
// purpose: their limit label tells them apart).
func TestRefusalReasonsAreDistinctLabels(t *testing.T) {
	seen := map[string]int{}
	for i, r := range refusals {
		if r.reason == "" || r.reason == internalError.reason {
			t.Errorf("refusals[%d] has reason %q", i, r.reason)
		}
		if j, dup := seen[r.reason]; dup && r.reason != "throttled" {
			t.Errorf("refusals[%d] and [%d] share reason %q", j, i, r.reason)
		}
		seen[r.reason] = i
		if r.status < 400 || r.status > 599 || http.StatusText(r.status) == "" {
			t.Errorf("refusals[%d] (%s) has status %d", i, r.reason, r.status)
		}
	}
}

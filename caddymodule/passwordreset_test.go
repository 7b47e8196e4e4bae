package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// page requests the reset page and returns the recorder and Caddy's vars.
func (ts *testServer) page(method, target, form string, headers ...string) (*httptest.ResponseRecorder, map[string]any) {
	ts.t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(form))
	if form != "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	vars := map[string]any{}
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer())
	r = r.WithContext(context.WithValue(ctx, caddyhttp.VarsCtxKey, vars))
	w := httptest.NewRecorder()
	if err := ts.h.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
		ts.t.Fatalf("%s %s reached the backend", method, target)
		return nil
	})); err != nil {
		ts.t.Fatal(err)
	}
	return w, vars
}

func TestTheResetPageIsUncachedUnloggedAndRefusesBadLinksAndCrossSitePosts(t *testing.T) {
	ts := newTestServer(t)
	junk := strings.Repeat("0f", 32)
	w, vars := ts.page(http.MethodGet, resetPagePath+"?token="+junk+"%3Cscript%3E", "")
	if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "Link expired") || strings.Contains(w.Body.String(), "<script>") {
		t.Fatalf("an unknown token: %d %s, want 404 'Link expired' without the input", w.Code, w.Body)
	}
	for name, want := range map[string]string{
		"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
		"Content-Type": "text/html; charset=utf-8", "X-Content-Type-Options": "nosniff",
	} {
		if got := w.Header().Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("Content-Security-Policy %q, want no script at all", csp)
	}
	if vars[caddyhttp.LogSkipVar] != true {
		t.Error("a page request with the token in its URL is not kept out of the access log")
	}

	form := "token=" + junk + "&password=new-password-1&password_confirmation=new-password-1"
	for _, h := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-site"},
		{"Origin", "http://evil.example"},
	} {
		if w, _ := ts.page(http.MethodPost, resetPagePath, form, h...); w.Code != http.StatusForbidden {
			t.Errorf("a POST with %s: %s: %d, want 403", h[0], h[1], w.Code)
		}
	}
	for _, h := range [][]string{
		{"Sec-Fetch-Site", "same-origin", "Origin", "null"},
		{"Origin", "http://example.com"}, // httptest's Host
		{},
	} {
		if w, _ := ts.page(http.MethodPost, resetPagePath, form, h...); w.Code != http.StatusNotFound {
			t.Errorf("a same-origin POST %v with an unknown token: %d, want 404", h, w.Code)
		}
	}
	if w, _ := ts.page(http.MethodPut, resetPagePath, form); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("PUT: %d, want 405", w.Code)
	}
}

func TestWithoutSMTPResetRequestsAnswer501InTheConnectyCubeShape(t *testing.T) {
	ts := newTestServer(t)
	res := ts.do(http.MethodPost, "/users/password/reset.json", `{"email":"a@example.test"}`, "CB-AuthKey", prodKey)
	expectError(t, res, http.StatusNotImplemented, "Password reset by email is not configured on this server")
	res = ts.do(http.MethodGet, "/users/password/reset?email=a%40example.test", "")
	expectError(t, res, http.StatusUnauthorized, "Token is required")
}

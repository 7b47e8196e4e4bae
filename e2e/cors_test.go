package e2e

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// corsPage is the page of another origin: it loads the SDK's browser bundle.
const corsPage = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>cors</title><link rel="icon" href="data:,">
<script src="/connectycube.min.js"></script></head><body>cors</body></html>`

// TestBrowserOnAnotherOriginReadsCubeauthAndTheBackend drives headless
// Chromium: a page served from a second 127.0.0.1 port uses the official
// SDK's browser bundle to sign up and log in, calls the CORS-unaware
// backend through cubeauth (a simple GET and a preflighted PUT), logs out,
// and reads the expired-session 401 from JS (issue 13 item 1).
func TestBrowserOnAnotherOriginReadsCubeauthAndTheBackend(t *testing.T) {
	t.Parallel()
	sdk := sdkDir(t)
	installNodePackages(t, sdk, sdkVersions)
	bundle := filepath.Join(sdk, "node_modules", "connectycube6", "dist", "connectycube.min.js")

	srv := startServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, corsPage)
	})
	mux.HandleFunc("GET /connectycube.min.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, bundle) })
	page := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go page.Serve(ln) //nolint:errcheck // ends with Close
	t.Cleanup(func() { page.Close() })

	runBrowser(t, "cors-page.js", map[string]string{
		"CUBEAUTH_URL": srv.URL, "PAGE_URL": "http://" + ln.Addr().String() + "/",
		"APP_ID": fmt.Sprint(prodAppID), "AUTH_KEY": prodAuthKey, "LOGIN_SUFFIX": uniqueSuffix(t),
	})
}

// Command backend is a demo backend for cubeauth: it has no authentication
// of its own and answers every request with the identity that cubeauth
// injected. Run it behind the sidecar:
//
//	go run ./examples/backend -listen 127.0.0.1:9000
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"strings"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9000", "address to listen on")
	prefix := flag.String("prefix", "X-Cube-", "prefix of the identity headers")
	flag.Parse()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		identity := map[string]string{}
		for name, values := range r.Header {
			if strings.HasPrefix(strings.ToLower(name), strings.ToLower(*prefix)) {
				identity[name] = strings.Join(values, ",")
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"method":   r.Method,
			"path":     r.URL.Path,
			"identity": identity,
		})
	})
	log.Printf("demo backend listening on %s", *listen)
	log.Fatal(http.ListenAndServe(*listen, nil))
}

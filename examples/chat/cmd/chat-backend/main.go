// Command chat-backend runs the example chat backend (package
// github.com/cubeauth/cubeauth/examples/chat) on a loopback address. It has
// no authentication of its own: put the cubeauth sidecar in front of it.
//
//	go run ./examples/chat/cmd/chat-backend -listen 127.0.0.1:9001
package main

import (
	"flag"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/cubeauth/cubeauth/examples/chat"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9001", "address to listen on; keep it on loopback, behind the sidecar")
	prefix := flag.String("prefix", "X-Cube-", "prefix of the identity headers (the sidecar's header_prefix)")
	origins := flag.String("origins", "", "comma-separated browser origins allowed besides the request's own host")
	flag.Parse()

	opts := chat.Options{HeaderPrefix: *prefix}
	if *origins != "" {
		opts.OriginPatterns = strings.Split(*origins, ",")
	}
	srv := &http.Server{
		Addr:              *listen,
		Handler:           chat.New(opts),
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Printf("chat backend listening on %s", *listen)
	log.Fatal(srv.ListenAndServe())
}

// Command cubeauth-extauth lets ejabberd check XMPP logins against cubeauth,
// through ejabberd's external authentication (auth_method: external). The
// official ConnectyCube SDKs log in to chat with the user name
// "{userId}-{appId}" and, as password, the user's current session token or
// (chat.connect({userId, password})) the user's password; this adapter
// accepts such a login only if cubeauth says the token is a live user
// session of exactly that user in exactly that application, or, when it
// shares a secret with cubeauth (chat_password_secret), that the password is
// that user's.
//
// ejabberd starts it (extauth_program) and speaks to it on stdin/stdout:
// frames of a 2-byte big-endian length and a payload. For each request it
// answers 1 (yes) or 0 (no):
//
//	auth:User:Server:Token       GET {api}/session.json with CB-Token: Token; 1 only if
//	                             Server is a configured domain, and 200 and
//	                             session.user_id, session.application_id match User;
//	                             else, with a secret, POST {api}/cubeauth/chat_password
//	                             {application_id, user_id, password}: 1 if 200
//	isuser:User:Server           1 if Server is a configured domain and User is a
//	                             well-formed "{userId}-{appId}" (see below)
//	setpass, tryregister,
//	removeuser, removeuser3      0: accounts and passwords live in cubeauth
//
// isuser cannot ask cubeauth, which answers user lookups only to a session,
// so it says yes to every well-formed name; ejabberd then keeps messages for
// offline users (mod_offline) instead of bouncing them.
//
// Usage (in ejabberd.yml):
//
//	auth_method: external
//	extauth_program: "/usr/local/bin/cubeauth-extauth -api http://127.0.0.1:8080 -domains localhost"
//	auth_use_cache: false
//
// Flags (and the environment variables they default to):
//
//	-api      cubeauth's origin (CUBEAUTH_API; default http://127.0.0.1:8080)
//	-domains  the XMPP domains (ejabberd hosts) whose logins it answers, comma-separated
//	          (CUBEAUTH_EXTAUTH_DOMAINS; required): a request for any other domain
//	          answers 0 without asking cubeauth, so a token is good only on the
//	          chat domain it was meant for
//	-timeout  how long one question to cubeauth may take (CUBEAUTH_EXTAUTH_TIMEOUT; default 5s)
//	-v        also log accepted logins
//
// and CUBEAUTH_EXTAUTH_SECRET (an environment variable only, so that it is
// not in the process list): cubeauth's chat_password_secret, which lets
// users log in to chat with their password.
//
// It logs refusals and failures to stderr, never a password or token; user
// names and domains are quoted (%q), so a control character in one cannot
// start a line of its own in the log.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

func main() {
	logger := log.New(os.Stderr, "cubeauth-extauth: ", log.LstdFlags)
	defaultTimeout := 5 * time.Second
	if v := os.Getenv("CUBEAUTH_EXTAUTH_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			logger.Fatalf("CUBEAUTH_EXTAUTH_TIMEOUT=%q: %v", v, err)
		}
		defaultTimeout = d
	}
	api := flag.String("api", envOr("CUBEAUTH_API", "http://127.0.0.1:8080"), "cubeauth's origin (scheme://host:port)")
	timeout := flag.Duration("timeout", defaultTimeout, "how long one question to cubeauth may take")
	domainList := flag.String("domains", os.Getenv("CUBEAUTH_EXTAUTH_DOMAINS"), "the XMPP domains whose logins to answer, comma-separated (required)")
	verbose := flag.Bool("v", false, "also log accepted logins")
	flag.Parse()

	origin, err := apiOrigin(*api)
	if err != nil {
		logger.Fatal(err)
	}
	if *timeout <= 0 {
		logger.Fatalf("-timeout must be positive, got %v", *timeout)
	}
	domains, err := parseDomains(*domainList)
	if err != nil {
		logger.Fatal(err)
	}
	var secret []byte
	if v := os.Getenv("CUBEAUTH_EXTAUTH_SECRET"); v != "" {
		secret = []byte(v)
	}
	a := &adapter{
		checker: &checker{api: origin, client: &http.Client{}, timeout: *timeout, secret: secret},
		domains: domains,
		log:     logger,
		verbose: *verbose,
	}
	if err := a.serve(context.Background(), os.Stdin, os.Stdout); err != nil {
		logger.Fatal(err)
	}
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// apiOrigin validates the -api flag and returns it without a trailing slash.
func apiOrigin(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("-api %q: want http(s)://host[:port]", raw)
	}
	return strings.TrimRight(raw, "/"), nil
}

// parseDomains reads the -domains list: comma-separated XMPP domains, at
// least one, kept in lower case (domains compare without regard to case).
func parseDomains(list string) (map[string]bool, error) {
	domains := map[string]bool{}
	for d := range strings.SplitSeq(list, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "" {
			continue
		}
		if strings.ContainsFunc(d, func(r rune) bool { return r <= ' ' || r == 0x7f || r == ':' || r == '@' || r == '/' }) {
			return nil, fmt.Errorf("-domains: %q is not an XMPP domain", d)
		}
		domains[d] = true
	}
	if len(domains) == 0 {
		return nil, fmt.Errorf("-domains (or CUBEAUTH_EXTAUTH_DOMAINS) must name the XMPP domains to answer for, e.g. -domains chat.example.com")
	}
	return domains, nil
}

// adapter answers ejabberd's requests one after the other, as ejabberd sends
// them: each instance of the program has at most one request in flight.
type adapter struct {
	checker *checker
	// domains are the XMPP domains answered for, in lower case.
	domains map[string]bool
	log     *log.Logger
	verbose bool
}

// serve handles requests from r until ejabberd closes it, writing each reply
// to w. It returns nil on a clean end of input.
func (a *adapter) serve(ctx context.Context, r io.Reader, w io.Writer) error {
	br := bufio.NewReader(r)
	for {
		payload, err := readFrame(br)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading a request: %w", err)
		}
		if err := writeResult(w, a.handle(ctx, payload)); err != nil {
			return fmt.Errorf("writing a reply: %w", err)
		}
	}
}

// handle answers one request.
func (a *adapter) handle(ctx context.Context, payload []byte) bool {
	req, err := parseRequest(payload)
	if err != nil {
		a.log.Printf("answering 0: %v", err)
		return false
	}
	switch req.Command {
	case cmdAuth, cmdIsUser:
		if !a.domains[strings.ToLower(req.Server)] {
			a.log.Printf("%s: refused: not a configured XMPP domain", req)
			return false
		}
	}
	switch req.Command {
	case cmdAuth:
		u, ok := parseChatUser(req.User)
		if !ok {
			a.log.Printf("%s: refused: the user is not {userId}-{appId}", req)
			return false
		}
		ok, reason, err := a.checker.checkToken(ctx, u, req.Password)
		if !ok && err == nil && a.checker.secret != nil && !tokenShaped(req.Password) {
			// Not a session token of this user: perhaps its password.
			ok, reason, err = a.checker.checkPassword(ctx, u, req.Password)
		}
		switch {
		case err != nil:
			a.log.Printf("%s: refused: %v", req, err)
		case !ok:
			a.log.Printf("%s: refused: %s", req, reason)
		case a.verbose:
			a.log.Printf("%s: accepted", req)
		}
		return ok
	case cmdIsUser:
		_, ok := parseChatUser(req.User)
		return ok
	default:
		a.log.Printf("%s: refused: accounts and passwords are managed by cubeauth", req)
		return false
	}
}

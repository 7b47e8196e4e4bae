package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// frame encodes payload the way ejabberd does.
func frame(payload string) []byte {
	return append([]byte{byte(len(payload) >> 8), byte(len(payload))}, payload...)
}

func TestReadFrameDecodesLengthPrefixedPayloads(t *testing.T) {
	long := strings.Repeat("x", 300) // needs both length bytes
	for _, tc := range []struct {
		name    string
		in      []byte
		want    []string
		wantErr error // after the frames in want
	}{
		{"one request", frame("isuser:1-1:localhost"), []string{"isuser:1-1:localhost"}, io.EOF},
		{"two requests back to back", append(frame("isuser:1-1:localhost"), frame("auth:1-1:localhost:tok")...), []string{"isuser:1-1:localhost", "auth:1-1:localhost:tok"}, io.EOF},
		{"a payload over 255 bytes", frame(long), []string{long}, io.EOF},
		{"an empty payload", frame(""), []string{""}, io.EOF},
		{"no input: a clean end", nil, nil, io.EOF},
		{"half a length", []byte{0}, nil, io.ErrUnexpectedEOF},
		{"a payload cut short", frame("isuser:1-1:localhost")[:10], nil, io.ErrUnexpectedEOF},
		{"a length with no payload", []byte{0, 5}, nil, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bytes.NewReader(tc.in)
			for _, want := range tc.want {
				got, err := readFrame(r)
				if err != nil || string(got) != want {
					t.Fatalf("readFrame = %q, %v; want %q", got, err, want)
				}
			}
			if _, err := readFrame(r); !errors.Is(err, tc.wantErr) {
				t.Fatalf("readFrame at the end: %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestWriteResultIsTwoBytesOfLengthAndTwoOfResult(t *testing.T) {
	for _, tc := range []struct {
		ok   bool
		want []byte
	}{
		{true, []byte{0, 2, 0, 1}},
		{false, []byte{0, 2, 0, 0}},
	} {
		var b bytes.Buffer
		if err := writeResult(&b, tc.ok); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.Bytes(), tc.want) {
			t.Errorf("writeResult(%v) = %v, want %v", tc.ok, b.Bytes(), tc.want)
		}
	}
	if err := writeFrame(io.Discard, make([]byte, maxFrame+1)); err == nil {
		t.Error("writeFrame accepted a payload longer than a 2-byte length allows")
	}
}

func TestParseRequestSplitsFieldsAndKeepsColonsInThePassword(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    request
		wantErr bool
	}{
		{"auth:42-1:localhost:tok", request{cmdAuth, "42-1", "localhost", "tok"}, false},
		{"auth:42-1:localhost:a:b:c", request{cmdAuth, "42-1", "localhost", "a:b:c"}, false},
		{"auth:42-1:localhost:", request{cmdAuth, "42-1", "localhost", ""}, false},
		{"isuser:42-1:localhost", request{cmdIsUser, "42-1", "localhost", ""}, false},
		{"setpass:42-1:localhost:new", request{cmdSetPass, "42-1", "localhost", "new"}, false},
		{"tryregister:42-1:localhost:pw", request{cmdTryRegister, "42-1", "localhost", "pw"}, false},
		{"removeuser:42-1:localhost", request{cmdRemoveUser, "42-1", "localhost", ""}, false},
		{"removeuser3:42-1:localhost:pw", request{cmdRemoveUser3, "42-1", "localhost", "pw"}, false},
		{"auth:42-1:localhost", request{Command: cmdAuth}, true},
		{"isuser:42-1", request{Command: cmdIsUser}, true},
		{"isuser:42-1:localhost:extra", request{Command: cmdIsUser}, true},
		{"isuser", request{Command: cmdIsUser}, true},
		{"getusers:localhost", request{Command: "getusers"}, true},
		{"", request{}, true},
		{"s3cr3t-token-without-command", request{Command: "?"}, true},
	} {
		got, err := parseRequest([]byte(tc.in))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseRequest(%q) = %+v, %v; want %+v (error: %v)", tc.in, got, err, tc.want, tc.wantErr)
		}
		if err != nil && !errors.Is(err, errMalformed) {
			t.Errorf("parseRequest(%q): error %v is not errMalformed", tc.in, err)
		}
	}
}

func TestRequestStringNeverShowsThePassword(t *testing.T) {
	req := request{cmdAuth, "42-1", "localhost", "s3cr3t"}
	if s := req.String(); strings.Contains(s, "s3cr3t") || s != `auth "42-1"@"localhost"` {
		t.Fatalf("String() = %q", s)
	}
}

func TestParseChatUserAcceptsOnlyUserIDDashAppID(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want chatUser
		ok   bool
	}{
		{"42-1", chatUser{42, 1}, true},
		{"9223372036854775807-3", chatUser{9223372036854775807, 3}, true},
		{"9223372036854775808-3", chatUser{}, false}, // overflows int64
		{"42", chatUser{}, false},
		{"42-", chatUser{}, false},
		{"-1", chatUser{}, false},
		{"042-1", chatUser{}, false},
		{"0-1", chatUser{}, false},
		{"42-1-1", chatUser{}, false},
		{"alice-1", chatUser{}, false},
		{"+42-1", chatUser{}, false},
		{"42-1 ", chatUser{}, false},
		{"", chatUser{}, false},
	} {
		got, ok := parseChatUser(tc.in)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("parseChatUser(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// fakeCubeauth answers GET /session.json like cubeauth: body by token.
type fakeCubeauth struct {
	*httptest.Server
	asked atomic.Int32
}

func newFakeCubeauth(t *testing.T, answers map[string]func(w http.ResponseWriter)) *fakeCubeauth {
	t.Helper()
	f := &fakeCubeauth{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.asked.Add(1)
		if r.Method != http.MethodGet || r.URL.Path != "/session.json" {
			http.Error(w, "unexpected request", http.StatusTeapot)
			return
		}
		answer, ok := answers[r.Header.Get("CB-Token")]
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"errors":{"base":["Required session does not exist"]}}`)
			return
		}
		answer(w)
	}))
	t.Cleanup(f.Close)
	return f
}

func jsonAnswer(status int, body string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func TestCheckTokenAcceptsOnlyALiveSessionOfThatUserInThatApp(t *testing.T) {
	fake := newFakeCubeauth(t, map[string]func(http.ResponseWriter){
		"alice":        jsonAnswer(200, `{"session":{"id":7,"user_id":42,"application_id":1,"token":"alice"}}`),
		"alice-string": jsonAnswer(200, `{"session":{"user_id":"42","application_id":"1"}}`),
		"app-session":  jsonAnswer(200, `{"session":{"id":8,"user_id":null,"application_id":1}}`),
		"no-user-id":   jsonAnswer(200, `{"session":{"id":8,"application_id":1}}`),
		"bob":          jsonAnswer(200, `{"session":{"user_id":43,"application_id":1}}`),
		"other-app":    jsonAnswer(200, `{"session":{"user_id":42,"application_id":2}}`),
		"not-json":     jsonAnswer(200, `<html>`),
		"no-session":   jsonAnswer(200, `{"user":{"id":42}}`),
		"broken":       jsonAnswer(500, `{"errors":["boom"]}`),
		"unavailable":  jsonAnswer(503, `{"errors":["store unavailable"]}`),
		"slow":         func(http.ResponseWriter) { time.Sleep(time.Second) },
	})
	c := &checker{api: fake.URL, client: fake.Client(), timeout: 300 * time.Millisecond}
	alice := chatUser{UserID: 42, AppID: 1}
	for _, tc := range []struct {
		token   string
		ok      bool
		wantErr bool
	}{
		{"alice", true, false},
		{"alice-string", true, false},
		{"app-session", false, false},
		{"no-user-id", false, false},
		{"bob", false, false},
		{"other-app", false, false},
		{"tok-revoked-1", false, false}, // 401
		{"not-json", false, true},
		{"no-session", false, true},
		{"broken", false, true},
		{"unavailable", false, true},
		{"slow", false, true},
	} {
		t.Run(tc.token, func(t *testing.T) {
			ok, reason, err := c.checkToken(context.Background(), alice, tc.token)
			if ok != tc.ok || (err != nil) != tc.wantErr {
				t.Fatalf("checkToken = %v, %q, %v; want ok %v, error %v", ok, reason, err, tc.ok, tc.wantErr)
			}
			if !ok && err == nil && reason == "" {
				t.Fatal("a refusal without a reason")
			}
			for _, s := range []string{reason, errString(err)} {
				if strings.Contains(s, tc.token) && tc.token != "alice" {
					t.Fatalf("the token appears in %q", s)
				}
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestCheckTokenDoesNotAskAboutWhatCannotBeAToken(t *testing.T) {
	fake := newFakeCubeauth(t, nil)
	c := &checker{api: fake.URL, client: fake.Client(), timeout: time.Second}
	for _, token := range []string{"", "with space", "line\nbreak", "tab\t", "ünicode", strings.Repeat("a", 1025)} {
		ok, _, err := c.checkToken(context.Background(), chatUser{42, 1}, token)
		if ok || err != nil {
			t.Errorf("checkToken(%q) = %v, %v; want a refusal", token, ok, err)
		}
	}
	if n := fake.asked.Load(); n != 0 {
		t.Fatalf("cubeauth was asked %d times", n)
	}
}

func TestCheckTokenFailsWhenCubeauthIsDown(t *testing.T) {
	fake := newFakeCubeauth(t, nil)
	url := fake.URL
	fake.Close()
	c := &checker{api: url, client: &http.Client{}, timeout: time.Second}
	if ok, _, err := c.checkToken(context.Background(), chatUser{42, 1}, "tok"); ok || err == nil {
		t.Fatalf("checkToken = %v, %v; want an error", ok, err)
	}
}

// aliceToken is user 42's live session in app 1 at liveAdapter's cubeauth.
const aliceToken = "0123456789abcdef0123456789abcdef"

// liveAdapter is an adapter for domains whose cubeauth knows aliceToken,
// logging into logs.
func liveAdapter(t *testing.T, logs *bytes.Buffer, domains ...string) (*adapter, *fakeCubeauth) {
	t.Helper()
	fake := newFakeCubeauth(t, map[string]func(http.ResponseWriter){
		aliceToken: jsonAnswer(200, `{"session":{"user_id":42,"application_id":1}}`),
	})
	a := &adapter{
		checker: &checker{api: fake.URL, client: fake.Client(), timeout: time.Second},
		domains: map[string]bool{},
		log:     log.New(logs, "", 0),
	}
	for _, d := range domains {
		a.domains[d] = true
	}
	return a, fake
}

func TestServeAnswersEveryRequestInOrderAndNeverLogsTheToken(t *testing.T) {
	const token = aliceToken
	var logs bytes.Buffer
	a, _ := liveAdapter(t, &logs, "localhost")
	a.verbose = true
	requests := []struct {
		payload string
		want    byte
	}{
		{"auth:42-1:localhost:" + token, 1},
		{"auth:43-1:localhost:" + token, 0},    // another user's token
		{"auth:42-2:localhost:" + token, 0},    // another app
		{"auth:alice:localhost:" + token, 0},   // not {userId}-{appId}
		{"auth:42-1:localhost:wrong-token", 0}, // 401
		{"isuser:42-1:localhost", 1},
		{"isuser:alice:localhost", 0},
		{"setpass:42-1:localhost:" + token, 0},
		{"tryregister:42-1:localhost:" + token, 0},
		{"removeuser:42-1:localhost", 0},
		{"removeuser3:42-1:localhost:" + token, 0},
		{token, 0}, // garbage
	}
	var in bytes.Buffer
	for _, r := range requests {
		in.Write(frame(r.payload))
	}
	var out bytes.Buffer
	if err := a.serve(context.Background(), &in, &out); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if out.Len() != 4*len(requests) {
		t.Fatalf("%d bytes of replies for %d requests: %v", out.Len(), len(requests), out.Bytes())
	}
	for i, r := range requests {
		got := out.Bytes()[4*i : 4*i+4]
		if !bytes.Equal(got, []byte{0, 2, 0, r.want}) {
			t.Errorf("reply to %q = %v, want [0 2 0 %d]", strings.SplitN(r.payload, ":", 2)[0], got, r.want)
		}
	}
	if strings.Contains(logs.String(), token) || strings.Contains(logs.String(), "wrong-token") {
		t.Fatalf("a token appears in the log:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), `auth "42-1"@"localhost": accepted`) {
		t.Errorf("the verbose log does not show the accepted login:\n%s", logs.String())
	}
}

func TestServeStopsOnATruncatedRequest(t *testing.T) {
	a := &adapter{checker: &checker{}, log: log.New(io.Discard, "", 0)}
	in := bytes.NewReader(frame("isuser:42-1:localhost")[:7])
	if err := a.serve(context.Background(), in, io.Discard); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("serve = %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestAPIOriginWantsAnHTTPOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080":  "http://127.0.0.1:8080",
		"http://127.0.0.1:8080/": "http://127.0.0.1:8080",
		"https://auth.example":   "https://auth.example",
		"127.0.0.1:8080":         "",
		"ftp://x":                "",
		"":                       "",
	} {
		got, err := apiOrigin(in)
		if got != want || (err != nil) != (want == "") {
			t.Errorf("apiOrigin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestOnlyConfiguredXMPPDomainsAreAnswered(t *testing.T) {
	const token = aliceToken
	var logs bytes.Buffer
	a, fake := liveAdapter(t, &logs, "chat.example.com", "localhost")
	for _, tc := range []struct {
		payload string
		want    bool
	}{
		{"auth:42-1:evil.example:" + token, false},
		{"auth:42-1:chat.example.com.evil:" + token, false},
		{"auth:42-1::" + token, false},
		{"isuser:42-1:evil.example", false},
		{"isuser:42-1:", false},
		{"auth:42-1:chat.example.com:" + token, true},
		{"auth:42-1:CHAT.Example.COM:" + token, true}, // domains ignore case
		{"auth:42-1:localhost:" + token, true},
		{"isuser:42-1:chat.example.com", true},
	} {
		before := fake.asked.Load()
		if got := a.handle(context.Background(), []byte(tc.payload)); got != tc.want {
			t.Errorf("%s: answered %v, want %v", strings.SplitN(tc.payload, ":", 3)[:2], got, tc.want)
		}
		if !tc.want && fake.asked.Load() != before {
			t.Errorf("%q: cubeauth was asked about a login for another domain", strings.TrimSuffix(tc.payload, token))
		}
	}
	if !strings.Contains(logs.String(), `auth "42-1"@"evil.example": refused: not a configured XMPP domain`) {
		t.Errorf("the refusal is not logged:\n%s", logs.String())
	}
}

func TestLogLinesQuoteUserNamesAndDomains(t *testing.T) {
	var logs bytes.Buffer
	a := &adapter{checker: &checker{}, domains: map[string]bool{"localhost": true}, log: log.New(&logs, "", 0)}
	payloads := []string{
		"auth:42-1\nauth 7-1@localhost accepted:localhost:tok",
		"isuser:42-1:localhost\r\nauth 7-1@localhost accepted",
		"auth:\x1b[2J42-1:localhost:tok",
		"setpass:42-1\u2028x:localhost:pw",
	}
	for _, p := range payloads {
		a.handle(context.Background(), []byte(p))
	}
	lines := strings.Split(strings.TrimSuffix(logs.String(), "\n"), "\n")
	if len(lines) != len(payloads) {
		t.Fatalf("%d requests made %d log lines:\n%s", len(payloads), len(lines), logs.String())
	}
	for _, line := range lines {
		if strings.HasPrefix(line, "auth 7-1") || strings.ContainsAny(line, "\r\x1b\u2028") {
			t.Errorf("a client's control character reached the log: %q", line)
		}
	}
	if !strings.Contains(lines[0], `auth "42-1\nauth 7-1@localhost accepted"@"localhost"`) {
		t.Errorf("the user name is not quoted: %q", lines[0])
	}
}

func TestParseDomainsWantsAtLeastOneDomain(t *testing.T) {
	for in, want := range map[string]string{
		"localhost":                      "localhost",
		" Chat.Example.com , localhost ": "chat.example.com localhost",
		"a,,b,":                          "a b",
		"":                               "",
		" , ":                            "",
		"chat example":                   "",
		"user@chat":                      "",
		"chat\n":                         "chat", // trimmed
		"chat\x00x":                      "",
	} {
		got, err := parseDomains(in)
		var names []string
		for d := range got {
			names = append(names, d)
		}
		slices.Sort(names)
		if strings.Join(names, " ") != want || (err != nil) != (want == "") {
			t.Errorf("parseDomains(%q) = %v, %v; want %q", in, names, err, want)
		}
	}
}

func TestOnlyWhatIsNotTokenShapedIsTriedAsAPassword(t *testing.T) {
	for s, want := range map[string]bool{
		strings.Repeat("0a", 32): true,
		strings.Repeat("0A", 32): false,
		strings.Repeat("0a", 31): false,
		"supersecret1":           false,
		strings.Repeat("g", 64):  false,
	} {
		if got := tokenShaped(s); got != want {
			t.Errorf("tokenShaped(%q) = %v, want %v", s, got, want)
		}
	}
}

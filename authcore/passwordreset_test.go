package authcore

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/store"
)

// recordingMailer keeps the mails it is given.
type recordingMailer struct {
	mu    sync.Mutex
	mails []PasswordResetMail
}

func (m *recordingMailer) SendPasswordReset(_ context.Context, mail PasswordResetMail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mails = append(m.mails, mail)
	return nil
}

func (m *recordingMailer) take() []PasswordResetMail {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.mails
	m.mails = nil
	return out
}

type resetFixture struct {
	*fixture
	mailer   *recordingMailer
	reported chan error
	alice    store.User
}

func newResetFixture(t *testing.T, configure ...func(*Options)) *resetFixture {
	t.Helper()
	rf := &resetFixture{mailer: &recordingMailer{}, reported: make(chan error, 100)}
	rf.fixture = newFixture(t, append([]func(*Options){func(o *Options) {
		o.Mailer = rf.mailer
		o.ReportError = func(err error) { rf.reported <- err }
	}}, configure...)...)
	login, email, password := "alice", "Alice@Example.test", "supersecret"
	u, err := rf.svc.CreateUser(t.Context(), CreateUserRequest{AppID: 1, ClientIP: "192.0.2.1",
		Input: UserInput{Login: &login, Email: &email, Password: &password}})
	if err != nil {
		t.Fatal(err)
	}
	rf.alice = u
	return rf
}

// requestToken asks a reset for email and returns the tokens mailed.
func (rf *resetFixture) requestTokens(t *testing.T, email, ip string) []string {
	t.Helper()
	if err := rf.svc.RequestPasswordReset(t.Context(), 1, email, ip); err != nil {
		t.Fatalf("RequestPasswordReset(%q): %v", email, err)
	}
	rf.svc.waitPasswordResets()
	select {
	case err := <-rf.reported:
		t.Fatalf("reported: %v", err)
	default:
	}
	var tokens []string
	for _, m := range rf.mailer.take() {
		tokens = append(tokens, m.Token)
	}
	return tokens
}

func (rf *resetFixture) mustRequestToken(t *testing.T) string {
	t.Helper()
	tokens := rf.requestTokens(t, "alice@example.test", "192.0.2.10")
	if len(tokens) != 1 {
		t.Fatalf("got %d mails, want 1", len(tokens))
	}
	return tokens[0]
}

func TestPasswordResetMailsOnlyKnownAddressesAndAnswersAlike(t *testing.T) {
	rf := newResetFixture(t)
	if got := rf.requestTokens(t, "nobody@example.test", "192.0.2.10"); len(got) != 0 {
		t.Fatalf("an unknown address got %d mails", len(got))
	}
	rf.svc.RequestPasswordReset(t.Context(), 1, "ALICE@example.test", "192.0.2.10")
	rf.svc.waitPasswordResets()
	mails := rf.mailer.take()
	if len(mails) != 1 || mails[0].To != "alice@example.test" || mails[0].Login != "alice" || len(mails[0].Token) != 64 {
		t.Fatalf("mails = %+v, want one to alice@example.test with a 64-character token", mails)
	}
	if got, want := mails[0].ExpiresAt, rf.clock.Now().Add(time.Hour); !got.Equal(want) {
		t.Fatalf("ExpiresAt = %v, want %v (1h)", got, want)
	}
	// The store knows the reset by the token's hash.
	if _, err := rf.st.GetPasswordReset(t.Context(), HashToken(mails[0].Token)); err != nil {
		t.Fatalf("the token's hash: %v", err)
	}
	for _, bad := range []string{"", "   ", "no-at-sign"} {
		var verr *ValidationError
		if err := rf.svc.RequestPasswordReset(t.Context(), 1, bad, "192.0.2.10"); !errors.As(err, &verr) {
			t.Errorf("RequestPasswordReset(%q) = %v, want a ValidationError", bad, err)
		}
	}
}

func TestAResetTokenSetsThePasswordOnceAndEndsEverySession(t *testing.T) {
	rf := newResetFixture(t)
	ctx := t.Context()
	s1, err := rf.login(t, 1, "alice", "supersecret", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	s2, err := rf.login(t, 1, "alice", "supersecret", "192.0.2.2")
	if err != nil {
		t.Fatal(err)
	}
	token := rf.mustRequestToken(t)
	if err := rf.svc.CheckPasswordReset(ctx, token); err != nil {
		t.Fatalf("CheckPasswordReset of a fresh token: %v", err)
	}
	var verr *ValidationError
	if err := rf.svc.ResetPassword(ctx, token, "short"); !errors.As(err, &verr) || verr.Fields["password"] == nil {
		t.Fatalf("a 5-character password: %v, want a password ValidationError", err)
	}
	if err := rf.svc.ResetPassword(ctx, token, "brand-new-password"); err != nil {
		t.Fatalf("ResetPassword after a refused password (the token stays good): %v", err)
	}
	for _, s := range []SessionResult{s1, s2} {
		if _, err := rf.svc.Authenticate(ctx, s.Token); !errors.Is(err, ErrSessionNotFound) {
			t.Errorf("a session from before the reset: %v, want ErrSessionNotFound", err)
		}
	}
	if _, err := rf.login(t, 1, "alice", "supersecret", "192.0.2.1"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("the old password: %v, want ErrBadCredentials", err)
	}
	if _, err := rf.login(t, 1, "alice", "brand-new-password", "192.0.2.1"); err != nil {
		t.Fatalf("the new password: %v", err)
	}
	if err := rf.svc.ResetPassword(ctx, token, "another-password"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the token a second time: %v, want ErrNotFound", err)
	}
	for _, junk := range []string{"", "x", token[:63] + "g", token + "00"} {
		if err := rf.svc.ResetPassword(ctx, junk, "another-password"); !errors.Is(err, ErrNotFound) {
			t.Errorf("ResetPassword(%q) = %v, want ErrNotFound", junk, err)
		}
	}
}

func TestAResetCancelsTheOtherLinksAndAPasswordChangeOrDeletionCancelsAll(t *testing.T) {
	rf := newResetFixture(t)
	ctx := t.Context()
	first, second := rf.mustRequestToken(t), rf.mustRequestToken(t)
	if err := rf.svc.ResetPassword(ctx, second, "brand-new-password"); err != nil {
		t.Fatal(err)
	}
	if err := rf.svc.CheckPasswordReset(ctx, first); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an earlier link after a reset: %v, want ErrNotFound", err)
	}

	pending := rf.mustRequestToken(t)
	sess, err := rf.login(t, 1, "alice", "brand-new-password", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	id, err := rf.svc.Authenticate(ctx, sess.Token)
	if err != nil {
		t.Fatal(err)
	}
	pw, old := "changed-by-put", "brand-new-password"
	if _, err := rf.svc.UpdateUser(ctx, id, rf.alice.ID, UserInput{Password: &pw, OldPassword: &old}, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if err := rf.svc.CheckPasswordReset(ctx, pending); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a link after PUT /users/{id} changed the password: %v, want ErrNotFound", err)
	}

	pending = rf.mustRequestToken(t)
	if err := rf.svc.DeleteUser(ctx, id, rf.alice.ID); err != nil {
		t.Fatal(err)
	}
	if err := rf.svc.ResetPassword(ctx, pending, "after-deletion"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a link after the user was deleted: %v, want ErrNotFound", err)
	}
}

func TestAResetLinkExpires(t *testing.T) {
	rf := newResetFixture(t, func(o *Options) { o.PasswordResetTTL = time.Second })
	token := rf.mustRequestToken(t)
	if err := rf.svc.CheckPasswordReset(t.Context(), token); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond)
	if err := rf.svc.ResetPassword(t.Context(), token, "brand-new-password"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an expired link: %v, want ErrNotFound", err)
	}
}

func TestResetRequestsAreThrottledPerAddressAndPerIPWhetherOrNotTheAddressExists(t *testing.T) {
	rf := newResetFixture(t)
	ctx := t.Context()
	for _, email := range []string{"alice@example.test", "nobody@example.test"} {
		for i := range passwordResetsPerAddress.Count {
			// From a new IP each time: only the address limit counts.
			if err := rf.svc.RequestPasswordReset(ctx, 1, email, "198.51.100."+string(rune('1'+i))); err != nil {
				t.Fatalf("%s, request %d: %v", email, i+1, err)
			}
		}
		var busy *BusyError
		err := rf.svc.RequestPasswordReset(ctx, 1, email, "198.51.100.99")
		if !errors.As(err, &busy) || !busy.Throttled || busy.Limit != LimitPasswordResetsPerAddress {
			t.Fatalf("%s, one request too many: %v, want the per-address limit", email, err)
		}
	}
	rf.svc.waitPasswordResets()
	if n := len(rf.mailer.take()); n != passwordResetsPerAddress.Count {
		t.Fatalf("alice got %d mails, want %d", n, passwordResetsPerAddress.Count)
	}
	ip := "203.0.113.7"
	for i := range passwordResetsPerIP.Count {
		if err := rf.svc.RequestPasswordReset(ctx, 1, "user"+string(rune('a'+i%26))+string(rune('a'+i/26))+"@example.test", ip); err != nil {
			t.Fatalf("request %d from one IP: %v", i+1, err)
		}
	}
	var busy *BusyError
	if err := rf.svc.RequestPasswordReset(ctx, 1, "fresh@example.test", ip); !errors.As(err, &busy) || busy.Limit != LimitPasswordResetsPerIP {
		t.Fatalf("one request too many from one IP: %v, want the per-IP limit", err)
	}
}

func TestServicesOnOneStoreShareOneResetBudgetAndANewServiceRemembersIt(t *testing.T) {
	rf := newResetFixture(t)
	ctx := t.Context()
	nodes := []*Service{rf.svc}
	for range 2 {
		s := New(rf.st, rf.svc.Options())
		t.Cleanup(s.Close)
		nodes = append(nodes, s)
	}
	// Spread over three nodes and as many IPs, the address's budget is
	// spent once, not three times.
	for i := range passwordResetsPerAddress.Count {
		if err := nodes[i%3].RequestPasswordReset(ctx, 1, "alice@example.test", "198.51.100."+strconv.Itoa(i+1)); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
	}
	reloaded := New(rf.st, rf.svc.Options()) // a reload: empty local limiters
	t.Cleanup(reloaded.Close)
	for i, s := range append(nodes, reloaded) {
		var busy *BusyError
		err := s.RequestPasswordReset(ctx, 1, "alice@example.test", "198.51.100.99")
		if !errors.As(err, &busy) || busy.Limit != LimitPasswordResetsPerAddress {
			t.Fatalf("node %d after the fleet's budget: %v, want the per-address limit", i, err)
		}
	}
	for _, s := range nodes {
		s.waitPasswordResets()
	}
	mails := len(rf.mailer.take())
	if mails != passwordResetsPerAddress.Count {
		t.Fatalf("alice got %d mails from three nodes, want %d", mails, passwordResetsPerAddress.Count)
	}
}

func TestWithoutAMailerResetsAreRefused(t *testing.T) {
	f := newFixture(t)
	if f.svc.PasswordResetsEnabled() {
		t.Fatal("PasswordResetsEnabled without a Mailer")
	}
	if err := f.svc.RequestPasswordReset(t.Context(), 1, "alice@example.test", "192.0.2.1"); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("RequestPasswordReset without a Mailer: %v, want ErrUnsupported", err)
	}
}

// gatedMailer records mails, each only once open is closed.
type gatedMailer struct {
	recordingMailer
	open chan struct{}
}

func (m *gatedMailer) SendPasswordReset(ctx context.Context, mail PasswordResetMail) error {
	<-m.open
	return m.recordingMailer.SendPasswordReset(ctx, mail)
}

func TestABurstOfResetsBeyondTheDeliveriesAtOnceIsQueuedNotDropped(t *testing.T) {
	mailer := &gatedMailer{open: make(chan struct{})}
	rf := newResetFixture(t, func(o *Options) { o.Mailer = mailer })
	n := 3 * maxResetDeliveries
	for i := range n {
		// Each user and client once: the limits stay out of the way.
		login, email, password := "user"+strconv.Itoa(i), "user"+strconv.Itoa(i)+"@example.test", "supersecret"
		if _, err := rf.svc.CreateUser(t.Context(), CreateUserRequest{AppID: 1, ClientIP: "198.51.100." + strconv.Itoa(i+1),
			Input: UserInput{Login: &login, Email: &email, Password: &password}}); err != nil {
			t.Fatal(err)
		}
		if err := rf.svc.RequestPasswordReset(t.Context(), 1, email, "203.0.113."+strconv.Itoa(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	close(mailer.open)
	rf.svc.waitPasswordResets()
	if got := len(mailer.take()); got != n {
		t.Fatalf("%d mails for %d requests made at once (at most %d deliver at a time)", got, n, maxResetDeliveries)
	}
	select {
	case err := <-rf.reported:
		t.Fatalf("reported: %v", err)
	default:
	}
}

func TestAUserStoredBeforeEmailsWereFoldedGetsItsResetMail(t *testing.T) {
	rf := newResetFixture(t)
	legacy := store.User{AppID: 1, Login: "legacy-dora", Email: "Ｄora@example.com"}
	if err := rf.st.CreateUser(t.Context(), &legacy); err != nil {
		t.Fatal(err)
	}
	if tokens := rf.requestTokens(t, "Ｄora@example.com", "192.0.2.9"); len(tokens) != 1 {
		t.Fatalf("%d reset mails for a user stored with an unfolded email, want 1", len(tokens))
	}
}

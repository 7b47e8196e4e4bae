package authcore

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cubeauth/cubeauth/store"
)

// Mailer delivers password reset mails. authcore decides whom to write and
// makes the token; the Mailer knows the templates, the link and the mail
// server. Its errors must not contain the token.
type Mailer interface {
	SendPasswordReset(ctx context.Context, m PasswordResetMail) error
}

// PasswordResetMail is one reset mail to send.
type PasswordResetMail struct {
	AppID int64
	// To is the user's email address.
	To    string
	Login string
	// Token goes into the link; whoever holds it may set the password once.
	Token     string
	ExpiresAt time.Time
}

// Names of the password reset limits, as metrics and errors report them.
const (
	LimitPasswordResetsPerAddress = "password_resets_per_address"
	LimitPasswordResetsPerIP      = "password_resets_per_ip"
)

// Password reset limits. Per address: a mailbox gets at most a few mails an
// hour however many clients (or nodes of a fleet) are asked, so cubeauth
// cannot be used to flood it. Per IP: one client cannot probe or mail many
// addresses.
var (
	passwordResetsPerAddress = Rate{5, time.Hour}
	passwordResetsPerIP      = Rate{30, time.Hour}
)

// maxResetDeliveries bounds the reset mails being prepared and sent at
// once; up to maxQueuedResets more wait their turn (a burst is delivered,
// not lost), and requests beyond those are answered as usual and dropped
// (reported): a flood must not grow memory without bound.
const (
	maxResetDeliveries = 16
	maxQueuedResets    = 1024
)

// resetDeliveryTimeout bounds one delivery: lookup, store write and SMTP.
const resetDeliveryTimeout = time.Minute

// errNoMailer explains a refused reset on a Service without a Mailer.
var errNoMailer = errors.New("password reset by email needs a mail server, and none is configured")

// passwordResets is a Service's password reset deliveries; their limits
// are among the Service's limiters, shared by a fleet.
type passwordResets struct {
	slots     chan struct{}
	queued    chan struct{}
	running   sync.WaitGroup
	closing   chan struct{}
	closeOnce sync.Once
}

func newPasswordResets() *passwordResets {
	return &passwordResets{
		slots:   make(chan struct{}, maxResetDeliveries),
		queued:  make(chan struct{}, maxResetDeliveries+maxQueuedResets),
		closing: make(chan struct{}),
	}
}

// PasswordResetsEnabled reports whether the Service has a Mailer.
func (s *Service) PasswordResetsEnabled() bool { return s.opts.Mailer != nil }

// RequestPasswordReset mails a reset link to the user of the app with this
// email, if there is one. The answer is the same whether or not there is:
// nil, or a validation or throttling error that depends only on the input
// and the client. The lookup, the token and the mail happen after the
// call returns, so its time says nothing either. Failures of that work go
// to Options.ReportError.
func (s *Service) RequestPasswordReset(ctx context.Context, appID int64, email, clientIP string) error {
	if s.opts.Mailer == nil {
		return fmt.Errorf("%w: %w", ErrUnsupported, errNoMailer)
	}
	// The limits count the folded address; the lookup gets it as given, so
	// that a user stored before names were folded is found as well.
	given := email
	email = foldName(email)
	switch {
	case email == "":
		return invalid("email", "cannot be blank")
	case tooLong(email, maxEmail) || !strings.Contains(email, "@"):
		return invalid("email", "is invalid")
	}
	if err := s.limits.resetsIP.take(s.limits.clientKey(clientIP)); err != nil {
		return err
	}
	if err := s.limits.resetsAddress.take(strconv.FormatInt(appID, 10) + ":" + email); err != nil {
		return err
	}
	select {
	case s.resets.queued <- struct{}{}:
	default:
		s.opts.ReportError(errors.New("password reset dropped: too many deliveries waiting"))
		return nil
	}
	s.resets.running.Add(1)
	go func() {
		defer func() {
			<-s.resets.queued
			s.resets.running.Done()
		}()
		select {
		case s.resets.slots <- struct{}{}:
			defer func() { <-s.resets.slots }()
		case <-s.resets.closing:
			// Close waits for the mails being sent, not for a queue that
			// a hung mail server would make last an hour.
			s.opts.ReportError(errors.New("password reset dropped: the server is shutting down"))
			return
		}
		// The delivery outlives the request: a client that hangs up at once
		// must not cancel it (that would tell it, by timing, that the user
		// exists). Its time runs from its turn.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), resetDeliveryTimeout)
		defer cancel()
		if err := s.deliverPasswordReset(dctx, appID, given); err != nil {
			s.opts.ReportError(fmt.Errorf("password reset for a user of app %d: %w", appID, err))
		}
	}()
	return nil
}

// deliverPasswordReset looks the user up, stores a new reset and mails its
// token. Unknown addresses get nothing.
func (s *Service) deliverPasswordReset(ctx context.Context, appID int64, email string) error {
	u, err := s.userByName(ctx, appID, email, s.store.GetUserByEmail)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return err
	case u.Email == "" || u.IsGuest:
		return nil
	}
	token, hash := newToken()
	now := s.now()
	r := store.PasswordReset{TokenHash: hash, AppID: appID, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(s.opts.PasswordResetTTL)}
	if err := s.store.CreatePasswordReset(ctx, r); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil // deleted meanwhile
		}
		return err
	}
	err = s.opts.Mailer.SendPasswordReset(ctx, PasswordResetMail{
		AppID: appID, To: u.Email, Login: u.Login, Token: token, ExpiresAt: r.ExpiresAt,
	})
	if err != nil {
		return fmt.Errorf("sending mail (reset %s): %w", Fingerprint(hash), err)
	}
	return nil
}

// waitPasswordResets waits for the deliveries in progress.
func (s *Service) waitPasswordResets() { s.resets.running.Wait() }

// stopPasswordResets drops the deliveries still waiting for their turn and
// waits for those in progress.
func (s *Service) stopPasswordResets() {
	s.resets.closeOnce.Do(func() { close(s.resets.closing) })
	s.resets.running.Wait()
}

// resetTokenHash checks that token looks like one of ours before it costs
// a store read, and hashes it.
func resetTokenHash(token string) (store.TokenHash, bool) {
	if len(token) != 2*tokenBytes {
		return store.TokenHash{}, false
	}
	if _, err := hex.DecodeString(token); err != nil {
		return store.TokenHash{}, false
	}
	return HashToken(token), true
}

// CheckPasswordReset reports whether token is a pending reset: nil, or
// ErrNotFound when it is unknown, used, cancelled or expired.
func (s *Service) CheckPasswordReset(ctx context.Context, token string) error {
	h, ok := resetTokenHash(token)
	if !ok {
		return ErrNotFound
	}
	_, err := s.store.GetPasswordReset(ctx, h)
	return storeErr(err, ErrNotFound)
}

// ResetPassword sets the password of the user the token belongs to, once:
// the token is used up, the user's other pending resets are cancelled and
// every session of the user ends. It returns ErrNotFound for a token that
// is unknown, used, cancelled or expired, and a ValidationError for a
// password that other paths would refuse too (the token then stays good).
func (s *Service) ResetPassword(ctx context.Context, token, newPassword string) error {
	h, ok := resetTokenHash(token)
	if !ok {
		return ErrNotFound
	}
	pending, err := s.store.GetPasswordReset(ctx, h)
	if err != nil {
		return storeErr(err, ErrNotFound)
	}
	if err := s.checkNewPassword(ctx, pending.AppID, newPassword); err != nil {
		return err
	}
	// Hash before taking the token: a busy hasher must not use it up.
	hash, err := s.hasher.Hash(ctx, newPassword)
	if err != nil {
		return err
	}
	r, err := s.store.TakePasswordReset(ctx, h)
	if err != nil {
		return storeErr(err, ErrNotFound)
	}
	u, err := s.store.GetUser(ctx, r.AppID, r.UserID)
	if err != nil {
		return storeErr(err, ErrNotFound)
	}
	u.PasswordHash = hash
	u.UpdatedAt = s.now()
	if err := s.saveUser(ctx, &u, false); err != nil {
		return err
	}
	if err := s.cancelPasswordResets(ctx, u); err != nil {
		return err
	}
	_, err = s.RevokeUserSessions(ctx, u.AppID, u.ID)
	return err
}

// cancelPasswordResets cancels the user's pending resets: a password set
// another way makes the links in earlier mails useless.
func (s *Service) cancelPasswordResets(ctx context.Context, u store.User) error {
	return storeErr(s.store.DeletePasswordResets(ctx, u.AppID, u.ID), nil)
}

package caddymodule

import (
	"errors"
	"math"
	"net/http"
	"strconv"

	"go.uber.org/zap"

	"github.com/cubeauth/cubeauth/authcore"
)

// errorBody is ConnectyCube's error shape: {"errors":[...]} or
// {"errors":{"field":[...]}}.
type errorBody struct {
	Errors any `json:"errors"`
}

func base(msg string) errorBody { return errorBody{Errors: map[string][]string{"base": {msg}}} }

func list(msg string) errorBody { return errorBody{Errors: []string{msg}} }

func field(name, msg string) errorBody { return errorBody{Errors: map[string][]string{name: {msg}}} }

// errSessionBody is the exact body the SDKs recognise as an expired session.
var errSessionBody = base("Required session does not exist")

// refusal is how cubeauth answers and counts one kind of error: the HTTP
// status, the ConnectyCube body, and the reason label of
// cubeauth_auth_failures_total.
type refusal struct {
	is     func(error) bool
	status int
	body   func(error) errorBody
	reason string
}

// refusals is the one table of refusals, tried in order; an error that none
// matches is an internal error. Every error authcore exports has an entry
// (TestEveryAuthcoreErrorHasARefusal). The bodies are the ones the
// ConnectyCube SDKs expect.
var refusals = []refusal{
	{isType[*authcore.ValidationError], http.StatusUnprocessableEntity, typedBody(func(e *authcore.ValidationError) errorBody { return errorBody{Errors: e.Fields} }), "invalid_input"},
	// A BusyError is a rate limit's (429) or a lack of hashing turns (503).
	{isThrottled, http.StatusTooManyRequests, typedBody(busyBody), "throttled"},
	{isType[*authcore.BusyError], http.StatusServiceUnavailable, typedBody(busyBody), "throttled"},
	{isType[*authcore.PinnedError], http.StatusConflict, typedBody(func(e *authcore.PinnedError) errorBody { return base(e.Error()) }), "pinned"},
	{is(authcore.ErrBadParams), http.StatusBadRequest, func(err error) errorBody { return base(err.Error()) }, "bad_input"},
	{is(errBodyTooLarge), http.StatusRequestEntityTooLarge, fixed(base("request body is too large")), "body_too_large"},
	{is(authcore.ErrSessionNotFound), http.StatusUnauthorized, fixed(errSessionBody), "session_not_found"},
	{is(authcore.ErrTokenRequired), http.StatusUnauthorized, fixed(list("Token is required")), "token_missing"},
	{is(authcore.ErrUnknownApp), http.StatusUnauthorized, fixed(base("Unknown application or auth key")), "unknown_app"},
	{is(authcore.ErrBadCredentials), http.StatusUnauthorized, fixed(list("Unauthorized")), "bad_credentials"},
	{is(authcore.ErrUserNotFound), http.StatusNotFound, fixed(list("User not found")), "user_not_found"},
	{is(authcore.ErrNotFound), http.StatusNotFound, fixed(base("Not found")), "not_found"},
	{is(authcore.ErrNeedUser), http.StatusForbidden, fixed(base("Forbidden. Need user.")), "need_user"},
	{is(authcore.ErrForbidden), http.StatusForbidden, fixed(base("Forbidden")), "forbidden"},
	{is(authcore.ErrListUsersDenied), http.StatusForbidden, fixed(base("Listing users is not allowed in this application; sign in as a user")), "list_users_denied"},
	{isType[*authcore.PrivateFieldError], http.StatusForbidden, typedBody(func(e *authcore.PrivateFieldError) errorBody { return base(e.Error()) }), "private_field"},
	{is(errNoAccountSettings), http.StatusNotFound, fixed(base("Account settings are not configured on this server")), "no_account_settings"},
	{is(errChatSecret), http.StatusForbidden, fixed(base("Forbidden")), "chat_secret"},
	{is(authcore.ErrGuestsDenied), http.StatusForbidden, fixed(base("Guest sessions are not allowed in this application")), "guests_denied"},
	{is(authcore.ErrBadSignature), http.StatusUnprocessableEntity, fixed(list("Unexpected signature")), "bad_signature"},
	{is(authcore.ErrSignatureRequired), http.StatusUnprocessableEntity, fixed(field("signature", "cannot be blank")), "signature_required"},
	{is(authcore.ErrStaleTimestamp), http.StatusUnprocessableEntity, fixed(field("timestamp", "is out of the allowed range")), "stale_timestamp"},
	{is(authcore.ErrReplayed), http.StatusUnprocessableEntity, fixed(field("nonce", "has already been used")), "replayed_nonce"},
	{is(authcore.ErrUnsupported), http.StatusUnprocessableEntity, fixed(field("provider", "is not supported")), "unsupported"},
	{is(errMethodNotAllowed), http.StatusMethodNotAllowed, fixed(base("Method not allowed")), "method_not_allowed"},
	{is(errNoEndpoint), http.StatusNotFound, fixed(base("Not found")), "no_endpoint"},
	{is(authcore.ErrUnavailable), http.StatusServiceUnavailable, fixed(base("Service unavailable")), "store_unavailable"},
	// The Hasher turns these into a BusyError or an in-process hash; were
	// one ever to leak, it is a busy hasher, not a server fault.
	{is(authcore.ErrDeriverStalled), http.StatusServiceUnavailable, fixed(base("too many logins at once")), "hash_worker_stalled"},
	{is(authcore.ErrDeriverUnavailable), http.StatusServiceUnavailable, fixed(base("too many logins at once")), "hash_worker_unavailable"},
}

// internalError answers what no refusal matches.
var internalError = refusal{status: http.StatusInternalServerError, body: fixed(base("Internal server error")), reason: "other"}

// refusalFor is err's entry in refusals.
func refusalFor(err error) refusal {
	for _, r := range refusals {
		if r.is(err) {
			return r
		}
	}
	return internalError
}

// httpError is the status and body that answer err.
func httpError(err error) (int, errorBody) {
	r := refusalFor(err)
	return r.status, r.body(err)
}

func is(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

func isType[E error](err error) bool {
	var e E
	return errors.As(err, &e)
}

func isThrottled(err error) bool {
	var busy *authcore.BusyError
	return errors.As(err, &busy) && busy.Throttled
}

func fixed(body errorBody) func(error) errorBody {
	return func(error) errorBody { return body }
}

// typedBody makes the body of an error of type E; the entry's is has
// already found one in the chain.
func typedBody[E error](body func(E) errorBody) func(error) errorBody {
	return func(err error) errorBody {
		var e E
		errors.As(err, &e)
		return body(e)
	}
}

func busyBody(e *authcore.BusyError) errorBody { return base(e.Reason) }

// writeError answers with ConnectyCube's error shape. Server-side failures
// are logged; refusals are not (they are the client's business, and the
// access log has them).
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ref := refusalFor(err)
	status, body := ref.status, ref.body(err)
	var busy *authcore.BusyError
	errors.As(err, &busy)
	countRefusal(ref.reason, busy)
	// A browser page must read a refusal (the SDKs' session-expired hook
	// runs on the 401's body), on every path.
	h.ensureCORS(w.Header(), r)
	switch {
	case busy != nil:
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(busy.RetryAfter.Seconds()))))
	case status == http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	}
	if status >= 500 && busy == nil {
		// A refusal for lack of hashing turns is expected in a login storm
		// and counted in cubeauth_throttled_requests_total; a log line for each would
		// only add to the storm. authcore errors never carry secrets, so
		// the message is safe to log.
		h.logger.Error("request failed", zap.String("method", r.Method),
			zap.String("path", r.URL.Path), zap.Int("status", status), zap.Error(err))
	}
	awaitTrailers(r)
	writeJSON(w, status, body)
}

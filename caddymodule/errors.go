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

// httpError maps an authcore error to a status and body.
func httpError(err error) (int, errorBody) {
	var verr *authcore.ValidationError
	var busy *authcore.BusyError
	switch {
	case errors.As(err, &verr):
		return http.StatusUnprocessableEntity, errorBody{Errors: verr.Fields}
	case errors.As(err, &busy):
		if busy.Throttled {
			return http.StatusTooManyRequests, base(busy.Reason)
		}
		return http.StatusServiceUnavailable, base(busy.Reason)
	case errors.Is(err, authcore.ErrBadParams):
		return http.StatusBadRequest, base(err.Error())
	case errors.Is(err, errBodyTooLarge):
		return http.StatusRequestEntityTooLarge, base("request body is too large")
	case errors.Is(err, authcore.ErrSessionNotFound):
		return http.StatusUnauthorized, errSessionBody
	case errors.Is(err, authcore.ErrTokenRequired):
		return http.StatusUnauthorized, list("Token is required")
	case errors.Is(err, authcore.ErrUnknownApp):
		return http.StatusUnauthorized, base("Unknown application or auth key")
	case errors.Is(err, authcore.ErrBadCredentials):
		return http.StatusUnauthorized, list("Unauthorized")
	case errors.Is(err, authcore.ErrUserNotFound):
		return http.StatusNotFound, list("User not found")
	case errors.Is(err, authcore.ErrNotFound):
		return http.StatusNotFound, base("Not found")
	case errors.Is(err, authcore.ErrNeedUser):
		return http.StatusForbidden, base("Forbidden. Need user.")
	case errors.Is(err, authcore.ErrForbidden):
		return http.StatusForbidden, base("Forbidden")
	case errors.Is(err, authcore.ErrBadSignature):
		return http.StatusUnprocessableEntity, list("Unexpected signature")
	case errors.Is(err, authcore.ErrSignatureRequired):
		return http.StatusUnprocessableEntity, field("signature", "cannot be blank")
	case errors.Is(err, authcore.ErrStaleTimestamp):
		return http.StatusUnprocessableEntity, field("timestamp", "is out of the allowed range")
	case errors.Is(err, authcore.ErrReplayed):
		return http.StatusUnprocessableEntity, field("nonce", "has already been used")
	case errors.Is(err, authcore.ErrUnsupported):
		return http.StatusUnprocessableEntity, field("provider", "is not supported")
	case errors.Is(err, errMethodNotAllowed):
		return http.StatusMethodNotAllowed, base("Method not allowed")
	case errors.Is(err, errNoEndpoint):
		return http.StatusNotFound, base("Not found")
	case errors.Is(err, authcore.ErrUnavailable):
		return http.StatusServiceUnavailable, base("Service unavailable")
	}
	return http.StatusInternalServerError, base("Internal server error")
}

// writeError answers with ConnectyCube's error shape. Server-side failures
// are logged; refusals are not (they are the client's business, and the
// access log has them).
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, body := httpError(err)
	countRefusal(err)
	var busy *authcore.BusyError
	switch {
	case errors.As(err, &busy):
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
	writeJSON(w, status, body)
}

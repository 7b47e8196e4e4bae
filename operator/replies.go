package operator

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/cubeauth/cubeauth/authcore"
)

// maxAdminBody bounds an operator request body.
const maxAdminBody = 64 << 10

// adminDomainError turns an authcore error into an API error; what names the
// missing thing for a 404.
func adminDomainError(err error, what string) error {
	var perr *authcore.PinnedError
	var verr *authcore.ValidationError
	switch {
	case errors.As(err, &perr):
		return caddy.APIError{HTTPStatus: http.StatusConflict, Err: err, Message: perr.Error()}
	case errors.As(err, &verr):
		return caddy.APIError{HTTPStatus: http.StatusUnprocessableEntity, Err: err, Message: validationMessage(verr)}
	case errors.Is(err, authcore.ErrNotFound):
		if what == "" {
			what = "resource"
		}
		return adminError(http.StatusNotFound, what+" not found")
	case errors.Is(err, authcore.ErrUnavailable):
		return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: err, Message: "store unavailable"}
	}
	return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err, Message: "internal error"}
}

// validationMessage reads "stage must be development or production".
func validationMessage(verr *authcore.ValidationError) string {
	var parts []string
	fields := make([]string, 0, len(verr.Fields))
	for f := range verr.Fields {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	for _, f := range fields {
		parts = append(parts, f+" "+strings.Join(verr.Fields[f], ", "))
	}
	return strings.Join(parts, "; ")
}

func adminError(status int, msg string) error {
	return caddy.APIError{HTTPStatus: status, Err: errors.New(msg), Message: msg}
}

func requireMethod(r *http.Request, methods ...string) error {
	for _, m := range methods {
		if r.Method == m || (m == http.MethodGet && r.Method == http.MethodHead) {
			return nil
		}
	}
	return adminMethodNotAllowed(methods...)
}

func adminMethodNotAllowed(methods ...string) error {
	return adminError(http.StatusMethodNotAllowed, "method not allowed; use "+strings.Join(methods, " or "))
}

// adminPathID parses a positive integer ID from the path or query.
func adminPathID(s, what string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, adminError(http.StatusNotFound, what+" not found: "+strconv.Quote(s)+" is not an ID")
	}
	return id, nil
}

// adminPaging reads ?offset= and ?limit= (default 50, at most 500).
func adminPaging(r *http.Request) (offset, limit int, err error) {
	q := r.URL.Query()
	limit = defaultPageSize
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			return 0, 0, adminError(http.StatusBadRequest, "offset must be a non-negative integer")
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxPageSize {
			return 0, 0, adminError(http.StatusBadRequest, "limit must be between 1 and "+strconv.Itoa(maxPageSize))
		}
	}
	return offset, limit, nil
}

// decodeAdminBody reads a JSON object body into v; an empty body is allowed when
// emptyOK (all fields optional).
func decodeAdminBody(r *http.Request, v any, emptyOK bool) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody+1))
	if err != nil {
		return adminError(http.StatusBadRequest, "reading body: "+err.Error())
	}
	if len(body) > maxAdminBody {
		return adminError(http.StatusRequestEntityTooLarge, "request body is too large")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if emptyOK {
			return nil
		}
		return adminError(http.StatusBadRequest, "a JSON object body is required")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) || strings.HasPrefix(err.Error(), "json: unknown field") {
			// These name a field and a type, never a value.
			return adminError(http.StatusBadRequest, "body: "+err.Error())
		}
		// A syntax error may quote the body, which may hold a secret.
		return adminError(http.StatusBadRequest, "body must be a JSON object")
	}
	return nil
}

// writeAdminJSON answers with a JSON body.
func writeAdminJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the status is sent: a write error has no one to go to
	return nil
}

func emptyIfNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

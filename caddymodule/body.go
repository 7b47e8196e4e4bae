package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/cubeauth/cubeauth/authcore"
)

// maxBodyBytes bounds a request body of the terminated endpoints; real
// bodies are a few hundred bytes, custom_data included.
const maxBodyBytes = 64 << 10

var errBodyTooLarge = errors.New("request body is too large")

// readParams reads the request's parameters: the JSON or form body of a
// POST/PUT/PATCH (JSON when the content type says so or the body starts
// with "{", as iOS sends forms and Flutter sends JSON), or for other methods
// the query string together with any body (see readQuery).
func readParams(r *http.Request) (authcore.Params, error) {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
	default:
		q, err := readQuery(r)
		if err != nil {
			return nil, err
		}
		return authcore.ParseFormParams(q.Encode())
	}
	body, isJSON, err := readBody(r)
	if err != nil || body == "" {
		return authcore.Params{}, err
	}
	if isJSON {
		return authcore.ParseJSONParams([]byte(body))
	}
	return authcore.ParseFormParams(body)
}

// readBody reads a bounded request body, trimmed, and says whether it is
// JSON rather than a form.
func readBody(r *http.Request) (body string, isJSON bool, err error) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return "", false, authcore.ErrBadParams
	}
	if len(raw) > maxBodyBytes {
		return "", false, errBodyTooLarge
	}
	body = strings.TrimSpace(string(raw))
	if body == "" {
		return "", false, nil
	}
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	isJSON = strings.HasSuffix(mediaType, "json") || (mediaType != "application/x-www-form-urlencoded" && body[0] == '{')
	return body, isJSON, nil
}

// readQuery is the parameters of a GET, HEAD or DELETE: the query string
// (what the SDKs send) and a form or JSON body (what the docs' own
// "curl -X GET -d '…'" examples send). A parameter named in both is refused
// rather than one silently winning, so that what a cache or log saw in the
// URL is never overridden by a body it did not see.
func readQuery(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, authcore.ErrBadParams
	}
	body, isJSON, err := readBody(r)
	if err != nil || body == "" {
		return q, err
	}
	var fromBody url.Values
	if isJSON {
		p, err := authcore.ParseJSONParams([]byte(body))
		if err != nil {
			return nil, err
		}
		fromBody = url.Values{}
		for k, v := range p {
			fromBody.Set(k, v)
		}
	} else if fromBody, err = url.ParseQuery(body); err != nil {
		return nil, fmt.Errorf("%w: invalid form encoding", authcore.ErrBadParams)
	}
	for k, vs := range fromBody {
		if q.Has(k) {
			return nil, fmt.Errorf("%w: parameter %s given both in the query string and in the body", authcore.ErrBadParams, k)
		}
		q[k] = vs
	}
	return q, nil
}

// renderAll renders every item; the result is never nil, so that an empty
// list is [] in JSON, not null.
func renderAll[T, V any](items []T, render func(T) V) []V {
	out := make([]V, 0, len(items))
	for _, it := range items {
		out = append(out, render(it))
	}
	return out
}

// writeJSON answers with a JSON body that no cache (a browser's, a CDN's)
// may keep: every answer cubeauth writes itself may carry a token or user
// data.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

package caddymodule

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/cubeauth/cubeauth/authcore"
)

// maxBodyBytes bounds a request body of the terminated endpoints; real
// bodies are a few hundred bytes, custom_data included.
const maxBodyBytes = 64 << 10

var errBodyTooLarge = errors.New("request body is too large")

// readParams reads the request's parameters: the JSON or form body of a
// POST/PUT/PATCH (JSON when the content type says so or the body starts
// with "{", as iOS sends forms and Flutter sends JSON), or the query string
// otherwise.
func readParams(r *http.Request) (authcore.Params, error) {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
	default:
		return authcore.ParseFormParams(r.URL.RawQuery)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, authcore.ErrBadParams
	}
	if len(body) > maxBodyBytes {
		return nil, errBodyTooLarge
	}
	trimmed := strings.TrimSpace(string(body))
	if trimmed == "" {
		return authcore.Params{}, nil
	}
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if strings.HasSuffix(mediaType, "json") || (mediaType != "application/x-www-form-urlencoded" && trimmed[0] == '{') {
		return authcore.ParseJSONParams(body)
	}
	return authcore.ParseFormParams(trimmed)
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

package caddymodule

import (
	"fmt"
	"io"
	"net/http"

	"github.com/cubeauth/cubeauth/authcore"
)

// errIdentityTrailer refuses a request that declares a trailer under the
// identity prefix (400 in ConnectyCube's shape): no honest client sends
// one, and a backend that merges trailers into headers would take it for
// the identity cubeauth vouches for.
var errIdentityTrailer = fmt.Errorf("%w: trailers under the identity header prefix are not allowed", authcore.ErrBadParams)

// guardTrailers keeps request trailers under the identity prefix from
// reaching the next handler. A declared one (the Trailer header, which Go
// turns into the keys of r.Trailer for a chunked HTTP/1.1 or an HTTP/2
// body) is refused with errIdentityTrailer. An undeclared one arrives only
// with the end of an HTTP/1.1 chunked body, where net/http merges every
// trailer it reads into r.Trailer and reverse_proxy forwards them all, so
// the body is wrapped to delete them when it ends.
func (ih *identityHeaders) guardTrailers(r *http.Request) error {
	for k := range r.Trailer {
		if ih.underPrefix(k) {
			return errIdentityTrailer
		}
	}
	// Without chunked framing Go leaves the declaration in the header.
	for _, v := range r.Header["Trailer"] {
		if ih.namesPrefixed(v) {
			return errIdentityTrailer
		}
	}
	// Trailers need a body of unknown length (HTTP/1.1 chunked), or declared
	// keys (HTTP/2 keeps only those): a request with neither costs nothing.
	if r.Body == nil || r.Body == http.NoBody || (r.ContentLength >= 0 && r.Trailer == nil) {
		return nil
	}
	r.Body = &trailerStripper{ReadCloser: r.Body, r: r, ih: ih}
	return nil
}

// awaitTrailers reads and drops up to maxBodyBytes of what is left of the
// body of a request that declared trailers, before cubeauth's own answer
// (a refusal, or an endpoint's) is complete. Over
// HTTP/2 the client sends the trailers after its body; answered first, the
// server closes the stream, takes the late trailers for a protocol error,
// and its GOAWAY fails the client's other requests on that connection. A
// larger body is left to the server to reset, as usual.
func awaitTrailers(r *http.Request) {
	if r.Trailer != nil && r.Body != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxBodyBytes))
	}
}

// trailerStripper deletes r's trailers under the identity prefix whenever
// a read of the body ends it (net/http fills r.Trailer just before it
// returns io.EOF), before reverse_proxy copies them.
type trailerStripper struct {
	io.ReadCloser
	r  *http.Request
	ih *identityHeaders
}

func (b *trailerStripper) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.ih.strip(b.r.Trailer)
	}
	return n, err
}

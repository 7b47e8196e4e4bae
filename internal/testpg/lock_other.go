//go:build !unix

package testpg

import "testing"

// lock does nothing where flock is missing: run such tests one package at a
// time (go test -p 1).
func lock(testing.TB, string, bool) {}

// flock does nothing where flock is missing; see lock.
func flock(string, bool) (func(), error) { return func() {}, nil }

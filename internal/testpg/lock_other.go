//go:build !unix

package testpg

import "testing"

// lock does nothing where flock is missing: run such tests one package at a
// time (go test -p 1).
func lock(testing.TB, string, bool) {}

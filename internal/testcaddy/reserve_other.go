//go:build !unix

package testcaddy

// reservePort has no machine-wide registry where flock is missing: only the
// in-process check applies.
func reservePort(int) bool { return true }

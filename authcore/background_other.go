//go:build !linux

package authcore

// inBackground runs fn; only Linux lowers the priority of a single thread.
func inBackground(fn func()) { fn() }

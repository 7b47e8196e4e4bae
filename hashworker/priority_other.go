//go:build !linux

package hashworker

// lowerProcessPriority does nothing here: hash workers are separate
// processes all the same, and the operator may start Caddy with nice.
func lowerProcessPriority() {}

//go:build !linux

package testcaddy

import "os/exec"

// setProcAttr has nothing to set where the kernel cannot tie a child's life
// to its parent; t.Cleanup still stops Caddy.
func setProcAttr(*exec.Cmd) {}

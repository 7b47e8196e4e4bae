package testcaddy

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel kill Caddy when the test process dies, so an
// interrupted `go test` leaves no server holding ports or a Badger lock.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

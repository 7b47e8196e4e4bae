//go:build unix

package testpg

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"
)

// runAsPostgresIfRoot returns what makes a command run as the user postgres
// when this process is root (initdb refuses root), after handing paths to
// that user; otherwise it changes nothing.
func runAsPostgresIfRoot(paths ...string) (func(*exec.Cmd), error) {
	if os.Geteuid() != 0 {
		return func(*exec.Cmd) {}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("initdb refuses to run as root, and there is no user postgres to run it as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, path := range paths {
		if err := os.Chown(path, uid, gid); err != nil {
			return nil, err
		}
	}
	return runAs(uint32(uid), uint32(gid)), nil
}

// runAsOwnerOf returns what makes a command run as the owner of path when
// this process is root and someone else owns it; otherwise it changes
// nothing.
func runAsOwnerOf(path string) (func(*exec.Cmd), error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, errors.New("cannot tell who owns " + path)
	}
	if os.Geteuid() != 0 || st.Uid == 0 {
		return func(*exec.Cmd) {}, nil
	}
	return runAs(st.Uid, st.Gid), nil
}

func runAs(uid, gid uint32) func(*exec.Cmd) {
	return func(cmd *exec.Cmd) {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	}
}

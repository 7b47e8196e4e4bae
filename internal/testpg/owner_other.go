//go:build !unix

package testpg

import "os/exec"

// runAsPostgresIfRoot changes nothing where there is no root.
func runAsPostgresIfRoot(...string) (func(*exec.Cmd), error) { return func(*exec.Cmd) {}, nil }

// runAsOwnerOf changes nothing where there is no root.
func runAsOwnerOf(string) (func(*exec.Cmd), error) { return func(*exec.Cmd) {}, nil }

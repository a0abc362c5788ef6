//go:build unix

package main

import "syscall"

// setPrivateUmask makes files and directories the process creates
// accessible to its user only.
func setPrivateUmask() { syscall.Umask(0o077) }

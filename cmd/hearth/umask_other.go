//go:build !unix

package main

// setPrivateUmask does nothing where there is no umask: there the data
// directory's ACL decides who may read its files.
func setPrivateUmask() {}

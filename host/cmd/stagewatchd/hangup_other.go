//go:build !unix

package main

import "os"

// notifyHangup does nothing where there is no SIGHUP.
func notifyHangup(chan<- os.Signal) {}

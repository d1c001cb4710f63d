//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"
)

// notifyHangup delivers SIGHUP to c, which also keeps it from stopping the
// process.
func notifyHangup(c chan<- os.Signal) { signal.Notify(c, syscall.SIGHUP) }

//go:build !linux

// Command stagewatch-eval is AN0041's evaluation, which runs on Linux only.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "stagewatch-eval: AN0041's evaluation runs on Linux only")
	os.Exit(2)
}

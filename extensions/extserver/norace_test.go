//go:build !race && !windows

package extserver_test

const raceEnabled = false

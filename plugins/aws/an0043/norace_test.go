//go:build !race

package an0043

const raceEnabled = false

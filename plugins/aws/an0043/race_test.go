//go:build race

package an0043

// raceEnabled: the race detector slows the memory measurement tenfold
// and changes what it measures.
const raceEnabled = true

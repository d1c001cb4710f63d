//go:build !unix

package remote

// secretModeChecked: Windows files carry ACLs, not mode bits.
const secretModeChecked = false

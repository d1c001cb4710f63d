//go:build unix

package remote

// secretModeChecked: a world-readable secret file is refused where
// permission bits mean it.
const secretModeChecked = true

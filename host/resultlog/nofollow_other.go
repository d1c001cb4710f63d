//go:build !unix

package resultlog

// noFollow is unset on Windows, where creating a symbolic link needs a
// privilege ordinary users lack.
const noFollow = 0

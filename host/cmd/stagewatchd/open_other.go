//go:build !unix

package main

// openNonBlock is 0 where the platform has no such flag; the check before
// the open is the guard there.
const openNonBlock = 0

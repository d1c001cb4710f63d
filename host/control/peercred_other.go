//go:build !linux && !darwin

package control

import (
	"errors"
	"net"
)

// peerUID is unavailable here, so every request is refused: an
// unauthenticated control socket would let anyone read the detections.
func peerUID(net.Conn) (uint32, error) {
	return 0, errors.New("peer credentials are not supported on this platform")
}

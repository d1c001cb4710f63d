//go:build linux || darwin

package control

import "net"

// peerUID returns the uid of the process at the other end of a unix socket,
// as the kernel recorded it at connect (socketPeerUID, per OS): the client
// cannot forge it.
func peerUID(conn net.Conn) (uint32, error) {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return 0, errNotUnix
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var uid uint32
	var credErr error
	if err := raw.Control(func(fd uintptr) { uid, credErr = socketPeerUID(int(fd)) }); err != nil {
		return 0, err
	}
	return uid, credErr
}

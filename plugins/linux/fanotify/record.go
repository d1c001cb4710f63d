//go:build linux

package fanotify

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// fanotify's wire format is native-endian; every Linux target stagewatch
// builds for is little-endian.
var native = binary.LittleEndian

const (
	metadataLen  = unix.FAN_EVENT_METADATA_LEN // 24
	infoHeader   = 4                           // info_type, pad, len
	fsidLen      = 8                           // __kernel_fsid_t
	handleHeader = 8                           // handle_bytes, handle_type
	// maxHandleSize is MAX_HANDLE_SZ from <linux/exportfs.h>, which
	// x/sys/unix does not export.
	maxHandleSize = 128
)

// fidName is one directory-fid(+name) info record, as slices of the read
// buffer: valid only until the next read.
type fidName struct {
	// key is fsid, handle header and handle bytes: contiguous in the record,
	// unique per directory, and used as the cache key without copying.
	key        []byte
	fsid       [fsidLen]byte
	handleType int32
	handle     []byte
	name       []byte // nil for a DFID record (the object is the directory itself)
}

func (f fidName) present() bool { return f.key != nil }

// rawEvent is one decoded fanotify event.
type rawEvent struct {
	mask uint64
	pid  int32
	// dir is the directory and name the event is about: DFID_NAME for
	// create/close_write, NEW_DFID_NAME for a rename.
	dir fidName
	// old is where a renamed entry came from (OLD_DFID_NAME).
	old fidName
}

var errShort = errors.New("fanotify: truncated event")

// nextEvent decodes the first event in buf and returns the rest. It never
// trusts a length from the buffer without bounds checks: a malformed event
// is an error and the caller drops the remainder of the read.
func nextEvent(buf []byte) (ev rawEvent, rest []byte, err error) {
	if len(buf) < metadataLen {
		return ev, nil, errShort
	}
	eventLen := int(native.Uint32(buf[0:4]))
	vers := buf[4]
	metaLen := int(native.Uint16(buf[6:8]))
	if vers != unix.FANOTIFY_METADATA_VERSION {
		return ev, nil, fmt.Errorf("fanotify: metadata version %d, want %d", vers, unix.FANOTIFY_METADATA_VERSION)
	}
	if eventLen < metadataLen || eventLen > len(buf) || metaLen < metadataLen || metaLen > eventLen {
		return ev, nil, fmt.Errorf("fanotify: bad lengths event=%d metadata=%d buffer=%d", eventLen, metaLen, len(buf))
	}
	ev.mask = native.Uint64(buf[8:16])
	ev.pid = int32(native.Uint32(buf[20:24]))
	infos := buf[metaLen:eventLen]
	for len(infos) > 0 {
		if len(infos) < infoHeader {
			return ev, nil, errShort
		}
		infoType := infos[0]
		infoLen := int(native.Uint16(infos[2:4]))
		if infoLen < infoHeader || infoLen > len(infos) {
			return ev, nil, fmt.Errorf("fanotify: bad info record length %d", infoLen)
		}
		record := infos[:infoLen]
		infos = infos[infoLen:]
		switch infoType {
		case unix.FAN_EVENT_INFO_TYPE_DFID_NAME, unix.FAN_EVENT_INFO_TYPE_NEW_DFID_NAME:
			if ev.dir, err = decodeFid(record, true); err != nil {
				return ev, nil, err
			}
		case unix.FAN_EVENT_INFO_TYPE_DFID:
			if ev.dir, err = decodeFid(record, false); err != nil {
				return ev, nil, err
			}
		case unix.FAN_EVENT_INFO_TYPE_OLD_DFID_NAME:
			if ev.old, err = decodeFid(record, true); err != nil {
				return ev, nil, err
			}
		default:
			// Records this collector did not ask for (FID, PIDFD, ERROR,
			// RANGE, MNT…) are skipped so a newer kernel cannot break it.
		}
	}
	return ev, buf[eventLen:], nil
}

func decodeFid(record []byte, withName bool) (fidName, error) {
	var f fidName
	body := record[infoHeader:]
	if len(body) < fsidLen+handleHeader {
		return f, errShort
	}
	handleBytes := int(native.Uint32(body[fsidLen : fsidLen+4]))
	end := fsidLen + handleHeader + handleBytes
	if handleBytes == 0 || handleBytes > maxHandleSize || end > len(body) {
		return f, fmt.Errorf("fanotify: bad file handle length %d", handleBytes)
	}
	copy(f.fsid[:], body[:fsidLen])
	f.handleType = int32(native.Uint32(body[fsidLen+4 : fsidLen+8]))
	f.handle = body[fsidLen+handleHeader : end]
	f.key = body[:end]
	if !withName {
		return f, nil
	}
	// The name is NUL-terminated and the record padded to 4 bytes.
	name := body[end:]
	n := 0
	for n < len(name) && name[n] != 0 {
		n++
	}
	if n == len(name) {
		return f, errors.New("fanotify: name not terminated")
	}
	f.name = name[:n]
	if n == 0 || !validName(f.name) {
		return f, fmt.Errorf("fanotify: bad entry name %q", f.name)
	}
	return f, nil
}

// validName accepts any byte string a directory entry can hold: everything
// but '/' and NUL (already cut). "." is the kernel's name for the directory
// itself.
func validName(name []byte) bool {
	for _, c := range name {
		if c == '/' {
			return false
		}
	}
	return true
}

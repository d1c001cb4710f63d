//go:build windows

package wevtapi

import (
	"unsafe"

	"golang.org/x/sys/windows"
)

// The Windows Event Log API (winevt.h), loaded from wevtapi.dll in the
// system directory only.
var (
	modwevtapi            = windows.NewLazySystemDLL("wevtapi.dll")
	procEvtSubscribe      = modwevtapi.NewProc("EvtSubscribe")
	procEvtNext           = modwevtapi.NewProc("EvtNext")
	procEvtRender         = modwevtapi.NewProc("EvtRender")
	procEvtClose          = modwevtapi.NewProc("EvtClose")
	procEvtCreateBookmark = modwevtapi.NewProc("EvtCreateBookmark")
	procEvtUpdateBookmark = modwevtapi.NewProc("EvtUpdateBookmark")
)

type evtHandle uintptr

// EVT_SUBSCRIBE_FLAGS and EVT_RENDER_FLAGS.
const (
	evtSubscribeToFutureEvents      = 1
	evtSubscribeStartAtOldestRecord = 2
	evtSubscribeStartAfterBookmark  = 3
	evtSubscribeStrict              = 0x10000

	evtRenderEventXml = 1
	evtRenderBookmark = 2
)

// Errors the API returns that the collector acts on.
const (
	errorInsufficientBuffer         = windows.Errno(122)
	errorNoMoreItems                = windows.Errno(259)
	errorTimeout                    = windows.Errno(1460)
	errorInvalidOperation           = windows.Errno(4317)
	errorEvtChannelNotFound         = windows.Errno(15007)
	errorEvtQueryResultStale        = windows.Errno(15011)
	errorEvtQueryResultInvalidPos   = windows.Errno(15012)
	errorEvtSubscriptionToDirectChn = windows.Errno(15042)
)

func evtSubscribe(signal windows.Handle, channel, query string, bookmark evtHandle, flags uint32) (evtHandle, error) {
	ch, err := windows.UTF16PtrFromString(channel)
	if err != nil {
		return 0, err
	}
	q, err := windows.UTF16PtrFromString(query)
	if err != nil {
		return 0, err
	}
	r, _, e := procEvtSubscribe.Call(0, uintptr(signal), uintptr(unsafe.Pointer(ch)), uintptr(unsafe.Pointer(q)),
		uintptr(bookmark), 0, 0, uintptr(flags))
	if r == 0 {
		return 0, e
	}
	return evtHandle(r), nil
}

// evtNext fills events with up to len(events) handles; it returns how many,
// and errorNoMoreItems when none is waiting.
func evtNext(sub evtHandle, events []evtHandle) (int, error) {
	var returned uint32
	r, _, e := procEvtNext.Call(uintptr(sub), uintptr(len(events)), uintptr(unsafe.Pointer(&events[0])), 0, 0,
		uintptr(unsafe.Pointer(&returned)))
	if r == 0 {
		return 0, e
	}
	return int(returned), nil
}

// evtRender renders h with flags into buf (growing it as the API asks) and
// returns the UTF-16 text without its terminating NUL.
func evtRender(h evtHandle, flags uint32, buf *[]uint16) ([]uint16, error) {
	for range 2 {
		var used, props uint32
		size := uint32(len(*buf) * 2)
		var p uintptr
		if len(*buf) > 0 {
			p = uintptr(unsafe.Pointer(&(*buf)[0]))
		}
		r, _, e := procEvtRender.Call(0, uintptr(h), uintptr(flags), uintptr(size), p,
			uintptr(unsafe.Pointer(&used)), uintptr(unsafe.Pointer(&props)))
		if r != 0 {
			n := int(used / 2)
			for n > 0 && (*buf)[n-1] == 0 {
				n--
			}
			return (*buf)[:n], nil
		}
		if e != errorInsufficientBuffer {
			return nil, e
		}
		*buf = make([]uint16, used/2+1)
	}
	return nil, errorInsufficientBuffer
}

func evtClose(h evtHandle) {
	if h != 0 {
		procEvtClose.Call(uintptr(h))
	}
}

// evtCreateBookmark makes a bookmark from its XML, or an empty one for "".
func evtCreateBookmark(xml string) (evtHandle, error) {
	var p *uint16
	if xml != "" {
		var err error
		if p, err = windows.UTF16PtrFromString(xml); err != nil {
			return 0, err
		}
	}
	r, _, e := procEvtCreateBookmark.Call(uintptr(unsafe.Pointer(p)))
	if r == 0 {
		return 0, e
	}
	return evtHandle(r), nil
}

func evtUpdateBookmark(bookmark, event evtHandle) error {
	r, _, e := procEvtUpdateBookmark.Call(uintptr(bookmark), uintptr(event))
	if r == 0 {
		return e
	}
	return nil
}

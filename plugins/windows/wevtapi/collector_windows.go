//go:build windows

package wevtapi

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/windows"

	"github.com/stagewatch/stagewatch/internal/endpoint"
	"github.com/stagewatch/stagewatch/internal/event"
)

// Config is what a collector subscribes to and how it hands events over.
type Config struct {
	Channels []Channel
	// Decode turns one rendered event (its XML, UTF-8) into events of the
	// model; none and no error when the event is not one the analytic
	// uses. An error counts the event as malformed.
	Decode func(xml []byte) ([]*event.Event, error)
	// StateDir keeps a bookmark per channel (endpoint.Env.StateDir).
	StateDir string
}

// Pull subscriptions are drained in batches of batchSize handles; a
// bookmark is written at most once per saveEvery (and when the collector
// stops), so a restart rereads at most that much, which the analytic's
// state recognises as already kept.
const (
	batchSize = 256
	saveEvery = time.Second
	waitSlice = 200 * time.Millisecond
)

// Collector reads its channels' events as they are written.
type Collector struct {
	cfg       Config
	bookmarks *Bookmarks
	stop      windows.Handle // set by Close; Run waits on it beside the signals

	mu      sync.Mutex
	subs    []*subscription
	notes   []string
	closed  bool
	running bool

	events, renderFailed, decodeFailed, stale, resubscribed, gaps atomic.Uint64
	saves, saveFailed                                             atomic.Uint64
	lastStale                                                     atomic.Int64
}

type subscription struct {
	ch       Channel
	signal   windows.Handle
	handle   evtHandle
	bookmark evtHandle
	dirty    bool
	saved    time.Time
}

// Open subscribes to every channel, after its kept bookmark when there is
// one. An optional channel that does not exist (Sysmon not installed) is
// said in the notes; any other failure, or no channel at all, fails.
func Open(cfg Config) (*Collector, error) {
	if err := check(cfg.Channels); err != nil {
		return nil, err
	}
	if cfg.Decode == nil {
		return nil, errors.New("wevtapi: no decoder")
	}
	if err := modwevtapi.Load(); err != nil {
		return nil, fmt.Errorf("wevtapi: %w", err)
	}
	bm, err := OpenBookmarks(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	stop, err := windows.CreateEvent(nil, 1, 0, nil)
	if err != nil {
		return nil, fmt.Errorf("wevtapi: %w", err)
	}
	c := &Collector{cfg: cfg, bookmarks: bm, stop: stop}
	for _, ch := range cfg.Channels {
		s, err := c.subscribe(ch)
		switch {
		case err == nil:
			c.subs = append(c.subs, s)
		case ch.Optional && errors.Is(err, errorEvtChannelNotFound):
			c.notes = append(c.notes, fmt.Sprintf("not read: %s (the channel does not exist here)", ch.Path))
		default:
			c.release()
			return nil, fmt.Errorf("wevtapi: subscribing to %s: %w", ch.Path, err)
		}
	}
	if len(c.subs) == 0 {
		c.release()
		return nil, errors.New("wevtapi: none of the channels exists here")
	}
	return c, nil
}

// subscribe opens ch after its bookmark, or at its new events when none
// was kept. A bookmark whose event the log no longer holds (it wrapped or
// was cleared while the collector was down) restarts at the oldest event
// the log still has, and the gap is counted.
func (c *Collector) subscribe(ch Channel) (*subscription, error) {
	signal, err := windows.CreateEvent(nil, 1, 1, nil)
	if err != nil {
		return nil, err
	}
	s := &subscription{ch: ch, signal: signal, saved: time.Now()}
	xml, lerr := c.bookmarks.Load(ch.Path)
	if lerr != nil {
		c.notes = append(c.notes, lerr.Error()+"; reading new events only")
	}
	if s.bookmark, err = evtCreateBookmark(xml); err != nil && xml != "" {
		c.notes = append(c.notes, fmt.Sprintf("bookmark of %s unusable (%v); reading new events only", ch.Path, err))
		xml = ""
		s.bookmark, err = evtCreateBookmark("")
	}
	if err != nil {
		windows.CloseHandle(signal)
		return nil, err
	}
	flags := uint32(evtSubscribeToFutureEvents)
	if xml != "" {
		flags = evtSubscribeStartAfterBookmark | evtSubscribeStrict
	}
	s.handle, err = evtSubscribe(signal, ch.Path, ch.Query(), s.bookmark, flags)
	if xml != "" && errors.Is(err, errorEvtQueryResultInvalidPos) {
		c.gaps.Add(1)
		s.handle, err = evtSubscribe(signal, ch.Path, ch.Query(), 0, evtSubscribeStartAtOldestRecord)
	}
	if err != nil {
		evtClose(s.bookmark)
		windows.CloseHandle(signal)
		return nil, err
	}
	return s, nil
}

// Run drains every subscription whenever its signal is set, and at least
// every waitSlice, until ctx ends or Close is called.
func (c *Collector) Run(ctx context.Context, emit func([]*event.Event)) error {
	c.mu.Lock()
	if c.closed || c.running {
		c.mu.Unlock()
		return nil
	}
	c.running = true
	subs := c.subs
	c.mu.Unlock()
	defer c.release()

	handles := []windows.Handle{c.stop}
	for _, s := range subs {
		handles = append(handles, s.signal)
	}
	buf := make([]evtHandle, batchSize)
	var text []uint16
	for ctx.Err() == nil {
		for _, s := range subs {
			if err := c.drain(s, buf, &text, emit); err != nil {
				return err
			}
		}
		c.saveBookmarks(false)
		r, err := windows.WaitForMultipleObjects(handles, false, uint32(waitSlice/time.Millisecond))
		if err != nil {
			return fmt.Errorf("wevtapi: waiting for events: %w", err)
		}
		if r == windows.WAIT_OBJECT_0 {
			break // Close
		}
	}
	c.saveBookmarks(true)
	return nil
}

// drain hands over what s has waiting, batch by batch.
func (c *Collector) drain(s *subscription, buf []evtHandle, text *[]uint16, emit func([]*event.Event)) error {
	for {
		n, err := evtNext(s.handle, buf)
		switch {
		case errors.Is(err, errorNoMoreItems), errors.Is(err, errorTimeout):
			windows.ResetEvent(s.signal)
			return nil
		case errors.Is(err, errorEvtQueryResultStale), errors.Is(err, errorInvalidOperation):
			// The log overwrote events the subscription had not read yet:
			// they are lost. Start again after the last one handed over.
			c.stale.Add(1)
			c.lastStale.Store(time.Now().UnixNano())
			if err := c.resubscribe(s); err != nil {
				return err
			}
			continue
		case err != nil:
			return fmt.Errorf("wevtapi: reading %s: %w", s.ch.Path, err)
		}
		var batch []*event.Event
		for _, h := range buf[:n] {
			c.events.Add(1)
			u, rerr := evtRender(h, evtRenderEventXml, text)
			if rerr != nil {
				c.renderFailed.Add(1)
				continue
			}
			evs, derr := c.cfg.Decode([]byte(windows.UTF16ToString(u)))
			if derr != nil {
				c.decodeFailed.Add(1)
				continue
			}
			batch = append(batch, evs...)
		}
		if n > 0 && evtUpdateBookmark(s.bookmark, buf[n-1]) == nil {
			s.dirty = true
		}
		for _, h := range buf[:n] {
			evtClose(h)
		}
		if len(batch) > 0 {
			emit(batch)
		}
		if n < len(buf) {
			return nil
		}
	}
}

// resubscribe reopens s after its bookmark.
func (c *Collector) resubscribe(s *subscription) error {
	evtClose(s.handle)
	h, err := evtSubscribe(s.signal, s.ch.Path, s.ch.Query(), s.bookmark, evtSubscribeStartAfterBookmark)
	if err != nil {
		s.handle = 0
		return fmt.Errorf("wevtapi: resubscribing to %s: %w", s.ch.Path, err)
	}
	s.handle = h
	c.resubscribed.Add(1)
	return nil
}

// saveBookmarks writes the bookmarks that moved, at most once per
// saveEvery unless final.
func (c *Collector) saveBookmarks(final bool) {
	var text []uint16
	for _, s := range c.subs {
		if !s.dirty || !final && time.Since(s.saved) < saveEvery {
			continue
		}
		u, err := evtRender(s.bookmark, evtRenderBookmark, &text)
		if err == nil {
			err = c.bookmarks.Save(s.ch.Path, windows.UTF16ToString(u))
		}
		if err != nil {
			c.saveFailed.Add(1)
			continue
		}
		s.dirty, s.saved = false, time.Now()
		c.saves.Add(1)
	}
}

// Close stops Run; the subscriptions are released when it returns, or
// here when it never ran.
func (c *Collector) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	running := c.running
	c.mu.Unlock()
	windows.SetEvent(c.stop)
	if !running {
		c.release()
	}
	return nil
}

func (c *Collector) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.subs {
		evtClose(s.handle)
		evtClose(s.bookmark)
		windows.CloseHandle(s.signal)
	}
	c.subs = nil
}

// Stats reports what the subscriptions read, lost and failed on.
func (c *Collector) Stats() endpoint.CollectorStats {
	c.mu.Lock()
	notes := append([]string(nil), c.notes...)
	c.mu.Unlock()
	st := endpoint.CollectorStats{
		Dropped:     c.stale.Load(),
		ParseErrors: c.decodeFailed.Load(),
		Errors:      c.renderFailed.Load(),
		Counters: map[string]uint64{
			"wevtapi_events":          c.events.Load(),
			"wevtapi_render_failed":   c.renderFailed.Load(),
			"wevtapi_decode_failed":   c.decodeFailed.Load(),
			"wevtapi_stale":           c.stale.Load(),
			"wevtapi_resubscribed":    c.resubscribed.Load(),
			"wevtapi_bookmark_gaps":   c.gaps.Load(),
			"wevtapi_bookmark_saves":  c.saves.Load(),
			"wevtapi_bookmark_failed": c.saveFailed.Load(),
		},
		Mode:  "Windows Event Log subscriptions",
		Notes: notes,
	}
	if t := c.lastStale.Load(); t != 0 && time.Since(time.Unix(0, t)) < time.Minute {
		st.Degraded = "the event log overwrote events before they were read"
	}
	return st
}

//go:build linux

// Package fanotify is AN0041's live Linux file-event collector: it reports
// files created, moved in or closed after writing anywhere below the
// staging directories, with the writing pid, as normalized events.
//
// It puts one fanotify filesystem mark on each filesystem that holds a
// staging directory (or a mount below one) and asks the kernel for the
// directory file handle and entry name of every event. Directory handles
// are turned into paths with open_by_handle_at and filtered against the
// staging directories; a bounded cache makes that a map lookup for all but
// the first event in a directory. The package needs CAP_SYS_ADMIN (marks)
// and CAP_DAC_READ_SEARCH (open_by_handle_at), in practice root.
package fanotify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/internal/staging"
)

// DefaultDirs is StagingDirectoryList's default.
var DefaultDirs = []string{"/tmp/", "/var/tmp/", "/mnt/", "/dev/shm/"}

// Source is the event.Event.Source of every event from this package.
const Source = "fanotify"

// Options configure a Watcher. Zero values mean the defaults.
type Options struct {
	// Dirs is StagingDirectoryList: absolute directories, watched
	// recursively. Empty means DefaultDirs.
	Dirs []string
	// UnboundedQueue lifts the kernel's limit on queued events
	// (FAN_UNLIMITED_QUEUE). Off by default: the kernel queue then holds
	// fs.fanotify.max_queued_events (16384) events and an overflow is
	// counted in Stats.Overflows. On, nothing is dropped while the reader
	// falls behind, but the backlog costs unbounded kernel memory (about
	// 100 bytes an event) that no watchdog sees.
	UnboundedQueue bool
	// CacheSize bounds the directory-path cache (entries). Default 8192.
	CacheSize int
	// CacheTTL is how long a resolved directory path is trusted. Default 30s.
	CacheTTL time.Duration
	// RecheckInterval is how often staging directories and mounts below
	// them are looked for again, so a directory created or a disk mounted
	// later gets marked. Default 30s; negative disables.
	RecheckInterval time.Duration
	// ReadBufferSize is the size of one read from the fanotify fd, and so
	// bounds a batch. Default 256 KiB.
	ReadBufferSize int
	// Coalesce is how long Run waits after a read that did not fill the
	// buffer, so the next read takes many events at once. Without it a
	// reader that keeps up wakes once per event, and the wake-up, poll and
	// read cost more than the event. It adds no latency to the first event
	// of a quiet period. Default 5ms; negative disables.
	Coalesce time.Duration
	// Lookup, when set, enriches each kept event's pid (exe, argv, uids).
	// It runs on the reading goroutine, so it must be fast: a slow Lookup
	// turns into kernel queue overflows. procfs.Lookup is a ready one.
	Lookup func(pid int64) (event.Process, event.Actor, bool)
}

// Stats are the watcher's counters since New.
type Stats struct {
	EventsRead      uint64 // fanotify events read from the kernel
	Kept            uint64 // event.Events emitted (a merged create+write is two)
	Filtered        uint64 // outside the staging directories, or directory creations
	Self            uint64 // caused by this process
	Overflows       uint64 // kernel queue overflows: events were lost, how many is unknown
	ResolveFailures uint64 // directory handles that could not be turned into a path
	Stale           uint64 // of ResolveFailures, ESTALE: the directory is gone
	Malformed       uint64 // events that did not decode (rest of that read dropped)
	CacheHits       uint64
	CacheMisses     uint64
	CacheFlushes    uint64 // directory renames and overflows invalidate all paths
	Batches         uint64 // emit calls
	TreeTruncated   uint64 // files not reported below a directory moved in (past maxTreeFiles)
	HeadsRead       uint64 // files whose first bytes were read for an archive format or a secret
	LongPaths       uint64 // directories deeper than PATH_MAX resolved by walking up
	HeadsSkipped    uint64 // written files not read for their format or secret (over the budget)
	EstimatedLost   uint64 // events an overflow cost: files changed meanwhile, less those read
	Rescans         uint64 // walks of the staging directories after an overflow
	Rescanned       uint64 // files those walks reported again
	Degraded        string // what an overflow in the last 5 minutes cost; empty when none
	UnboundedQueue  bool
	Marked          []string     // one directory per marked filesystem
	Skipped         []SkippedDir // staging directories or mounts without a mark, as of the last check
}

// Watcher is one fanotify group watching the staging directories.
type Watcher struct {
	opts  Options
	fd    int // the fanotify group
	wake  int // eventfd: cancel and Close wake a Run blocked in poll
	pid   int32
	dirs  []stagingDir   // read and written only by New and Run's goroutine
	roots *staging.Roots // the matcher of dirs as the kernel spells them; likewise
	// views are the bind mounts of subtrees below staging directories
	// (likewise); viewsChanged says cached verdicts predate them.
	views        []bindView
	viewsChanged bool

	mu          sync.Mutex
	filesystems map[[fsidLen]byte]*markedFS
	marked      []string
	skipped     []SkippedDir

	// life guards the fds: Close waits for a running Run before closing
	// them, so Run never uses a recycled fd number.
	life    sync.Mutex
	running bool
	closed  bool
	runDone chan struct{}
	cache   *dirCache                       // Run's goroutine only
	linkBuf []byte                          // Run's goroutine only
	headBuf [staging.ContentSniffBytes]byte // Run's goroutine only: the start of a file just written

	// drainedAt is the wall time (ns) at which the last read that emptied
	// the kernel queue started, stored after its events were emitted; idle
	// is odd while Run waits in poll with the queue found empty. Together
	// they let CaughtUp say up to when every event has been emitted.
	drainedAt atomic.Int64
	idle      atomic.Uint64

	eventsRead, kept, filtered, self, overflows atomic.Uint64
	resolveFailures, stale, malformed           atomic.Uint64
	cacheHits, cacheMisses, cacheFlushes, batch atomic.Uint64
	treeTruncated, headsRead, longPaths         atomic.Uint64
	estimatedLost, rescans, rescanned           atomic.Uint64
	headsSkipped                                atomic.Uint64
	lastOverflow                                atomic.Int64 // unix ns

	overflow overflowState // Run's goroutine only
	// sniff budgets the reads of written files' first bytes: under a flood
	// they would cost more than the events themselves.
	sniffTokens float64
	sniffAt     time.Time
}

// New creates the fanotify group and marks the staging filesystems.
// Directories that do not exist or cannot be marked are reported in
// Stats().Skipped, not as an error; an error means fanotify itself is
// unavailable.
func New(opts Options) (*Watcher, error) {
	if len(opts.Dirs) == 0 {
		opts.Dirs = DefaultDirs
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 8192
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = 30 * time.Second
	}
	if opts.RecheckInterval == 0 {
		opts.RecheckInterval = 30 * time.Second
	}
	if opts.Coalesce == 0 {
		opts.Coalesce = 5 * time.Millisecond
	}
	if opts.ReadBufferSize <= 0 {
		opts.ReadBufferSize = 256 << 10
	}
	if opts.ReadBufferSize < 4096 {
		// One event with two handles and two names can exceed 1 KiB; a
		// smaller buffer makes read fail with EINVAL.
		opts.ReadBufferSize = 4096
	}
	dirs, err := newStagingDirs(opts.Dirs)
	if err != nil {
		return nil, err
	}
	roots, err := stagingRoots(dirs)
	if err != nil {
		return nil, err
	}

	// Notification class: nothing waits on us. DFID_NAME reporting gives the
	// parent directory's handle and the entry name, which is all a path
	// needs, with no fd per event (FID mode) and so no fd exhaustion. Not
	// FAN_REPORT_FID too: the child's own handle would add ~40 bytes an
	// event for nothing we use. Not FAN_REPORT_TID: staging is attributed
	// to processes. Not FAN_REPORT_PIDFD: it costs a pidfd created and
	// closed per event, and a writer like cp has exited by the time anyone
	// could use it; pid reuse within the event's lifetime is left to the
	// process table, which sees execs and exits.
	flags := uint(unix.FAN_CLASS_NOTIF | unix.FAN_CLOEXEC | unix.FAN_NONBLOCK | unix.FAN_REPORT_DFID_NAME)
	if opts.UnboundedQueue {
		flags |= unix.FAN_UNLIMITED_QUEUE
	}
	fd, err := unix.FanotifyInit(flags, unix.O_RDONLY|unix.O_LARGEFILE|unix.O_CLOEXEC)
	switch {
	case errors.Is(err, unix.EPERM):
		return nil, errors.New("fanotify: fanotify_init needs CAP_SYS_ADMIN (run as root)")
	case errors.Is(err, unix.EINVAL):
		return nil, errors.New("fanotify: kernel does not support directory-fid+name reporting (needs Linux 5.9, FAN_RENAME 5.17)")
	case err != nil:
		return nil, fmt.Errorf("fanotify: fanotify_init: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("fanotify: eventfd: %w", err)
	}
	w := &Watcher{
		opts:        opts,
		fd:          fd,
		wake:        wake,
		runDone:     make(chan struct{}),
		pid:         int32(os.Getpid()),
		dirs:        dirs,
		roots:       roots,
		filesystems: make(map[[fsidLen]byte]*markedFS),
		cache:       newDirCache(opts.CacheSize, int64(opts.CacheTTL)),
		linkBuf:     make([]byte, unix.PathMax*2),
	}
	w.setSkipped(w.markAll())
	return w, nil
}

// Close releases the fanotify group. It is safe to call while Run runs
// (Run then returns nil, and Close waits for it) and more than once.
func (w *Watcher) Close() error {
	w.life.Lock()
	if w.closed {
		w.life.Unlock()
		return nil
	}
	w.closed = true
	running := w.running
	w.life.Unlock()
	if running {
		w.wakeUp()
		<-w.runDone
	}
	return errors.Join(unix.Close(w.fd), unix.Close(w.wake))
}

// wakeUp makes a poll in Run return. The eventfd counter saturates long
// after any number of wake-ups that matter, and Run only checks state.
func (w *Watcher) wakeUp() {
	var one [8]byte
	native.PutUint64(one[:], 1)
	_, _ = unix.Write(w.wake, one[:])
}

// Stats returns a snapshot of the counters. Safe to call from any goroutine.
func (w *Watcher) Stats() Stats {
	w.mu.Lock()
	marked := append([]string(nil), w.marked...)
	skipped := append([]SkippedDir(nil), w.skipped...)
	w.mu.Unlock()
	return Stats{
		EventsRead:      w.eventsRead.Load(),
		Kept:            w.kept.Load(),
		Filtered:        w.filtered.Load(),
		Self:            w.self.Load(),
		Overflows:       w.overflows.Load(),
		ResolveFailures: w.resolveFailures.Load(),
		Stale:           w.stale.Load(),
		Malformed:       w.malformed.Load(),
		CacheHits:       w.cacheHits.Load(),
		CacheMisses:     w.cacheMisses.Load(),
		CacheFlushes:    w.cacheFlushes.Load(),
		TreeTruncated:   w.treeTruncated.Load(),
		HeadsRead:       w.headsRead.Load(),
		LongPaths:       w.longPaths.Load(),
		HeadsSkipped:    w.headsSkipped.Load(),
		EstimatedLost:   w.estimatedLost.Load(),
		Rescans:         w.rescans.Load(),
		Rescanned:       w.rescanned.Load(),
		Degraded:        w.degraded(time.Now()),
		Batches:         w.batch.Load(),
		UnboundedQueue:  w.opts.UnboundedQueue,
		Marked:          marked,
		Skipped:         skipped,
	}
}

func (w *Watcher) setSkipped(s []SkippedDir) {
	w.mu.Lock()
	w.skipped = s
	w.mu.Unlock()
}

// Run reads events until ctx is cancelled or Close is called, and then
// returns nil; any other return is a read failure. emit receives batches
// of at most one read's worth of events; it owns the slice and the events.
// emit runs on Run's goroutine: while it blocks, nothing is read and the
// kernel queue fills. Run may be called once.
//
// Run waits in poll(2) on its own rather than in the Go runtime's poller:
// the runtime's edge-triggered epoll would wake for every event queued
// while Run deliberately waits (see Options.Coalesce), and those wake-ups
// cost more CPU than the events.
func (w *Watcher) Run(ctx context.Context, emit func([]*event.Event)) error {
	w.life.Lock()
	switch {
	case w.closed:
		w.life.Unlock()
		return nil
	case w.running:
		w.life.Unlock()
		return errors.New("fanotify: Run called twice")
	}
	w.running = true
	w.life.Unlock()
	defer close(w.runDone)

	stop := context.AfterFunc(ctx, w.wakeUp)
	defer stop()

	buf := make([]byte, w.opts.ReadBufferSize)
	var pause *time.Timer
	if w.opts.Coalesce > 0 {
		pause = time.NewTimer(w.opts.Coalesce)
		defer pause.Stop()
	}
	var nextCheck time.Time
	if w.opts.RecheckInterval > 0 {
		nextCheck = time.Now().Add(w.opts.RecheckInterval)
	}
	fds := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}, {Fd: int32(w.wake), Events: unix.POLLIN}}
	for {
		if ctx.Err() != nil || w.isClosed() {
			return nil
		}
		started := time.Now()
		n, err := unix.Read(w.fd, buf)
		switch {
		case err == unix.EAGAIN:
			if w.overflow.pending {
				// The queue has drained after an overflow: look again at
				// what it may have lost.
				w.rescan(emit)
			}
			w.drainedAt.Store(started.UnixNano())
			timeout := -1
			if !nextCheck.IsZero() {
				timeout = max(0, int(time.Until(nextCheck).Milliseconds())+1)
			}
			w.idle.Add(1)
			_, err := unix.Poll(fds, timeout)
			w.idle.Add(1)
			if err != nil && err != unix.EINTR {
				return fmt.Errorf("fanotify: poll: %w", err)
			}
			if fds[1].Revents != 0 {
				var drain [8]byte
				_, _ = unix.Read(w.wake, drain[:])
			}
			if !nextCheck.IsZero() && !time.Now().Before(nextCheck) {
				w.recheck()
				nextCheck = time.Now().Add(w.opts.RecheckInterval)
			}
			continue
		case err == unix.EINTR:
			continue
		case err != nil:
			return fmt.Errorf("fanotify: read: %w", err)
		}
		if batch := w.decode(buf[:n], time.Now()); len(batch) > 0 {
			if !w.overflow.pending {
				w.overflow.lastEvent, w.overflow.readSince = batch[len(batch)-1].Time, 0
			}
			w.batch.Add(1)
			emit(batch)
		}
		if n+maxEventSize <= len(buf) {
			// The read stopped short of the buffer with room for any
			// event, so it took everything queued when it started.
			w.drainedAt.Store(started.UnixNano())
		}
		if pause != nil && n < len(buf)/2 {
			pause.Reset(w.opts.Coalesce)
			select {
			case <-ctx.Done():
				return nil
			case <-pause.C:
			}
		}
	}
}

// CaughtUp returns a time before which every file event the kernel queued
// has been read and handed to emit. While Run waits for events it checks
// the queue itself, so an idle watcher is caught up to now; a busy or
// lagging one, to the start of its last read that emptied the queue. The
// zero time means nothing has been read yet. Safe from any goroutine.
func (w *Watcher) CaughtUp() time.Time {
	drained := w.drainedAt.Load()
	if phase := w.idle.Load(); phase%2 == 1 {
		// The life lock keeps Close from closing the fd under the poll.
		w.life.Lock()
		now := time.Now()
		var n int
		var err error = unix.EBADF
		if !w.closed {
			n, err = unix.Poll([]unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}}, 0)
		}
		w.life.Unlock()
		// Run did not leave its poll meanwhile (the phase is unchanged),
		// so nothing was read: an empty queue now means nothing unread.
		if err == nil && n == 0 && w.idle.Load() == phase {
			return now
		}
	}
	if drained == 0 {
		return time.Time{}
	}
	return time.Unix(0, drained)
}

// maxEventSize bounds one fanotify event with a directory fid and a name:
// metadata, info header, a file handle (MAX_HANDLE_SZ 128) and NAME_MAX+1.
const maxEventSize = 24 + 4 + 8 + 128 + 256 + 8

func (w *Watcher) isClosed() bool {
	w.life.Lock()
	defer w.life.Unlock()
	return w.closed
}

// recheck marks staging directories and mounts that appeared since the last
// look.
func (w *Watcher) recheck() {
	before := make([]string, len(w.dirs))
	for i := range w.dirs {
		before[i] = w.dirs[i].canonical()
	}
	w.setSkipped(w.markAll())
	if w.viewsChanged {
		w.viewsChanged = false
		w.flushCache()
	}
	for i := range w.dirs {
		if w.dirs[i].canonical() != before[i] {
			// A staging directory now resolves elsewhere: cached verdicts
			// were made against the old spelling.
			if roots, err := stagingRoots(w.dirs); err == nil {
				w.roots = roots
			}
			w.flushCache()
			break
		}
	}
}

func (w *Watcher) flushCache() {
	w.cache.flush()
	w.cacheFlushes.Add(1)
}

// decode turns one read's worth of fanotify events into kept events.
func (w *Watcher) decode(buf []byte, now time.Time) []*event.Event {
	mono := now.UnixNano()
	var batch []*event.Event
	for len(buf) > 0 {
		ev, rest, err := nextEvent(buf)
		if err != nil {
			w.malformed.Add(1)
			break
		}
		buf = rest
		w.eventsRead.Add(1)
		w.overflow.readSince++
		switch {
		case ev.mask&unix.FAN_Q_OVERFLOW != 0:
			w.overflows.Add(1)
			w.overflowed(now)
			// Renames may be among the lost events.
			w.flushCache()
		case ev.pid == w.pid:
			w.self.Add(1)
		case ev.mask&unix.FAN_RENAME != 0:
			batch = w.renamed(batch, ev, now, mono)
			if ev.mask&unix.FAN_ONDIR != 0 {
				// Every path cached below the renamed directory is wrong now.
				w.flushCache()
			}
		case ev.mask&unix.FAN_DELETE != 0:
			batch = w.deleted(batch, ev, now, mono)
		case ev.mask&unix.FAN_ONDIR != 0:
			// mkdir: the files that follow are what staging is about.
			w.filtered.Add(1)
		case ev.mask&(unix.FAN_CREATE|unix.FAN_CLOSE_WRITE) != 0:
			batch = w.written(batch, ev, now, mono)
		default:
			w.filtered.Add(1)
		}
	}
	return batch
}

// written handles a create and/or close-after-write: the kernel merges the
// two into one event when the first is still queued.
func (w *Watcher) written(batch []*event.Event, ev rawEvent, now time.Time, mono int64) []*event.Event {
	if !ev.dir.present() || ev.dir.name == nil {
		w.malformed.Add(1)
		return batch
	}
	path, ok := w.stagingPath(ev.dir, mono)
	if !ok {
		return batch
	}
	size, when := statOf(path, now)
	proc, actor := w.lookup(ev.pid)
	if ev.mask&unix.FAN_CREATE != 0 {
		batch = append(batch, w.newEvent(event.KindFileCreate, path, "", size, proc, actor, when))
	}
	if ev.mask&unix.FAN_CLOSE_WRITE != 0 {
		written := w.newEvent(event.KindFileWrite, path, "", size, proc, actor, when)
		if size >= 2 && w.sniffAllowed(now) {
			written.ArchiveFormat, written.Secret = w.sniff(path)
		}
		batch = append(batch, written)
	}
	return batch
}

// Reading written files' first bytes costs four system calls, more than
// the event itself: at most sniffRate a second (bursts of sniffRate), the
// rest counted as skipped. A flood then costs what it did without them;
// an archive's or a key's name still makes it one.
const sniffRate = 2000

func (w *Watcher) sniffAllowed(now time.Time) bool {
	if !w.sniffAt.IsZero() {
		w.sniffTokens = min(sniffRate, w.sniffTokens+now.Sub(w.sniffAt).Seconds()*sniffRate)
	} else {
		w.sniffTokens = sniffRate
	}
	w.sniffAt = now
	if w.sniffTokens < 1 {
		w.headsSkipped.Add(1)
		return false
	}
	w.sniffTokens--
	return true
}

// sniff reads the start of a file just written and says which archive
// format or secret it shows, if any: an archive named .dat by a renamed
// archiver or a script is still an archive, and a private key copied as
// notes.txt is still a key. Links are not followed and only regular files
// are read.
func (w *Watcher) sniff(path string) (archive, secret string) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOATIME, 0)
	if errors.Is(err, unix.EPERM) {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return "", ""
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return "", ""
	}
	n, err := unix.Read(fd, w.headBuf[:])
	if err != nil || n <= 0 {
		return "", ""
	}
	w.headsRead.Add(1)
	head := w.headBuf[:n]
	if archive = staging.ArchiveFormat(head); archive != "" {
		return archive, ""
	}
	return "", staging.SecretFormat(head)
}

// renamed handles FAN_RENAME: a file or directory moved or renamed into a
// staging directory is a move-in, with where it came from when that
// resolves; one moved out of a staging directory to a place that is not
// one is a move-out (its files are in no archive made there after).
func (w *Watcher) renamed(batch []*event.Event, ev rawEvent, now time.Time, mono int64) []*event.Event {
	var source string
	oldStaging := false
	if ev.old.present() && ev.old.name != nil {
		if oldDir, staging, ok := w.resolve(ev.old, mono); ok {
			source, oldStaging = joinName(oldDir, ev.old.name), staging
		}
	}
	var path string
	newStaging := false
	if ev.dir.present() && ev.dir.name != nil {
		if dir, staging, ok := w.resolve(ev.dir, mono); ok {
			path, newStaging = joinName(dir, ev.dir.name), staging
		}
	}
	// The new side is missing when the new directory is on no marked
	// filesystem: still a move out when the old one was staging.
	if !newStaging {
		if !oldStaging {
			w.filtered.Add(1)
			return batch
		}
		proc, actor := w.lookup(ev.pid)
		out := w.newEvent(event.KindFileMoveOut, source, "", event.Unknown, proc, actor, now)
		out.Dir = ev.mask&unix.FAN_ONDIR != 0
		return append(batch, out)
	}
	if !oldStaging && !strings.HasPrefix(source, "/") {
		source = ""
	}
	proc, actor := w.lookup(ev.pid)
	if ev.mask&unix.FAN_ONDIR != 0 {
		return w.movedTree(batch, path, source, proc, actor, now)
	}
	size, when := statOf(path, now)
	return append(batch, w.newEvent(event.KindFileMoveIn, path, source, size, proc, actor, when))
}

// deleted handles FAN_DELETE of a file (or an empty directory) in a
// staging directory.
func (w *Watcher) deleted(batch []*event.Event, ev rawEvent, now time.Time, mono int64) []*event.Event {
	if !ev.dir.present() || ev.dir.name == nil {
		w.malformed.Add(1)
		return batch
	}
	path, ok := w.stagingPath(ev.dir, mono)
	if !ok {
		return batch
	}
	proc, actor := w.lookup(ev.pid)
	out := w.newEvent(event.KindFileDelete, path, "", event.Unknown, proc, actor, now)
	out.Dir = ev.mask&unix.FAN_ONDIR != 0
	return append(batch, out)
}

// movedTree turns a directory moved into staging (`mv ~/Documents
// /tmp/x`) into a move-in per file below it: the kernel reports one rename,
// but what was staged is the files. The walk is bounded; files past the
// bound are counted in Stats().TreeTruncated, not reported.
func (w *Watcher) movedTree(batch []*event.Event, path, source string, proc event.Process, actor event.Actor, now time.Time) []*event.Event {
	seen := 0
	_ = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if seen >= maxTreeFiles {
			w.treeTruncated.Add(1)
			return nil
		}
		seen++
		from := ""
		if source != "" {
			from = source + p[len(path):]
		}
		size, when := statOf(p, now)
		batch = append(batch, w.newEvent(event.KindFileMoveIn, p, from, size, proc, actor, when))
		return nil
	})
	return batch
}

// maxTreeFiles bounds the files reported for one directory moved in.
const maxTreeFiles = 10000

func (w *Watcher) newEvent(kind event.Kind, path, source string, size int64, proc event.Process, actor event.Actor, now time.Time) *event.Event {
	w.kept.Add(1)
	return &event.Event{
		Time:       now,
		Kind:       kind,
		Actor:      actor,
		Process:    proc,
		Path:       path,
		SourcePath: source,
		Size:       size,
		Source:     Source,
	}
}

func (w *Watcher) lookup(pid int32) (event.Process, event.Actor) {
	proc := event.Process{PID: int64(pid), PPID: event.Unknown}
	actor := event.Actor{UID: event.Unknown, EUID: event.Unknown, AUID: event.Unknown}
	if w.opts.Lookup != nil {
		if p, a, ok := w.opts.Lookup(int64(pid)); ok {
			p.PID = int64(pid)
			return p, a
		}
	}
	return proc, actor
}

// stagingPath is the path of the entry f names when its directory is in
// staging; an entry elsewhere is counted as filtered.
func (w *Watcher) stagingPath(f fidName, mono int64) (string, bool) {
	dir, staging, ok := w.resolve(f, mono)
	if !ok {
		return "", false
	}
	if !staging {
		w.filtered.Add(1)
		return "", false
	}
	return joinName(dir, f.name), true
}

// resolve turns a directory handle into its path and staging verdict.
// Failures are counted; the caller drops the event.
func (w *Watcher) resolve(f fidName, mono int64) (path string, staging, ok bool) {
	if e := w.cache.get(f.key, mono); e != nil {
		w.cacheHits.Add(1)
		return e.path, e.staging, true
	}
	w.cacheMisses.Add(1)
	path, err := w.openHandle(f)
	if err != nil {
		w.resolveFailures.Add(1)
		if errors.Is(err, unix.ESTALE) {
			w.stale.Add(1)
		}
		return "", false, false
	}
	// A path that does not start with "/" is outside this process's view
	// (another mount namespace, a detached mount): never staging here.
	staging = strings.HasPrefix(path, "/") && w.roots.Contains(path)
	if !staging {
		// Written through a bind mount below a staging directory, the
		// file resolves to where it lives: staging by the mount's name.
		if alt, ok := throughBind(w.views, path); ok && w.roots.Contains(alt) {
			path, staging = alt, true
		}
	}
	w.cache.put(f.key, path, staging, mono)
	return path, staging, true
}

// openHandle opens a directory handle with open_by_handle_at and reads its
// path back from /proc/self/fd.
func (w *Watcher) openHandle(f fidName) (string, error) {
	w.mu.Lock()
	fs := w.filesystems[f.fsid]
	w.mu.Unlock()
	if fs == nil {
		return "", errors.New("event from a filesystem that is not marked")
	}
	// Not O_PATH: open_by_handle_at refuses an O_PATH mount fd (EBADF).
	mountFD, err := unix.Open(fs.root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	defer unix.Close(mountFD)
	// The marked directory may since have been unmounted or replaced; a
	// handle decoded on the wrong filesystem could name an unrelated inode.
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(mountFD, &sfs); err != nil {
		return "", err
	}
	if fsidBytes(sfs.Fsid) != f.fsid {
		return "", unix.ESTALE
	}
	fd, err := unix.OpenByHandleAt(mountFD, unix.NewFileHandle(f.handleType, f.handle), unix.O_PATH|unix.O_CLOEXEC)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	path, err := w.fdPath(fd)
	if errors.Is(err, unix.ENAMETOOLONG) {
		// Deeper than PATH_MAX, made on purpose to hide: walk up.
		if path, err = w.longPath(fd); err == nil {
			w.longPaths.Add(1)
		}
	}
	if err != nil {
		return "", err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err == nil && st.Nlink == 0 {
		// Removed since the event: the kernel appends " (deleted)". Only
		// an unlinked directory has that suffix added, so strip it.
		path = strings.TrimSuffix(path, " (deleted)")
	}
	return path, nil
}

// joinName appends a directory entry name; "." is the directory itself.
func joinName(dir string, name []byte) string {
	switch {
	case len(name) == 1 && name[0] == '.':
		return dir
	case dir == "/":
		return "/" + string(name)
	}
	return dir + "/" + string(name)
}

// statOf gives the size after the fact (the file may have grown, shrunk or
// gone since the event) and the best time for the event. fanotify carries no
// timestamp, so an event is stamped when it is read, which is a little after
// it happened and never before: the pipeline relies on that to put a file
// event after the exec of the process that wrote it. A reader that lags
// behind a burst, though, would stamp a file staged before an archiver
// started with a time after the archiver. So when the inode's change time
// (set by the kernel at the create, write or rename) is well behind the
// read, the event takes the change time instead, plus the granularity of
// the kernel's coarse clock that set it. A later change can only move the
// change time forward, never before the event.
func statOf(path string, read time.Time) (int64, time.Time) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return event.Unknown, read
	}
	when := read
	if lag := read.Sub(time.Unix(st.Ctim.Unix())); lag > lagCorrected && lag < maxLag {
		when = read.Add(-lag + coarseClock)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return event.Unknown, when
	}
	return st.Size, when
}

// A read lagging the change time by more than lagCorrected is corrected;
// one lagging by maxLag or more is not believed (the file changed again
// much later, or the clock stepped). coarseClock covers the kernel's
// coarse timestamps, which trail the exact clock by up to one tick.
const (
	lagCorrected = 100 * time.Millisecond
	maxLag       = 10 * time.Second
	coarseClock  = 10 * time.Millisecond
)

// fdPath is the path the kernel gives an open file.
func (w *Watcher) fdPath(fd int) (string, error) {
	n, err := unix.Readlink("/proc/self/fd/"+strconv.Itoa(fd), w.linkBuf)
	if err != nil {
		return "", err
	}
	if n >= len(w.linkBuf) {
		return "", unix.ENAMETOOLONG
	}
	return string(w.linkBuf[:n]), nil
}

// maxLongPathDepth bounds the walk up from a directory whose path the
// kernel will not give (longer than PATH_MAX).
const maxLongPathDepth = 4096

// longPath finds the path of the directory open as fd when it is longer
// than PATH_MAX: it walks up through "..", naming each directory by the
// parent's entry with its inode, until the rest of the path is short
// enough for the kernel to give.
func (w *Watcher) longPath(fd int) (string, error) {
	cur, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	defer func() { unix.Close(cur) }()
	var names []string
	for range maxLongPathDepth {
		var st unix.Stat_t
		if err := unix.Fstat(cur, &st); err != nil {
			return "", err
		}
		parent, err := unix.Openat(cur, "..", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return "", err
		}
		name, err := entryNamed(parent, st.Ino)
		unix.Close(cur)
		cur = parent
		if err != nil {
			return "", err
		}
		names = append(names, name)
		if prefix, err := w.fdPath(cur); err == nil {
			var b strings.Builder
			b.WriteString(strings.TrimSuffix(prefix, "/"))
			for i := len(names) - 1; i >= 0; i-- {
				b.WriteByte('/')
				b.WriteString(names[i])
			}
			return b.String(), nil
		} else if !errors.Is(err, unix.ENAMETOOLONG) {
			return "", err
		}
	}
	return "", unix.ENAMETOOLONG
}

// entryNamed returns the name of the entry of the directory dirfd whose
// inode is ino.
func entryNamed(dirfd int, ino uint64) (string, error) {
	buf := make([]byte, 32<<10)
	for {
		n, err := unix.Getdents(dirfd, buf)
		if err != nil {
			return "", err
		}
		if n <= 0 {
			return "", fmt.Errorf("no entry with inode %d in its parent (a mount point?)", ino)
		}
		for off := 0; off+19 <= n; {
			// struct linux_dirent64: d_ino u64, d_off s64, d_reclen u16, d_type u8, d_name.
			entIno := native.Uint64(buf[off:])
			reclen := int(native.Uint16(buf[off+16:]))
			if reclen < 19 || off+reclen > n {
				return "", errors.New("malformed directory entries")
			}
			if entIno == ino {
				name := buf[off+19 : off+reclen]
				if i := bytes.IndexByte(name, 0); i >= 0 {
					name = name[:i]
				}
				if s := string(name); s != "." && s != ".." {
					return s, nil
				}
			}
			off += reclen
		}
	}
}

//go:build linux

package fanotify

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stagewatch/stagewatch/internal/event"
)

// RescanSource is the event.Event.Source of files found by the rescan
// after a kernel queue overflow rather than read from the queue.
const RescanSource = "fanotify-rescan"

// After an overflow the kernel has dropped events, how many it does not
// say. Once the queue has drained, the watcher walks the staging
// directories for files changed since the last event it read before the
// overflow and reports them again, newest first, so that files still there
// are counted; the difference between what changed and what the queue
// delivered over that time is the loss it reports, an estimate.
const (
	rescanMaxFiles   = 10000  // files reported again, newest first
	rescanMaxEntries = 500000 // directory entries looked at
	rescanMaxAge     = 30 * time.Minute
	degradedFor      = 5 * time.Minute // health says degraded this long after an overflow
)

// overflowState is what an overflow left to do, on Run's goroutine.
type overflowState struct {
	pending    bool      // a rescan is due once the queue has drained
	since      time.Time // the last event read before the overflow
	readSince  uint64    // kernel events read since the batch that event ended, or since the overflow
	lastEvent  time.Time // time of the newest event emitted
	lastAt     time.Time // when the last overflow happened (for health)
	lastCount  uint64    // files the last rescan reported again
	lastWalked uint64
}

// overflowed notes an overflow: a rescan follows when the queue is empty.
func (w *Watcher) overflowed(now time.Time) {
	o := &w.overflow
	if !o.pending {
		// readSince already counts the events read since the last batch
		// emitted, the one lastEvent ends: those came through.
		o.pending = true
		o.since = o.lastEvent
		if o.since.IsZero() || now.Sub(o.since) > rescanMaxAge {
			o.since = now.Add(-rescanMaxAge)
		}
	}
	w.lastOverflow.Store(now.UnixNano())
}

// rescan reports the files in the staging directories changed since the
// overflow, newest first, bounded, and adds the estimated loss.
func (w *Watcher) rescan(emit func([]*event.Event)) {
	o := &w.overflow
	o.pending = false
	defer func() { o.readSince = 0 }()
	type found struct {
		path  string
		ctime time.Time
		size  int64
		uid   uint32
	}
	var files []found
	var walked uint64
	roots := make([]string, 0, len(w.dirs))
	for i := range w.dirs {
		roots = append(roots, w.dirs[i].canonicalBase)
	}
	for _, root := range roots {
		_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			walked++
			if walked > rescanMaxEntries {
				return filepath.SkipAll
			}
			if !d.Type().IsRegular() || !w.roots.Contains(path) {
				return nil
			}
			var st unix.Stat_t
			if unix.Lstat(path, &st) != nil {
				return nil
			}
			ctime := time.Unix(st.Ctim.Unix())
			if ctime.Before(o.since) {
				return nil
			}
			files = append(files, found{path: path, ctime: ctime, size: st.Size, uid: st.Uid})
			return nil
		})
	}
	changed := uint64(len(files))
	sort.Slice(files, func(i, j int) bool { return files[i].ctime.After(files[j].ctime) })
	if len(files) > rescanMaxFiles {
		files = files[:rescanMaxFiles]
	}
	batch := make([]*event.Event, 0, len(files))
	for i := len(files) - 1; i >= 0; i-- {
		f := files[i]
		// The writer is gone; the file's owner is who wrote it.
		actor := event.Actor{UID: int64(f.uid), EUID: int64(f.uid), AUID: event.Unknown}
		ev := w.newEvent(event.KindFileCreate, f.path, "", f.size, event.Process{PID: event.Unknown, PPID: event.Unknown}, actor, f.ctime)
		ev.Source, ev.Recovered = RescanSource, true
		batch = append(batch, ev)
	}
	if changed > o.readSince {
		w.estimatedLost.Add(changed - o.readSince)
	}
	w.rescans.Add(1)
	w.rescanned.Add(uint64(len(batch)))
	o.lastCount, o.lastWalked = uint64(len(batch)), walked
	if len(batch) > 0 {
		w.batch.Add(1)
		emit(batch)
	}
}

// degraded says, for health, what an overflow in the last degradedFor
// cost; empty when there was none.
func (w *Watcher) degraded(now time.Time) string {
	at := w.lastOverflow.Load()
	if at == 0 || now.Sub(time.Unix(0, at)) > degradedFor {
		return ""
	}
	return fmt.Sprintf("file events lost to a kernel queue overflow %s ago (estimated %d lost in all); staging directories rescanned %d times",
		now.Sub(time.Unix(0, at)).Round(time.Second), w.estimatedLost.Load(), w.rescans.Load())
}

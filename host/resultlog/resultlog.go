// Package resultlog is the osquery result log file of `stagewatchd run`:
// appended whole lines that a crash, a full disk or a rotation never tears
// or loses.
//
//   - Each Write is one write(2) on an O_APPEND descriptor (os.File retries
//     a short write), with no buffer in the process that a kill -9 could
//     leave half-flushed.
//   - A file that does not end in a newline (a write cut short by a full
//     disk, or a crash mid-write in an earlier run) gets one before the next
//     lines, so they never glue onto a torn one.
//   - Before each write the path is checked against the open file (device
//     and inode): when logrotate has renamed or removed it ("create" mode),
//     the path is opened again. In "copytruncate" mode the file is truncated
//     in place and O_APPEND puts the next write at its new end; no offset or
//     size is cached.
//   - Reopen (SIGHUP) opens the path again at once.
//   - With Options.MaxSize the log rotates itself: log → log.1 → log.2 …,
//     never splitting a write, so each file ends on a whole line.
//
// Every open, the first and each reopen, makes the same checks: the
// directory is the process's own (safepath.OwnDir), the file is not
// followed through a link, and it is a regular file owned by root or by
// this process's user.
package resultlog

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/stagewatch/stagewatch/internal/safepath"
)

// DefaultMaxFiles is how many rotated files are kept when Options.MaxFiles
// is 0.
const DefaultMaxFiles = 5

// Options configure a Log.
type Options struct {
	// MaxSize, when positive, is the size in bytes a write may not take the
	// log past: the log is rotated first. A write larger than MaxSize on
	// its own goes whole into a fresh file. 0: no cap.
	MaxSize int64
	// MaxFiles is how many rotated files (log.1 … log.N) are kept with a
	// cap; the oldest is removed. 0 means DefaultMaxFiles.
	MaxFiles int
	// Logger receives what goes wrong without failing a write (a rotation
	// that could not rename). Default: discarded.
	Logger *slog.Logger
}

// ErrClosed is returned by a Write after Close.
var ErrClosed = errors.New("results log: closed")

// Log is an open result log. It is safe for concurrent use.
type Log struct {
	path string
	opts Options

	mu     sync.Mutex
	f      *os.File
	info   fs.FileInfo // of f when opened: what the path must still name
	closed bool
}

// Open opens (creating when missing) the result log at path for appending.
// Its directory is created 0750 when missing.
func Open(path string, opts Options) (*Log, error) {
	if opts.MaxFiles <= 0 {
		opts.MaxFiles = DefaultMaxFiles
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Log{path: path, opts: opts}
	f, info, err := openChecked(path)
	if err != nil {
		return nil, err
	}
	l.f, l.info = f, info
	return l, nil
}

// Path is the log's path.
func (l *Log) Path() string { return l.path }

// openChecked opens path for appending after checking its directory, and
// checks what it opened.
func openChecked(path string) (*os.File, fs.FileInfo, error) {
	if err := safepath.OwnDir(filepath.Dir(path), 0o750); err != nil {
		return nil, nil, fmt.Errorf("results log %s: its directory %w", path, err)
	}
	// Read as well as append: the last byte says whether the file ends on
	// a whole line.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE|noFollow, 0o640)
	if err != nil {
		return nil, nil, fmt.Errorf("results log: %w", err)
	}
	info, err := f.Stat()
	if err == nil && !info.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file", path)
	}
	if err == nil {
		err = safepath.OwnedFile(path, info)
	}
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("results log: %w", err)
	}
	return f, info, nil
}

// Write appends p, which should be whole lines, in one write(2). It
// returns len(p) and nil, or an error after which the next Write starts
// on a fresh line whatever part of p reached the file.
func (l *Log) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	if err := l.follow(); err != nil {
		return 0, err
	}
	size, torn := l.tail()
	if l.opts.MaxSize > 0 && size > 0 && size+int64(len(p)) > l.opts.MaxSize {
		if err := l.rotate(torn); err != nil {
			return 0, err
		}
		_, torn = l.tail()
	}
	buf := p
	if torn {
		buf = make([]byte, 0, len(p)+1)
		buf = append(append(buf, '\n'), p...)
	}
	n, err := l.f.Write(buf)
	if err != nil {
		if torn {
			n = max(0, n-1)
		}
		return n, fmt.Errorf("results log: %w", err)
	}
	return len(p), nil
}

// follow makes sure l.f is the file the path names: after a rename or a
// removal (logrotate's create mode), or a failed reopen, it opens the
// path again. An error leaves l.f as it was.
func (l *Log) follow() error {
	if l.f != nil {
		info, err := os.Lstat(l.path)
		if err == nil && os.SameFile(info, l.info) {
			return nil
		}
	}
	return l.reopen()
}

// tail returns the file's size and whether it ends other than on a newline.
func (l *Log) tail() (size int64, torn bool) {
	info, err := l.f.Stat()
	if err != nil {
		// Cannot tell: a newline first costs at most an empty line.
		return 0, true
	}
	size = info.Size()
	if size == 0 {
		return 0, false
	}
	var last [1]byte
	if _, err := l.f.ReadAt(last[:], size-1); err != nil {
		if errors.Is(err, io.EOF) {
			return 0, false // truncated meanwhile (copytruncate)
		}
		return size, true
	}
	return size, last[0] != '\n'
}

// reopen opens the path again and, when that succeeds, closes the old file.
func (l *Log) reopen() error {
	f, info, err := openChecked(l.path)
	if err != nil {
		return err
	}
	if l.f != nil {
		l.f.Close()
	}
	l.f, l.info = f, info
	return nil
}

// Reopen closes the file and opens the path again, as after a rotation by
// another program (SIGHUP). When the path cannot be opened the old file
// stays open and the error says why.
func (l *Log) Reopen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	return l.reopen()
}

// rotate renames log.N-1 → log.N … log → log.1 (removing the oldest) and
// opens a fresh log. A file that ends torn is ended with a newline first.
// A rename that fails is logged and writing goes on in the file the path
// then names, over the cap rather than losing lines; an error means no
// file could be opened (the next Write tries again).
func (l *Log) rotate(torn bool) error {
	if torn {
		l.f.Write([]byte{'\n'})
	}
	rotated := func(i int) string { return fmt.Sprintf("%s.%d", l.path, i) }
	if err := os.Remove(rotated(l.opts.MaxFiles)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		l.opts.Logger.Warn("results log rotation: oldest file not removed", "err", err)
	}
	for i := l.opts.MaxFiles - 1; i >= 1; i-- {
		if err := os.Rename(rotated(i), rotated(i+1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			l.opts.Logger.Warn("results log rotation: rename failed", "err", err)
		}
	}
	// Close before renaming: Windows renames no open file.
	l.f.Close()
	l.f = nil
	if err := os.Rename(l.path, rotated(1)); err != nil {
		l.opts.Logger.Warn("results log rotation: rename failed, the log goes on past its cap", "err", err)
	}
	return l.reopen()
}

// Close closes the file; later Writes fail with ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

package wevtapi

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// maxBookmark bounds what is read back as a bookmark: one is a few hundred
// bytes (a BookmarkList with one Bookmark per channel); anything larger was
// not written by this package.
const maxBookmark = 64 << 10

// Bookmarks keeps one bookmark per channel as a file in a directory of the
// analytic's state. A bookmark is written whole to a temporary file,
// synced and renamed over the old one, so a crash leaves the old bookmark
// or the new one, never half of either.
type Bookmarks struct {
	dir string // empty: nothing is kept, every start subscribes to new events
}

// OpenBookmarks keeps bookmarks under stateDir/wevtapi; an empty stateDir
// keeps none.
func OpenBookmarks(stateDir string) (*Bookmarks, error) {
	if stateDir == "" {
		return &Bookmarks{}, nil
	}
	dir := filepath.Join(stateDir, "wevtapi")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("wevtapi: bookmarks: %w", err)
	}
	return &Bookmarks{dir: dir}, nil
}

// fileName is the file a channel's bookmark is kept in: the channel's name
// with every byte that is not a letter, digit, '-' or '.' replaced, so
// that "Microsoft-Windows-Sysmon/Operational" is one file name on every
// file system, and two channels never share one.
func fileName(channel string) string {
	var b strings.Builder
	for i := 0; i < len(channel); i++ {
		c := channel[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '.' && i > 0:
			b.WriteByte(c)
		case c >= 'A' && c <= 'Z':
			b.WriteByte(c + 'a' - 'A') // channel names ignore case
		default:
			fmt.Fprintf(&b, "_%02x", c)
		}
	}
	return b.String() + ".xml"
}

// Load returns the channel's bookmark XML, or "" when none was kept. A
// bookmark that is unreadable, too large or not text is reported and
// treated as none: the subscription then starts with new events, which the
// collector says in its notes.
func (bm *Bookmarks) Load(channel string) (string, error) {
	if bm.dir == "" {
		return "", nil
	}
	p := filepath.Join(bm.dir, fileName(channel))
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("wevtapi: bookmark of %s: %w", channel, err)
	}
	defer f.Close()
	buf, err := io.ReadAll(io.LimitReader(f, maxBookmark+1))
	if err != nil {
		return "", fmt.Errorf("wevtapi: bookmark of %s: %w", channel, err)
	}
	n := len(buf)
	if n > maxBookmark {
		return "", fmt.Errorf("wevtapi: bookmark of %s: larger than %d bytes", channel, maxBookmark)
	}
	s := string(buf[:n])
	if !utf8.ValidString(s) || !strings.Contains(s, "<BookmarkList") {
		return "", fmt.Errorf("wevtapi: bookmark of %s: not a bookmark list", channel)
	}
	return s, nil
}

// Save keeps xml as the channel's bookmark.
func (bm *Bookmarks) Save(channel, xml string) error {
	if bm.dir == "" {
		return nil
	}
	if len(xml) > maxBookmark {
		return fmt.Errorf("wevtapi: bookmark of %s: larger than %d bytes", channel, maxBookmark)
	}
	p := filepath.Join(bm.dir, fileName(channel))
	tmp, err := os.CreateTemp(bm.dir, ".bookmark-*")
	if err != nil {
		return fmt.Errorf("wevtapi: bookmark of %s: %w", channel, err)
	}
	_, err = tmp.WriteString(xml)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("wevtapi: bookmark of %s: %w", channel, err)
	}
	return nil
}

//go:build linux

package fanotify

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/stagewatch/stagewatch/internal/staging"
)

// markMask is what each filesystem mark asks for.
//
// FAN_RENAME rather than FAN_MOVED_TO: one event carries both the old and
// the new directory+name, so a move-in knows where the file came from
// (~/Documents → /tmp/stage is the staging signal) at no extra cost.
// FAN_ONDIR brings directory renames, which invalidate cached paths, and
// directories moved in whole. FAN_DELETE, and a FAN_RENAME whose new side
// is not staging, take a file out of its staging group: temporary spills
// and compiler intermediates deleted before an archive is made are not in
// it.
const markMask = unix.FAN_CREATE | unix.FAN_CLOSE_WRITE | unix.FAN_RENAME | unix.FAN_DELETE | unix.FAN_ONDIR

// stagingDir is one StagingDirectoryList entry as given and as the kernel
// spells it (symlinks resolved, cleaned). An entry with "*" elements
// (/home/*/tmp/) is watched from its static part (/home): the mark is on
// that directory's filesystem and the mounts below it, and which paths are
// staging is the shared matcher's decision (staging.Roots).
type stagingDir struct {
	given string
	base  string // the given entry up to its first wildcard element, cleaned
	tail  string // the rest, from that element on ("/*/tmp"); "" without wildcards
	// canonicalBase is base with symlinks resolved; prefix is it with a
	// trailing slash ("/" for the root), for the mounts below it.
	canonicalBase string
	prefix        string
}

// canonical is the entry as the kernel spells its paths.
func (d *stagingDir) canonical() string {
	if d.tail == "" {
		return d.canonicalBase
	}
	if d.canonicalBase == "/" {
		return d.tail
	}
	return d.canonicalBase + d.tail
}

func newStagingDirs(dirs []string) ([]stagingDir, error) {
	out := make([]stagingDir, 0, len(dirs))
	seen := make(map[string]bool)
	for _, d := range dirs {
		if d == "" || !filepath.IsAbs(d) {
			return nil, fmt.Errorf("fanotify: staging directory %q is not an absolute path", d)
		}
		clean := filepath.Clean(d)
		base := staging.StaticPrefix(clean, staging.Posix)
		sd := stagingDir{given: d, base: base, tail: clean[len(base):]}
		if base == "/" && sd.tail != "" {
			sd.tail = clean
		}
		// A directory that does not exist yet keeps its given spelling; it
		// is resolved again when a recheck finds it.
		sd.canonicalBase = base
		if resolved, err := filepath.EvalSymlinks(base); err == nil {
			sd.canonicalBase = resolved
		}
		sd.prefix = withSlash(sd.canonicalBase)
		if sd.canonical() == "/" {
			return nil, fmt.Errorf("fanotify: staging directory %q resolves to /: every file would be staged", d)
		}
		if seen[sd.canonical()] {
			continue
		}
		seen[sd.canonical()] = true
		out = append(out, sd)
	}
	return out, nil
}

func withSlash(p string) string {
	if p == "/" {
		return p
	}
	return p + "/"
}

// stagingRoots is the matcher for the directories as the kernel spells
// them.
func stagingRoots(dirs []stagingDir) (*staging.Roots, error) {
	canonical := make([]string, len(dirs))
	for i := range dirs {
		canonical[i] = dirs[i].canonical()
	}
	roots, err := staging.NewRoots(canonical, staging.Posix)
	if err != nil {
		return nil, fmt.Errorf("fanotify: staging directory: %w", err)
	}
	return roots, nil
}

// markedFS is one filesystem carrying our mark.
type markedFS struct {
	dev  uint64
	fsid [fsidLen]byte
	// root is a directory on the filesystem, used as open_by_handle_at's
	// mount fd. A path rather than an open fd: a held fd would make the
	// filesystem impossible to unmount (a USB stick under /mnt).
	root string
}

// SkippedDir is a staging directory or mount that carries no mark, and why.
type SkippedDir struct {
	Dir    string
	Reason string
}

// markAll marks the filesystem of every staging directory and of every
// mount below one, once per filesystem. It returns what it could not mark;
// nothing here is fatal, a recheck tries again.
func (w *Watcher) markAll() []SkippedDir {
	var skipped []SkippedDir
	candidates := make([]string, 0, len(w.dirs))
	for i := range w.dirs {
		d := &w.dirs[i]
		if resolved, err := filepath.EvalSymlinks(d.base); err == nil && resolved != d.canonicalBase {
			if resolved == "/" && d.tail == "" {
				// Re-pointed at / since the start: watching it would stage
				// every file, so the old spelling stays.
				skipped = append(skipped, SkippedDir{Dir: d.given, Reason: "now resolves to /: every file would be staged"})
				continue
			}
			// Created (or re-pointed) since the last look.
			d.canonicalBase, d.prefix = resolved, withSlash(resolved)
		}
		candidates = append(candidates, d.canonicalBase)
	}
	under, all, err := mountsUnder(w.dirs)
	if err != nil {
		skipped = append(skipped, SkippedDir{Dir: "/proc/self/mountinfo", Reason: err.Error()})
	}
	for _, m := range under {
		candidates = append(candidates, m.point)
	}

	for _, dir := range candidates {
		if reason := w.markOne(dir); reason != "" {
			skipped = append(skipped, SkippedDir{Dir: dir, Reason: reason})
		}
	}
	resolveRoot := map[uint64]string{}
	w.mu.Lock()
	for _, fs := range w.filesystems {
		resolveRoot[fs.dev] = fs.root
	}
	w.mu.Unlock()
	views := bindViews(under, all, resolveRoot)
	if !slices.Equal(views, w.views) {
		w.views = views
		w.viewsChanged = true
	}
	return skipped
}

// markOne marks dir's filesystem unless it already is; it returns why not.
func (w *Watcher) markOne(dir string) string {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return "does not exist"
		}
		return err.Error()
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return "not a directory"
	}
	if w.hasDev(st.Dev) {
		return ""
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(dir, &sfs); err != nil {
		return "statfs: " + err.Error()
	}
	fsid := fsidBytes(sfs.Fsid)
	if fsid == ([fsidLen]byte{}) {
		return "filesystem reports no fsid, so its events cannot be told apart"
	}
	w.mu.Lock()
	_, clash := w.filesystems[fsid]
	w.mu.Unlock()
	if clash {
		return "another marked filesystem has the same fsid"
	}
	if err := unix.FanotifyMark(w.fd, unix.FAN_MARK_ADD|unix.FAN_MARK_FILESYSTEM, markMask, unix.AT_FDCWD, dir); err != nil {
		return "fanotify_mark: " + err.Error()
	}
	w.mu.Lock()
	w.filesystems[fsid] = &markedFS{dev: st.Dev, fsid: fsid, root: dir}
	w.marked = append(w.marked, dir)
	w.mu.Unlock()
	return ""
}

func (w *Watcher) hasDev(dev uint64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, fs := range w.filesystems {
		if fs.dev == dev {
			return true
		}
	}
	return false
}

func fsidBytes(f unix.Fsid) [fsidLen]byte {
	var b [fsidLen]byte
	native.PutUint32(b[0:4], uint32(f.Val[0]))
	native.PutUint32(b[4:8], uint32(f.Val[1]))
	return b
}

// mount is one line of /proc/self/mountinfo.
type mount struct {
	dev   uint64 // st_dev of what is mounted
	root  string // the directory of the file system mounted there (/ unless a bind mount of a subtree)
	point string // where it is mounted
}

// mountsUnder lists the mounts strictly below a staging directory, so a
// disk mounted at /mnt/usb is watched like /mnt itself, and all mounts.
func mountsUnder(dirs []stagingDir) (under, all []mount, err error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	return parseMountinfo(f, dirs)
}

func parseMountinfo(r io.Reader, dirs []stagingDir) (under, all []mount, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		var major, minor uint32
		if _, err := fmt.Sscanf(fields[2], "%d:%d", &major, &minor); err != nil {
			continue
		}
		m := mount{dev: unix.Mkdev(major, minor), root: unescapeMountinfo(fields[3]), point: unescapeMountinfo(fields[4])}
		all = append(all, m)
		for i := range dirs {
			if strings.HasPrefix(m.point, dirs[i].prefix) && m.point != dirs[i].canonicalBase {
				under = append(under, m)
				break
			}
		}
	}
	return under, all, sc.Err()
}

// bindView maps the path at which a bind-mounted subtree's files resolve
// (their place on the file system, seen through the mount we resolve
// handles with) to the mount point below a staging directory through which
// they were written: mount --bind /srv/data /tmp/s/inner makes
// /srv/data/x staging as /tmp/s/inner/x.
type bindView struct {
	src, dst string
}

// bindViews lists the views of the bind mounts of subtrees below staging
// directories, for file systems resolved through the mount of resolveRoot
// (dev → a directory on it, see markedFS.root).
func bindViews(under, all []mount, resolveRoot map[uint64]string) []bindView {
	var views []bindView
	for _, m := range under {
		if m.root == "/" {
			continue
		}
		dir, ok := resolveRoot[m.dev]
		if !ok {
			continue
		}
		// The mount dir resolves through: the deepest mount of the same
		// file system containing it.
		var via *mount
		for i := range all {
			a := &all[i]
			if a.dev == m.dev && (dir == a.point || strings.HasPrefix(dir, withSlash(a.point))) && (via == nil || len(a.point) > len(via.point)) {
				via = a
			}
		}
		if via == nil || !(m.root == via.root || strings.HasPrefix(m.root, withSlash(via.root))) {
			continue
		}
		src := filepath.Join(via.point, strings.TrimPrefix(m.root, via.root))
		if src != m.point {
			views = append(views, bindView{src: src, dst: m.point})
		}
	}
	return views
}

// throughBind rewrites path into the bind mount below staging its files
// were written through, when there is one.
func throughBind(views []bindView, path string) (string, bool) {
	for _, v := range views {
		if path == v.src {
			return v.dst, true
		}
		if strings.HasPrefix(path, withSlash(v.src)) {
			return v.dst + path[len(v.src):], true
		}
	}
	return path, false
}

// unescapeMountinfo undoes the kernel's octal escaping of space, tab,
// newline and backslash in mountinfo paths.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

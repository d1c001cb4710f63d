//go:build linux

package fanotify

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// info builds one fid info record as the kernel lays it out: header, fsid,
// file_handle, optional NUL-terminated name, padded to 4 bytes.
func info(infoType uint8, fsid uint64, handleType int32, handle []byte, name string, withName bool) []byte {
	var body []byte
	body = native.AppendUint64(body, fsid)
	body = native.AppendUint32(body, uint32(len(handle)))
	body = native.AppendUint32(body, uint32(handleType))
	body = append(body, handle...)
	if withName {
		body = append(body, name...)
		body = append(body, 0)
	}
	for (infoHeader+len(body))%4 != 0 {
		body = append(body, 0)
	}
	rec := []byte{infoType, 0}
	rec = native.AppendUint16(rec, uint16(infoHeader+len(body)))
	return append(rec, body...)
}

func metadata(mask uint64, pid int32, infos ...[]byte) []byte {
	var tail []byte
	for _, i := range infos {
		tail = append(tail, i...)
	}
	var m []byte
	m = native.AppendUint32(m, uint32(metadataLen+len(tail)))
	m = append(m, unix.FANOTIFY_METADATA_VERSION, 0)
	m = native.AppendUint16(m, metadataLen)
	m = native.AppendUint64(m, mask)
	m = native.AppendUint32(m, uint32(0xffffffff)) // FAN_NOFD
	m = native.AppendUint32(m, uint32(pid))
	return append(m, tail...)
}

var dirHandle = []byte{1, 2, 3, 4, 5, 6, 7, 8}

func TestNextEvent(t *testing.T) {
	t.Parallel()
	create := metadata(unix.FAN_CREATE|unix.FAN_CLOSE_WRITE, 42, info(unix.FAN_EVENT_INFO_TYPE_DFID_NAME, 7, 1, dirHandle, "new\nname\xff", true))
	rename := metadata(unix.FAN_RENAME, 43,
		info(unix.FAN_EVENT_INFO_TYPE_OLD_DFID_NAME, 7, 1, []byte{9, 9, 9, 9}, "old", true),
		info(unix.FAN_EVENT_INFO_TYPE_NEW_DFID_NAME, 7, 1, dirHandle, strings.Repeat("n", 255), true))
	withUnknown := metadata(unix.FAN_CREATE, 44,
		info(unix.FAN_EVENT_INFO_TYPE_PIDFD, 0, 0, []byte{1}, "", false),
		info(unix.FAN_EVENT_INFO_TYPE_DFID_NAME, 7, 1, dirHandle, "-rf", true))
	overflow := metadata(unix.FAN_Q_OVERFLOW, -1)

	badVersion := bytes.Clone(create)
	badVersion[4] = 2
	badEventLen := bytes.Clone(create)
	native.PutUint32(badEventLen, 1<<20)
	badInfoLen := bytes.Clone(create)
	native.PutUint16(badInfoLen[metadataLen+2:], 2)
	hugeHandle := bytes.Clone(create)
	native.PutUint32(hugeHandle[metadataLen+infoHeader+fsidLen:], 4096)
	slashName := metadata(unix.FAN_CREATE, 1, info(unix.FAN_EVENT_INFO_TYPE_DFID_NAME, 7, 1, dirHandle, "a/b", true))
	emptyName := metadata(unix.FAN_CREATE, 1, info(unix.FAN_EVENT_INFO_TYPE_DFID_NAME, 7, 1, dirHandle, "", true))
	unterminated := bytes.Clone(create)
	for i := metadataLen + infoHeader + fsidLen + handleHeader + len(dirHandle); i < len(unterminated); i++ {
		unterminated[i] = 'x'
	}

	tests := []struct {
		name     string
		buf      []byte
		wantErr  bool
		wantMask uint64
		wantPid  int32
		wantName string
		wantOld  string
	}{
		{name: "merged create and write", buf: create, wantMask: unix.FAN_CREATE | unix.FAN_CLOSE_WRITE, wantPid: 42, wantName: "new\nname\xff"},
		{name: "rename", buf: rename, wantMask: unix.FAN_RENAME, wantPid: 43, wantName: strings.Repeat("n", 255), wantOld: "old"},
		{name: "unknown record skipped", buf: withUnknown, wantMask: unix.FAN_CREATE, wantPid: 44, wantName: "-rf"},
		{name: "overflow has no records", buf: overflow, wantMask: unix.FAN_Q_OVERFLOW, wantPid: -1},
		{name: "truncated metadata", buf: create[:10], wantErr: true},
		{name: "truncated record", buf: create[:len(create)-4], wantErr: true},
		{name: "bad version", buf: badVersion, wantErr: true},
		{name: "event longer than buffer", buf: badEventLen, wantErr: true},
		{name: "record length below header", buf: badInfoLen, wantErr: true},
		{name: "handle longer than record", buf: hugeHandle, wantErr: true},
		{name: "name with slash", buf: slashName, wantErr: true},
		{name: "empty name", buf: emptyName, wantErr: true},
		{name: "name not terminated", buf: unterminated, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.wantErr {
				if ev, _, err := nextEvent(tt.buf); err == nil {
					t.Fatalf("no error; event %+v", ev)
				}
				return
			}
			// Two copies back to back: the first must leave the second intact.
			ev, rest, err := nextEvent(append(bytes.Clone(tt.buf), tt.buf...))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(rest, tt.buf) {
				t.Errorf("rest = %d bytes, want the second copy (%d)", len(rest), len(tt.buf))
			}
			if ev.mask != tt.wantMask || ev.pid != tt.wantPid || string(ev.dir.name) != tt.wantName || string(ev.old.name) != tt.wantOld {
				t.Errorf("got mask %#x pid %d name %q old %q", ev.mask, ev.pid, ev.dir.name, ev.old.name)
			}
			if tt.wantName != "" && (!bytes.Equal(ev.dir.handle, dirHandle) || ev.dir.handleType != 1 || len(ev.dir.key) != fsidLen+handleHeader+len(dirHandle)) {
				t.Errorf("dir fid = %+v", ev.dir)
			}
		})
	}
}

func FuzzNextEvent(f *testing.F) {
	f.Add(metadata(unix.FAN_CREATE, 1, info(unix.FAN_EVENT_INFO_TYPE_DFID_NAME, 7, 1, dirHandle, "f", true)))
	f.Add(metadata(unix.FAN_RENAME, 2,
		info(unix.FAN_EVENT_INFO_TYPE_OLD_DFID_NAME, 7, 1, dirHandle, "a", true),
		info(unix.FAN_EVENT_INFO_TYPE_NEW_DFID_NAME, 7, 1, dirHandle, "b", true)))
	f.Add(metadata(unix.FAN_Q_OVERFLOW, -1))
	f.Fuzz(func(t *testing.T, buf []byte) {
		for len(buf) > 0 {
			ev, rest, err := nextEvent(buf)
			if err != nil {
				return
			}
			if len(rest) >= len(buf) {
				t.Fatalf("no progress: %d of %d bytes left", len(rest), len(buf))
			}
			for _, f := range []fidName{ev.dir, ev.old} {
				if bytes.ContainsAny(f.name, "/\x00") {
					t.Fatalf("name %q", f.name)
				}
				if f.present() && len(f.key) != fsidLen+handleHeader+len(f.handle) {
					t.Fatalf("key %d bytes for handle %d", len(f.key), len(f.handle))
				}
			}
			buf = rest
		}
	})
}

func TestDirCache(t *testing.T) {
	t.Parallel()
	c := newDirCache(2, 100)
	c.put([]byte("a"), "/tmp/a", true, 0)
	c.put([]byte("b"), "/root/b", false, 0)
	if e := c.get([]byte("a"), 10); e == nil || e.path != "/tmp/a" || !e.staging {
		t.Fatalf("a = %+v", e)
	}
	c.put([]byte("c"), "/tmp/c", true, 10) // evicts b, the least recent
	if c.get([]byte("b"), 10) != nil || c.get([]byte("a"), 10) == nil || c.get([]byte("c"), 10) == nil {
		t.Errorf("LRU eviction wrong: %d entries", c.len())
	}
	if c.get([]byte("a"), 100) != nil {
		t.Error("entry outlived its ttl")
	}
	c.put([]byte("c"), "/tmp/renamed", true, 100)
	if e := c.get([]byte("c"), 150); e == nil || e.path != "/tmp/renamed" {
		t.Errorf("update lost: %+v", e)
	}
	c.flush()
	if c.len() != 0 || c.get([]byte("c"), 150) != nil {
		t.Error("flush left entries")
	}
	for i := range 1000 { // list and map stay in step under churn
		c.put([]byte{byte(i), byte(i >> 8)}, "/x", false, int64(i))
		if c.len() > 2 {
			t.Fatalf("%d entries, capacity 2", c.len())
		}
	}
}

func TestStagingDirsAndMountinfo(t *testing.T) {
	t.Parallel()
	dirs, err := newStagingDirs([]string{"/tmp/", "/mnt", "/tmp", "/nonexistent-stagewatch/x/", "/home/*/tmp/"})
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != 4 {
		t.Fatalf("dirs = %+v, want /tmp deduplicated", dirs)
	}
	roots, err := stagingRoots(dirs)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{
		"/tmp": true, "/tmp/a/b": true, "/tmpfoo": false, "/mnt/usb/x": true,
		"/nonexistent-stagewatch/x/y": true, "/root": false, "/": false,
		// A "*" element is honoured: every user's tmp, nothing else there.
		"/home/alice/tmp/loot/a.docx": true, "/home/bob/tmp": true, "/home/alice/Documents/a.docx": false, "/home": false,
	} {
		if got := roots.Contains(path); got != want {
			t.Errorf("Contains(%q) = %v", path, got)
		}
	}
	// The wildcard entry is watched from its static part.
	if d := dirs[3]; d.base != "/home" || d.tail != "/*/tmp" || d.canonical() != d.canonicalBase+"/*/tmp" {
		t.Errorf("wildcard entry %+v", d)
	}
	// Lines as /proc/self/mountinfo prints them, escapes included.
	mountinfo := `22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 22 0:27 / /dev/shm rw,nosuid,nodev shared:2 - tmpfs tmpfs rw
41 22 8:17 / /mnt/usb\040stick rw,relatime shared:9 - vfat /dev/sdb1 rw
44 22 0:52 / /home/alice/tmp rw shared:12 - tmpfs tmpfs rw
42 22 0:50 / /mnt rw shared:10 - tmpfs tmpfs rw
43 22 0:51 / /tmpfoo rw shared:11 - tmpfs tmpfs rw
short line
`
	under, all, err := parseMountinfo(strings.NewReader(mountinfo), dirs)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range under {
		got = append(got, m.point)
	}
	if want := []string{"/mnt/usb stick", "/home/alice/tmp"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("mounts under staging = %q, want %q", got, want)
	}
	if len(all) != 6 || all[0].point != "/" || all[0].root != "/" || all[0].dev != unix.Mkdev(254, 0) {
		t.Errorf("all mounts %+v", all)
	}

}

// A staging directory that is a link to / would stage every file: refused.
func TestStagingDirLinkedToRootIsRefused(t *testing.T) {
	t.Parallel()
	link := filepath.Join(t.TempDir(), "l")
	if err := os.Symlink("/", link); err != nil {
		t.Fatal(err)
	}
	if _, err := newStagingDirs([]string{"/tmp/", link}); err == nil || !strings.Contains(err.Error(), "resolves to /") {
		t.Fatalf("a link to /: %v", err)
	}
}

package auditlog

import (
	"path"
	"strconv"
	"strings"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/plugins/linux/linuxactor"
)

// unsetID is how the kernel prints an unset login uid or session.
const unsetID = 4294967295

// item is one PATH record.
type item struct {
	name     string
	named    bool
	nametype string
	devIno   string
	dir      bool
}

func (a *Assembler) build(p *pending) *event.Event {
	sc := p.syscall
	if v, _ := sc.Raw("success"); v != "yes" {
		return nil
	}
	arch, _ := sc.Hex("arch")
	nr, _ := sc.Int("syscall")
	c := lookupCall(arch, nr)

	cwd := ""
	if p.cwd != nil {
		cwd = a.str(p.cwd, "cwd")
	}
	items := a.items(p.paths)
	a.learn(sc, c, cwd, items)
	if c.op == opNone || c.op == opMkdir {
		return nil
	}

	ev := &event.Event{
		Time:    p.time,
		Actor:   a.actor(sc),
		Process: event.Process{Cwd: cwd, Exe: a.str(sc, "exe")},
		Size:    event.Unknown,
		Host:    p.node,
		Source:  "audit",
	}
	ev.Process.PID, _ = sc.Int("pid")
	ev.Process.PPID, _ = sc.Int("ppid")

	if c.op == opExec {
		ev.Kind = event.KindExec
		ev.Process.Argv = a.argv(p)
		return ev
	}
	ev.Process.Argv = a.proctitle(p)

	children, parents := split(items)
	find := func(nametype string) int {
		for i := range children {
			if children[i].nametype == nametype {
				return i
			}
		}
		return -1
	}
	target, source := -1, -1
	switch c.op {
	case opOpen, opOpen2, opCreat:
		if len(children) == 0 {
			return nil
		}
		target = 0
		switch {
		case children[0].nametype == "CREATE":
			ev.Kind = event.KindFileCreate
		case c.op == opCreat:
			ev.Kind = event.KindFileWrite
		case c.op == opOpen:
			flags, _ := sc.Hex("a" + strconv.Itoa(c.flagsArg))
			if flags&oAccMode == 0 && flags&oTrunc == 0 {
				return nil // opened for reading
			}
			ev.Kind = event.KindFileWrite
		default:
			return nil // openat2 of an existing file: flags unknown
		}
	case opRename:
		ev.Kind = event.KindFileMoveIn
		target, source = find("CREATE"), find("DELETE")
	case opLink:
		ev.Kind = event.KindFileCreate
		target, source = find("CREATE"), find("NORMAL")
	case opUnlink:
		ev.Kind = event.KindFileDelete
		target = find("DELETE")
	}
	if target < 0 {
		return nil
	}
	ev.Path = a.resolve(sc, c, cwd, children, parents, target)
	if source >= 0 {
		ev.SourcePath = a.resolve(sc, c, cwd, children, parents, source)
	}
	// A directory deleted or renamed whole: everything below it went too.
	ev.Dir = children[target].dir || source >= 0 && children[source].dir
	return ev
}

func split(items []item) (children, parents []item) {
	for _, it := range items {
		if it.nametype == "PARENT" {
			parents = append(parents, it)
		} else {
			children = append(children, it)
		}
	}
	return children, parents
}

// str decodes an untrusted-string field; a malformed value counts as a parse
// error and reads as absent.
func (a *Assembler) str(r *Record, key string) string {
	s, _, err := r.Str(key)
	if err != nil {
		a.parseError(err)
	}
	return s
}

func (a *Assembler) items(paths []*Record) []item {
	items := make([]item, 0, len(paths))
	for _, r := range paths {
		var it item
		it.name, it.named, _ = r.Str("name")
		it.nametype, _ = r.Raw("nametype")
		dev, _ := r.Raw("dev")
		ino, _ := r.Raw("inode")
		if ino != "" {
			it.devIno = dev + ":" + ino
		}
		mode, _ := r.Raw("mode")
		it.dir = strings.HasPrefix(mode, "04") && len(mode) >= 6
		items = append(items, it)
	}
	return items
}

// dirfd reports whether names of the child (or parent) at index i are
// relative to the cwd (AT_FDCWD or a call without a dirfd).
func dirfdIsCwd(sc *Record, c call, i int) bool {
	arg := c.oldDirfd
	if i > 0 {
		arg = c.newDirfd
	}
	if arg < 0 {
		return true
	}
	v, ok := sc.Hex("a" + strconv.Itoa(arg))
	return ok && isATFDCWD(v)
}

// learn remembers absolute paths of directories so that names relative to
// a directory fd (tar, cp and friends use openat(dirfd, "name")) can be made
// absolute later: the kernel's PATH record only gives the parent's inode.
func (a *Assembler) learn(sc *Record, c call, cwd string, items []item) {
	children, parents := split(items)
	known := c.op != opNone
	for i, it := range parents {
		// A parent name without a directory part is printed as the cwd by
		// the kernel, which is wrong when a dirfd was used: the dirfd that
		// counts is that of the child the parent holds.
		if it.named && it.devIno != "" && known && dirfdIsCwd(sc, c, childOf(children, parents, i, cwd)) {
			a.remember(it.devIno, absolute(cwd, it.name))
		}
	}
	for i, it := range children {
		if !it.dir || !it.named || it.devIno == "" {
			continue
		}
		if it.nametype == "DELETE" {
			delete(a.inodes, it.devIno)
			continue
		}
		if dir, ok := a.lookupPath(sc, c, cwd, children, parents, i); ok {
			a.remember(it.devIno, dir)
		}
	}
}

func (a *Assembler) remember(devIno, dir string) {
	if !path.IsAbs(dir) {
		return
	}
	if len(a.inodes) >= inodeCacheSize {
		clear(a.inodes)
	}
	a.inodes[devIno] = dir
}

func absolute(cwd, name string) string {
	if path.IsAbs(name) || cwd == "" {
		return path.Clean(name)
	}
	return path.Join(cwd, name)
}

// resolve makes children[i]'s name absolute, counting the names it cannot.
func (a *Assembler) resolve(sc *Record, c call, cwd string, children, parents []item, i int) string {
	if p, ok := a.lookupPath(sc, c, cwd, children, parents, i); ok {
		return p
	}
	a.stats.Unresolved++
	return children[i].name
}

// lookupPath makes children[i]'s name absolute: as is, against the cwd, or
// against the learned path of its parent directory's inode (the PARENT
// record is the directory holding the last component of the name).
func (a *Assembler) lookupPath(sc *Record, c call, cwd string, children, parents []item, i int) (string, bool) {
	name := children[i].name
	if path.IsAbs(name) {
		return path.Clean(name), true
	}
	if known := c.op != opNone; known && dirfdIsCwd(sc, c, i) && cwd != "" {
		return path.Join(cwd, name), true
	}
	if len(parents) > 0 && name != "" {
		parent := parentOf(children, parents, i, cwd)
		if dir, ok := a.inodes[parent.devIno]; ok {
			return path.Join(dir, path.Base(name)), true
		}
	}
	return "", false
}

// childOf returns the index of the child parents[i] holds (parentOf's
// pairing), else i.
func childOf(children, parents []item, i int, cwd string) int {
	for j := range children {
		if parentOf(children, parents, j, cwd) == parents[i] {
			return j
		}
	}
	return i
}

// parentOf returns the PARENT record of children[i]: the one named as the
// child's directory part, or, for a name with none, the one the kernel
// printed as the cwd that no other child's directory claims; else the
// one at the same position. The order is not the children's: coreutils'
// mv renames renameat2(AT_FDCWD, "/home/u/Mail/a.eml", dirfd, "a.eml"),
// which audit records as PARENT "/home/u" (the new name's directory,
// printed as the cwd), PARENT "/home/u/Mail/", DELETE, CREATE.
func parentOf(children, parents []item, i int, cwd string) item {
	dirOf := func(name string) string {
		if j := strings.LastIndexByte(name, '/'); j >= 0 {
			return path.Clean(name[:j+1])
		}
		return ""
	}
	if dir := dirOf(children[i].name); dir != "" {
		for _, p := range parents {
			if p.named && path.Clean(p.name) == dir {
				return p
			}
		}
	} else if cwd != "" {
		claimed := func(p item) bool {
			for j, c := range children {
				if j != i && dirOf(c.name) == path.Clean(p.name) {
					return true
				}
			}
			return false
		}
		for _, p := range parents {
			if p.named && path.Clean(p.name) == path.Clean(cwd) && !claimed(p) {
				return p
			}
		}
	}
	return parents[min(i, len(parents)-1)]
}

func (a *Assembler) actor(sc *Record) event.Actor {
	id := func(key string) int64 {
		n, ok := sc.Int(key)
		if !ok || n == unsetID || n < 0 {
			return event.Unknown
		}
		return n
	}
	act := event.Actor{UID: id("uid"), EUID: id("euid"), AUID: id("auid")}
	if ses, ok := sc.Raw("ses"); ok && ses != strconv.Itoa(unsetID) {
		act.Session = ses
	}
	act.TTY, _ = sc.Raw("tty")
	if name, ok := sc.Enriched("AUID"); ok && name != "unset" {
		act.User = name
	} else if name, ok := sc.Enriched("UID"); ok {
		act.User = name
	}
	linuxactor.Set(&act)
	return act
}

// maxArgs bounds argc taken from a record, so a corrupt count cannot make
// the assembler loop for long.
const maxArgs = 1 << 16

// argv rebuilds the argument vector from the EXECVE records: aN=value, or
// for long arguments aN_len=L followed by chunks aN[0]=… aN[1]=… that may
// span several records.
func (a *Assembler) argv(p *pending) []string {
	if len(p.execve) == 0 {
		return a.proctitle(p)
	}
	var argc int64
	fields := 0
	for _, r := range p.execve {
		if n, ok := r.Int("argc"); ok {
			argc = n
		}
		fields += len(r.fields)
	}
	argc = min(argc, int64(fields), maxArgs)
	get := func(key string) (string, bool) {
		for _, r := range p.execve {
			if v, ok := r.Raw(key); ok {
				return v, true
			}
		}
		return "", false
	}
	argv := make([]string, 0, argc)
	var chunks strings.Builder
	for i := range argc {
		key := "a" + strconv.FormatInt(i, 10)
		if v, ok := get(key); ok {
			s, _, err := decodeString(key, v)
			if err != nil {
				a.parseError(err)
				s = v
			}
			argv = append(argv, s)
			continue
		}
		if _, ok := get(key + "_len"); !ok {
			break // records lost: keep what is there
		}
		chunks.Reset()
		for j := 0; ; j++ {
			ck := key + "[" + strconv.Itoa(j) + "]"
			v, ok := get(ck)
			if !ok {
				break
			}
			s, _, err := decodeString(ck, v)
			if err != nil {
				a.parseError(err)
				s = v
			}
			chunks.WriteString(s)
		}
		argv = append(argv, chunks.String())
	}
	return argv
}

// proctitle splits the PROCTITLE record (argv joined by NULs, cut by the
// kernel at 128 bytes).
func (a *Assembler) proctitle(p *pending) []string {
	if p.title == nil {
		return nil
	}
	t := a.str(p.title, "proctitle")
	if t == "" {
		return nil
	}
	return strings.Split(strings.TrimRight(t, "\x00"), "\x00")
}

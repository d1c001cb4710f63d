package esxilog

import (
	"path"
	"strings"

	"github.com/stagewatch/stagewatch/plugins/esxi/activity"
)

// Command reads one shell or SSH command line into the actions it takes:
// each step of a pipeline or list (;, &&, ||, |) and of sh -c '…' is read
// on its own. A line with no staging step is one Command.
func Command(line string) []activity.Event {
	var out []activity.Event
	for _, seg := range segments(line, 0) {
		args := split(seg)
		if len(args) == 0 {
			continue
		}
		if e, ok := commandStep(args); ok {
			e.Details = line
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		tool := ""
		if args := split(line); len(args) > 0 {
			tool = path.Base(args[0])
		}
		out = append(out, activity.Event{Action: activity.Command, Tool: tool, Details: line})
	}
	return out
}

// segments splits a command line at ; && || | outside quotes, and opens
// sh -c '…' (to a bounded depth).
func segments(line string, depth int) []string {
	var out []string
	var cur strings.Builder
	quote := byte(0)
	flush := func() {
		s := strings.TrimSpace(cur.String())
		cur.Reset()
		if s == "" {
			return
		}
		if args := split(s); depth < 3 && len(args) >= 3 && (args[0] == "sh" || args[0] == "/bin/sh" || args[0] == "ash") && args[1] == "-c" {
			out = append(out, segments(args[2], depth+1)...)
			return
		}
		out = append(out, s)
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
			cur.WriteByte(c)
		case c == '\'' || c == '"':
			quote = c
			cur.WriteByte(c)
		case c == ';' || c == '|' || c == '&' || c == '\n':
			flush()
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return out
}

// split splits at spaces outside quotes, taking the quotes off.
func split(s string) []string {
	var out []string
	var cur strings.Builder
	quote := byte(0)
	in := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, in = c, true
		case c == ' ' || c == '\t':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

// commandStep reads one simple command.
func commandStep(args []string) (activity.Event, bool) {
	tool := path.Base(args[0])
	if tool == "sudo" || tool == "nohup" || tool == "time" {
		return commandStep(args[1:])
	}
	e := activity.Event{Tool: tool}
	switch tool {
	case "vim-cmd":
		if len(args) < 2 {
			return e, false
		}
		verb := args[1]
		rest := args[2:]
		switch verb {
		case "vmsvc/snapshot.create":
			e.Action = activity.SnapshotCreate
		case "vmsvc/snapshot.remove", "vmsvc/snapshot.removeall":
			e.Action = activity.SnapshotRemove
		case "vmsvc/snapshot.revert":
			e.Action = activity.SnapshotRevert
		default:
			return e, false
		}
		if len(rest) > 0 {
			e.VM = rest[0]
		}
		if e.Action == activity.SnapshotCreate && len(rest) > 1 {
			e.Snapshot = rest[1]
		}
		return e, true
	case "vmkfstools":
		return vmkfstools(e, args[1:])
	case "cp", "mv", "rsync":
		files := operands(args[1:], nil)
		if len(files) < 2 {
			return e, false
		}
		src, dst := files[:len(files)-1], files[len(files)-1]
		return copyStep(e, tool == "mv", src, dst)
	case "scp":
		return scp(e, args[1:])
	case "dd":
		var in, out string
		for _, a := range args[1:] {
			if v, ok := strings.CutPrefix(a, "if="); ok {
				in = v
			} else if v, ok := strings.CutPrefix(a, "of="); ok {
				out = v
			}
		}
		if out == "" {
			return e, false
		}
		return copyStep(e, false, []string{in}, out)
	case "tar", "zip", "7z", "gzip", "pigz":
		return archive(e, tool, args[1:])
	}
	return e, false
}

// operands are the arguments that are not options; valued lists the
// options that take the next argument.
func operands(args []string, valued map[string]bool) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			if valued[a] {
				i++
			}
			continue
		}
		out = append(out, a)
	}
	return out
}

var vmkfstoolsValued = map[string]bool{"-d": true, "--diskformat": true, "-a": true, "--adaptertype": true, "-W": true, "--objecttype": true, "--policyFile": true, "-b": true, "--blocksize": true}

// vmkfstools -i SRC [-d fmt] DST clones a disk; -c SIZE … PATH creates one;
// -E renames.
func vmkfstools(e activity.Event, args []string) (activity.Event, bool) {
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-i", "--clonevirtualdisk":
			if i+1 >= len(args) {
				return e, false
			}
			e.Action, e.Path = activity.DiskCopy, args[i+1]
			if dst := operands(args[i+2:], vmkfstoolsValued); len(dst) > 0 {
				e.Dest = dst[len(dst)-1]
			}
			e.Datastore = activity.DatastoreOf(e.Dest)
			return e, true
		case "-c", "--createvirtualdisk":
			if i+1 >= len(args) {
				return e, false
			}
			e.Action, e.Details = activity.DiskCreate, args[i+1]
			if dst := operands(args[i+2:], vmkfstoolsValued); len(dst) > 0 {
				e.Path = dst[len(dst)-1]
			}
			e.Datastore = activity.DatastoreOf(e.Path)
			return e, true
		case "-E", "--renamevirtualdisk":
			if i+2 >= len(args) {
				return e, false
			}
			e.Action, e.Path, e.Dest = activity.FileMove, args[i+1], args[i+2]
			e.Datastore = activity.DatastoreOf(e.Dest)
			return e, true
		}
	}
	return e, false
}

// copyStep: a copy of a VM's disk or state file anywhere is a disk copy;
// any other file copied onto a datastore is a file copy.
func copyStep(e activity.Event, move bool, src []string, dst string) (activity.Event, bool) {
	disk := activity.VMDiskFile(dst)
	for _, s := range src {
		disk = disk || activity.VMDiskFile(s)
	}
	remote := strings.Contains(dst, ":") && !strings.HasPrefix(dst, "/")
	e.Path, e.Dest = strings.Join(src, " "), dst
	e.Datastore = activity.DatastoreOf(dst)
	switch {
	case remote:
		e.Action = activity.FileDownload // copied off the host
	case move && activity.OnDatastore(dst):
		e.Action = activity.FileMove
	case disk:
		e.Action = activity.DiskCopy
	case activity.OnDatastore(dst):
		e.Action = activity.FileCopy
	default:
		return e, false
	}
	if e.Datastore == "" && len(src) > 0 {
		e.Datastore = activity.DatastoreOf(src[0])
	}
	return e, true
}

// scp -t DIR is the host receiving a file (an upload to it), scp -f FILE
// the host sending one; a client scp naming host:path copies off or on.
func scp(e activity.Event, args []string) (activity.Event, bool) {
	files := operands(args, map[string]bool{"-P": true, "-i": true, "-o": true, "-l": true, "-F": true, "-c": true})
	for _, a := range args {
		switch a {
		case "-t":
			if len(files) == 0 {
				return e, false
			}
			e.Action, e.Dest = activity.FileUpload, files[len(files)-1]
			e.Datastore = activity.DatastoreOf(e.Dest)
			return e, true
		case "-f":
			if len(files) == 0 {
				return e, false
			}
			e.Action, e.Path = activity.FileDownload, strings.Join(files, " ")
			e.Datastore = activity.DatastoreOf(files[0])
			return e, true
		}
	}
	if len(files) < 2 {
		return e, false
	}
	return copyStep(e, false, files[:len(files)-1], files[len(files)-1])
}

// archive: an archive written onto a datastore, or of VM disk files.
func archive(e activity.Event, tool string, args []string) (activity.Event, bool) {
	var out string
	var inputs []string
	switch tool {
	case "tar":
		for i := 0; i < len(args); i++ {
			a := args[i]
			if a == "-f" || a == "--file" {
				if i+1 < len(args) {
					out = args[i+1]
					i++
				}
				continue
			}
			if v, ok := strings.CutPrefix(a, "--file="); ok {
				out = v
				continue
			}
			// Bundled letters: czf OUT, -cvzf OUT.
			if i == 0 || strings.HasPrefix(a, "-") {
				if strings.HasSuffix(a, "f") && i+1 < len(args) && !strings.HasPrefix(a, "--") {
					out = args[i+1]
					i++
				}
				continue
			}
			inputs = append(inputs, a)
		}
	case "zip", "7z":
		files := operands(args, nil)
		if tool == "7z" && len(files) > 0 {
			files = files[1:] // the verb: a
		}
		if len(files) > 0 {
			out, inputs = files[0], files[1:]
		}
	default: // gzip FILE writes FILE.gz beside it
		files := operands(args, nil)
		if len(files) > 0 {
			inputs = files
			out = files[0] + ".gz"
		}
	}
	disk := false
	for _, in := range inputs {
		disk = disk || activity.VMDiskFile(in)
	}
	if out == "" || (!activity.OnDatastore(out) && !disk) {
		return e, false
	}
	e.Action, e.Path, e.Dest = activity.FileCopy, strings.Join(inputs, " "), out
	if disk {
		e.Action = activity.DiskCopy
	}
	e.Datastore = activity.DatastoreOf(out)
	return e, true
}

package staging

import "strings"

// CommandKind is what a command does to files, as far as staging goes.
type CommandKind uint8

const (
	CommandOther     CommandKind = iota // nothing of interest
	CommandArchiver                     // creates an archive or compresses
	CommandExtractor                    // extracts, decompresses, lists or tests
	CommandCopy                         // copies or moves files
	CommandScript                       // an interpreter or shell running code
	CommandEncryptor                    // encrypts a file
)

func (k CommandKind) String() string {
	switch k {
	case CommandArchiver:
		return "archiver"
	case CommandExtractor:
		return "extractor"
	case CommandCopy:
		return "copy"
	case CommandScript:
		return "script"
	case CommandEncryptor:
		return "encryptor"
	}
	return "other"
}

// Command is a classified command line.
type Command struct {
	Kind CommandKind
	// Tool is the canonical tool name (tar, zip, 7z, gzip, compress-archive,
	// zipfile, gpg…), empty for CommandOther.
	Tool string
	// Output is the archive (or encrypted file, or copy destination) as
	// written on the command line, not yet resolved against the cwd; "-"
	// means standard output and "" unknown.
	Output string
	// Inputs are the paths the command reads, as written (tar -C applied).
	Inputs []string
	// Encrypted is set when the command line asks for a password or
	// encryption (zip -P/-e, 7z -p, rar -hp, ditto --password…).
	Encrypted bool
	// Lists are files that hold the names of more inputs, one a line (tar
	// -T, 7z and rar @listfile), as written; their names are relative to
	// ListDir (tar -C) or the cwd.
	Lists   []string
	ListDir string
	// Recursive is set for a copy of whole trees (cp -r, xcopy /s,
	// robocopy /e, Copy-Item -Recurse): a batch of files whose number the
	// command line does not say.
	Recursive bool
	// Copies are the copies a shell's command line makes in the shell's
	// own process (cmd's copy and move, PowerShell's Copy-Item), beside
	// what the command is itself.
	Copies []Command
}

type toolFamily uint8

const (
	famNone toolFamily = iota
	famTar
	famZip
	famUnzip
	fam7z
	famRar
	famUnrar
	famCompressor
	famDecompressor
	famCpio
	famDitto
	famMakecab
	famExpand
	famPowershell
	famPython
	famScript
	famCopy
	famWinCopy
	famGpg
	famOpenssl
	famAge
	famZipcloak
	famCcrypt
	famHdiutil
	famAppleArchive
	famBusybox
)

type toolInfo struct {
	family toolFamily
	name   string // canonical name
	suffix string // compressors: the suffix they add
}

var tools = map[string]toolInfo{}

func addTools(f toolFamily, names ...string) {
	for _, n := range names {
		tools[n] = toolInfo{family: f, name: n}
	}
}

func init() {
	addTools(famTar, "tar", "gtar", "bsdtar")
	addTools(famZip, "zip")
	// 7-Zip's self-extracting modules (their OriginalFileName) unpack.
	addTools(famUnzip, "unzip", "funzip", "7zfm", "unar", "lsar", "7zs.sfx", "7zsd.sfx", "7z.sfx", "7zcon.sfx")
	addTools(fam7z, "7z", "7za", "7zr", "7zz", "7zg")
	addTools(famRar, "rar", "winrar")
	addTools(famUnrar, "unrar")
	for name, suffix := range map[string]string{
		"gzip": ".gz", "pigz": ".gz", "bzip2": ".bz2", "pbzip2": ".bz2", "lbzip2": ".bz2",
		"xz": ".xz", "pixz": ".xz", "lzma": ".lzma", "zstd": ".zst", "pzstd": ".zst",
		"zstdmt": ".zst", "lz4": ".lz4", "lzop": ".lzo", "lzip": ".lz", "plzip": ".lz",
		"compress": ".Z", "brotli": ".br",
	} {
		tools[name] = toolInfo{family: famCompressor, name: name, suffix: suffix}
	}
	addTools(famDecompressor, "gunzip", "zcat", "gzcat", "unpigz", "bunzip2", "bzcat", "lbunzip2",
		"unxz", "xzcat", "unlzma", "lzcat", "unzstd", "zstdcat", "unlz4", "lz4cat",
		"uncompress", "unlzip", "zless", "zmore", "zgrep", "xzgrep", "bzgrep", "zstdgrep")
	addTools(famCpio, "cpio")
	addTools(famDitto, "ditto")
	addTools(famMakecab, "makecab")
	addTools(famExpand, "expand", "extrac32")
	addTools(famPowershell, "powershell", "pwsh", "powershell_ise")
	addTools(famPython, "python", "python2", "python3", "pypy", "pypy3", "py", "pythonw")
	addTools(famScript, "perl", "ruby", "node", "php", "osascript", "bash", "sh", "zsh", "dash",
		"ksh", "fish", "cmd", "cscript", "wscript", "mshta", "java", "lua", "tclsh", "swift")
	addTools(famCopy, "cp", "mv", "rsync", "scp", "install", "robocopy", "xcopy", "dd", "pv", "rclone", "gcp", "gmv")
	addTools(famWinCopy, "esentutl", "reg", "ntdsutil")
	addTools(famGpg, "gpg", "gpg2")
	addTools(famOpenssl, "openssl")
	addTools(famAge, "age", "rage")
	addTools(famZipcloak, "zipcloak")
	addTools(famCcrypt, "ccrypt", "ccencrypt", "mcrypt")
	addTools(famHdiutil, "hdiutil")
	addTools(famAppleArchive, "aa")
	addTools(famBusybox, "busybox", "toybox")
}

// toolKey lower-cases an executable base name and drops ".exe" into buf,
// returning the used length; 0 means the name is too long to be a tool.
func toolKey(base string, buf *[32]byte) int {
	if len(base) > 4 && strings.EqualFold(base[len(base)-4:], ".exe") {
		base = base[:len(base)-4]
	}
	// versioned interpreters: python3.12 → python3
	if strings.HasPrefix(base, "python") || strings.HasPrefix(base, "pypy") {
		if i := strings.IndexByte(base, '.'); i > 0 {
			base = base[:i]
		}
	}
	if len(base) == 0 || len(base) > len(buf) {
		return 0
	}
	for i := 0; i < len(base); i++ {
		buf[i] = lowerASCII(base[i])
	}
	return len(base)
}

func lookupTool(base string) (toolInfo, bool) {
	var buf [32]byte
	n := toolKey(base, &buf)
	if n == 0 {
		return toolInfo{}, false
	}
	t, ok := tools[string(buf[:n])]
	return t, ok
}

// Classify says what the command line does: archiver, extractor, copy,
// script, encryptor or other, with its output and inputs as written. It
// reads only exe and argv; nothing is resolved against the file system.
func Classify(exe string, argv []string, style PathStyle) Command {
	if style == PathAuto {
		style = Posix
	}
	name := exe
	if name == "" && len(argv) > 0 {
		name = argv[0]
	}
	args := argv
	if len(args) > 0 {
		args = args[1:]
	}
	t, ok := lookupTool(style.baseName(name))
	if ok && t.family == famBusybox {
		if len(args) == 0 {
			return Command{}
		}
		t, ok = lookupTool(style.baseName(args[0]))
		args = args[1:]
	}
	if !ok {
		return Command{}
	}
	var c Command
	switch t.family {
	case famTar:
		c = classifyTar(args, style)
	case famZip:
		c = classifyZip(args)
	case famUnzip, famUnrar, famDecompressor, famExpand:
		c = Command{Kind: CommandExtractor}
	case fam7z:
		c = classify7z(args)
	case famRar:
		c = classifyRar(args)
	case famCompressor:
		c = classifyCompressor(t, args)
	case famCpio:
		c = classifyCpio(args)
	case famDitto:
		c = classifyDitto(args)
	case famMakecab:
		c = classifyMakecab(args)
	case famPowershell:
		c = classifyPowershell(args)
	case famPython:
		c = classifyPython(args)
	case famScript:
		c = Command{Kind: CommandScript}
		if t.name == "cmd" {
			c = classifyCmd(args)
		}
	case famCopy:
		c = Command{Kind: CommandCopy, Recursive: copyRecursive(t.name, args)}
		switch pos := style.positionals(args); {
		case len(pos) >= 2 && t.name == "robocopy":
			// robocopy SOURCE DEST [FILE…]: the files are filters of SOURCE.
			c.Output, c.Inputs = pos[1], pos[:1]
		case len(pos) >= 2:
			c.Output, c.Inputs = pos[len(pos)-1], pos[:len(pos)-1]
		}
	case famWinCopy:
		c = classifyWindowsCopy(t.name, args)
	case famGpg:
		c = classifyGpg(args)
	case famOpenssl:
		c = classifyOpenssl(args)
	case famAge:
		c = classifyAge(args)
	case famZipcloak, famCcrypt:
		c = Command{Kind: CommandEncryptor, Encrypted: true}
		if pos := style.positionals(args); len(pos) > 0 {
			c.Inputs = pos[:1]
			c.Output = pos[0]
		}
	case famHdiutil:
		c = classifyHdiutil(args)
	case famAppleArchive:
		c = classifyAppleArchive(args)
	}
	if c.Kind != CommandOther && c.Tool == "" {
		c.Tool = t.name
	}
	return c
}

// copyRecursive reports whether a copy tool's options copy whole trees.
func copyRecursive(tool string, args []string) bool {
	switch tool {
	case "robocopy", "xcopy":
		return windowsRecursive(args)
	case "rsync":
		for _, a := range args {
			if a == "--recursive" || a == "--archive" || len(a) > 1 && a[0] == '-' && a[1] != '-' && strings.ContainsAny(a, "ra") {
				return true
			}
		}
	case "cp", "gcp", "scp":
		for _, a := range args {
			if a == "--recursive" || a == "--archive" || len(a) > 1 && a[0] == '-' && a[1] != '-' && strings.ContainsAny(a, "rRa") {
				return true
			}
		}
	}
	return false
}

// positionals returns the arguments that are not options ("--" ends
// options). On Windows a switch may also start with '/' (robocopy /E /MIR,
// xcopy /S /I): a path there starts with a drive letter or \\, so such an
// argument is never a path.
func (s PathStyle) positionals(args []string) []string {
	var out []string
	for i, a := range args {
		if a == "--" {
			return append(out, args[i+1:]...)
		}
		if len(a) > 1 && (a[0] == '-' || (s == Windows && a[0] == '/')) {
			continue
		}
		out = append(out, a)
	}
	return out
}

// readers copy the files they read to their stdout, feeding a pipeline.
var readers = map[string]bool{"cat": true, "tac": true, "pv": true, "dd": true}

// readerInputs are the files a reader (cat a b c, pv f, dd if=f) feeds to
// its stdout, as written; ok is false for other programs.
func readerInputs(exe string, argv []string, style PathStyle) (inputs []string, ok bool) {
	var buf [32]byte
	n := toolKey(style.baseName(exe), &buf)
	name := string(buf[:n])
	if !readers[name] {
		return nil, false
	}
	args := argvTail(argv)
	if name == "dd" {
		for _, a := range args {
			if f, found := strings.CutPrefix(a, "if="); found && f != "" {
				inputs = append(inputs, f)
			}
		}
		return inputs, true
	}
	for _, a := range style.positionals(args) {
		if a != "-" {
			inputs = append(inputs, a)
		}
	}
	return inputs, true
}

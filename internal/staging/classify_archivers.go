package staging

import "strings"

// tarArgLetters take a value: in old-style bundles ("czf out.tgz") from the
// following words in order, in "-czf out.tgz" from the rest of the cluster or
// the next word.
const tarArgLetters = "fbCTXgKLNVHIF"

var tarLongWithValue = map[string]bool{
	"--file": true, "--directory": true, "--files-from": true, "--exclude": true, "--exclude-from": true,
	"--transform": true, "--xform": true, "--owner": true, "--group": true, "--mode": true, "--format": true,
	"--use-compress-program": true, "--blocking-factor": true, "--label": true, "--newer": true,
	"--after-date": true, "--newer-mtime": true, "--listed-incremental": true, "--to-command": true,
	"--checkpoint-action": true, "--rsh-command": true, "--info-script": true, "--new-volume-script": true,
	"--volno-file": true, "--tape-length": true, "--record-size": true, "--sort": true, "--mtime": true,
	"--suffix": true, "--starting-file": true, "--index-file": true, "--strip-components": true,
	"--options": true, "--include": true, "--gname": true, "--uname": true,
}

func classifyTar(args []string, style PathStyle) Command {
	var mode byte // c create, x extract, t list, r/u append, d diff
	c := Command{Tool: "tar"}
	dir := ""
	var pending []byte // value letters waiting for words
	setMode := func(m byte) {
		if mode == 0 || m == 'x' || m == 't' {
			mode = m
		}
	}
	take := func(letter byte, value string) {
		switch letter {
		case 'f':
			c.Output = value
		case 'C':
			dir = value
		case 'T':
			if value != "-" {
				c.Lists = append(c.Lists, value)
				c.ListDir = dir
			}
		}
	}
	bundle := func(letters string, next func() (string, bool), attached bool) {
		for k := 0; k < len(letters); k++ {
			l := letters[k]
			switch l {
			case 'c':
				setMode('c')
			case 'x':
				setMode('x')
			case 't':
				setMode('t')
			case 'r', 'u', 'A':
				setMode('r')
			case 'd':
				setMode('d')
			}
			if strings.IndexByte(tarArgLetters, l) < 0 {
				continue
			}
			if attached && k+1 < len(letters) {
				take(l, letters[k+1:])
				return
			}
			if attached {
				if v, ok := next(); ok {
					take(l, v)
				}
				continue
			}
			pending = append(pending, l)
		}
	}
	i := 0
	next := func() (string, bool) {
		if i < len(args) {
			i++
			return args[i-1], true
		}
		return "", false
	}
	endOpts := false
	for i < len(args) {
		a := args[i]
		i++
		if !endOpts && i == 1 && a != "" && a[0] != '-' && !strings.ContainsAny(a, `/\.`) && looksLikeTarBundle(a) {
			bundle(a, next, false)
			continue
		}
		switch {
		case len(pending) > 0 && !endOpts:
			take(pending[0], a)
			pending = pending[1:]
		case !endOpts && a == "--":
			endOpts = true
		case !endOpts && strings.HasPrefix(a, "--"):
			name, value, hasValue := strings.Cut(a, "=")
			switch name {
			case "--create":
				setMode('c')
			case "--extract", "--get":
				setMode('x')
			case "--list":
				setMode('t')
			case "--append", "--update", "--catenate", "--concatenate":
				setMode('r')
			case "--diff", "--compare", "--delete", "--test-label":
				setMode('d')
			}
			if !tarLongWithValue[name] {
				continue
			}
			if !hasValue {
				value, _ = next()
			}
			switch name {
			case "--file":
				c.Output = value
			case "--directory":
				dir = value
			case "--files-from":
				if value != "-" {
					c.Lists = append(c.Lists, value)
					c.ListDir = dir
				}
			}
		case !endOpts && len(a) > 1 && a[0] == '-':
			bundle(a[1:], next, true)
		default:
			if dir != "" {
				a = style.joinRaw(dir, a)
			}
			c.Inputs = append(c.Inputs, a)
		}
	}
	switch mode {
	case 'c', 'r':
		c.Kind = CommandArchiver
	case 'x', 't', 'd':
		return Command{Kind: CommandExtractor, Tool: "tar"}
	default:
		// No mode: tar refuses to run, so it cannot stage anything.
		return Command{}
	}
	if c.Kind == CommandArchiver && len(c.Inputs) == 0 && len(c.Lists) == 0 && dir != "" {
		c.Inputs = []string{dir}
	}
	return c
}

func looksLikeTarBundle(a string) bool {
	for i := 0; i < len(a); i++ {
		c := a[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return strings.ContainsAny(a, "cxtruAd")
}

func classifyZip(args []string) Command {
	c := Command{Kind: CommandArchiver, Tool: "zip"}
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		if strings.HasPrefix(a, "--") {
			name, _, hasValue := strings.Cut(a, "=")
			switch name {
			case "--encrypt":
				c.Encrypted = true
			case "--password":
				c.Encrypted = true
				if !hasValue {
					i++
				}
			case "--delete", "--show-files":
				return Command{Kind: CommandOther}
			case "--exclude", "--include":
				for i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
					i++
				}
			case "--output-file", "--temp-path", "--suffixes", "--compression-method", "--split-size", "--unix-time-after", "--comment":
				if !hasValue {
					i++
				}
			}
			continue
		}
		switch a {
		case "-sf", "-d":
			return Command{Kind: CommandOther}
		case "-x", "-i":
			for i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				i++
			}
			continue
		case "-tt", "-TT":
			i++
			continue
		case "-sp", "-sc", "-so", "-su", "-sv":
			continue
		}
		cluster := a[1:]
		for k := 0; k < len(cluster); k++ {
			switch cluster[k] {
			case 'e':
				c.Encrypted = true
			case 'P':
				c.Encrypted = true
				if k+1 == len(cluster) {
					i++
				}
				k = len(cluster)
			case 'b', 't', 'n', 'O', 'Z', 's':
				if k+1 == len(cluster) {
					if cluster[k] == 'O' && i+1 < len(args) {
						c.Output = args[i+1]
					}
					i++
				}
				k = len(cluster)
			case 'x', 'i':
				for i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
					i++
				}
				k = len(cluster)
			}
		}
	}
	if len(pos) == 0 {
		return c
	}
	if c.Output == "" {
		// zip adds .zip to an archive named without a suffix.
		c.Output = withSuffix(pos[0], ".zip")
	}
	c.Inputs = pos[1:]
	return c
}

// withSuffix is the archive a tool writes when named name: name itself
// when its last element has a suffix, else name with the tool's suffix
// added (zip, 7z and rar add theirs).
func withSuffix(name, suffix string) string {
	if name == "" || name == "-" {
		return name
	}
	base := name
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		base = name[i+1:]
	}
	// zip and 7z add theirs when the name has no dot at all: a leading
	// dot counts (`zip -r .pgdump.zip d` writes .pgdump.zip, `zip .x d`
	// writes .x).
	if base == "" || strings.IndexByte(base, '.') >= 0 {
		return name
	}
	return name + suffix
}

// listOperands moves @listfile operands (7z, rar) to c.Lists.
func listOperands(c *Command) {
	kept := c.Inputs[:0:0]
	for _, in := range c.Inputs {
		if len(in) > 1 && in[0] == '@' {
			c.Lists = append(c.Lists, in[1:])
			continue
		}
		kept = append(kept, in)
	}
	c.Inputs = kept
}

// sevenZipSuffixes are what 7z adds to an archive named without a
// suffix, by -t type.
var sevenZipSuffixes = map[string]string{"7z": ".7z", "zip": ".zip", "tar": ".tar", "gzip": ".gz", "bzip2": ".bz2",
	"xz": ".xz", "wim": ".wim", "zstd": ".zst"}

func classify7z(args []string) Command {
	var pos []string
	c := Command{}
	suffix := ".7z"
	for i, a := range args {
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) > 1 && a[0] == '-' {
			lower := strings.ToLower(a)
			switch {
			case strings.HasPrefix(lower, "-p"):
				c.Encrypted = true
			case lower == "-mhe" || lower == "-mhe=on" || lower == "-mhe+" || strings.HasPrefix(lower, "-mem="):
				c.Encrypted = true
			case lower == "-so":
				c.Output = "-"
			case strings.HasPrefix(lower, "-t") && len(lower) > 2:
				// The archive type picks the suffix 7z adds: -tzip .zip.
				if ext, ok := sevenZipSuffixes[lower[2:]]; ok {
					suffix = ext
				}
			}
			continue
		}
		pos = append(pos, a)
	}
	if len(pos) == 0 {
		return Command{Tool: "7z"}
	}
	switch strings.ToLower(pos[0]) {
	case "a", "u":
		c.Kind = CommandArchiver
	case "x", "e", "l", "t":
		return Command{Kind: CommandExtractor, Tool: "7z"}
	default:
		return Command{Tool: "7z"}
	}
	c.Tool = "7z"
	if len(pos) > 1 && c.Output == "" {
		c.Output = withSuffix(pos[1], suffix)
	}
	if len(pos) > 2 {
		c.Inputs = pos[2:]
	}
	listOperands(&c)
	return c
}

func classifyRar(args []string) Command {
	var pos []string
	c := Command{}
	for i, a := range args {
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) > 1 && a[0] == '-' {
			lower := strings.ToLower(a)
			if strings.HasPrefix(lower, "-hp") || strings.HasPrefix(lower, "-p") && lower != "-p-" {
				c.Encrypted = true
			}
			continue
		}
		pos = append(pos, a)
	}
	if len(pos) == 0 {
		return Command{Tool: "rar"}
	}
	switch strings.ToLower(pos[0]) {
	case "a", "m", "u", "f", "mf":
		c.Kind = CommandArchiver
	case "x", "e", "l", "lt", "lb", "v", "vt", "vb", "t", "p":
		return Command{Kind: CommandExtractor, Tool: "rar"}
	default:
		return Command{Tool: "rar"}
	}
	c.Tool = "rar"
	if len(pos) > 1 {
		c.Output = withSuffix(pos[1], ".rar")
	}
	if len(pos) > 2 {
		c.Inputs = pos[2:]
	}
	listOperands(&c)
	return c
}

func classifyCompressor(t toolInfo, args []string) Command {
	c := Command{Kind: CommandArchiver, Tool: t.name}
	stdout := false
	outValue := ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			c.Inputs = append(c.Inputs, args[i+1:]...)
			break
		}
		if a == "-" {
			stdout = true
			continue
		}
		if len(a) < 2 || a[0] != '-' {
			c.Inputs = append(c.Inputs, a)
			continue
		}
		if strings.HasPrefix(a, "--") {
			name, value, hasValue := strings.Cut(a, "=")
			switch name {
			case "--decompress", "--uncompress", "--list", "--test":
				return Command{Kind: CommandExtractor, Tool: t.name}
			case "--stdout", "--to-stdout":
				stdout = true
			case "--output":
				if !hasValue && i+1 < len(args) {
					i++
					value = args[i]
				}
				outValue = value
			case "--suffix", "--format", "--threads", "--memlimit", "--blocksize", "--processes":
				if !hasValue {
					i++
				}
			}
			continue
		}
		cluster := a[1:]
		for k := 0; k < len(cluster); k++ {
			l := cluster[k]
			switch {
			case l == 'd':
				return Command{Kind: CommandExtractor, Tool: t.name}
			case l == 't' && t.name != "lzop":
				return Command{Kind: CommandExtractor, Tool: t.name}
			case l == 'l' && t.name != "lz4" && t.name != "lzop":
				return Command{Kind: CommandExtractor, Tool: t.name}
			case l == 'c':
				stdout = true
			case strings.IndexByte("oSbpDFCMT", l) >= 0:
				value := cluster[k+1:]
				if value == "" && i+1 < len(args) {
					i++
					value = args[i]
				}
				if l == 'o' {
					outValue = value
				}
				k = len(cluster)
			}
		}
	}
	switch {
	case outValue != "":
		c.Output = outValue
	case stdout:
		c.Output = "-"
	case (t.name == "lz4" || t.name == "brotli") && len(c.Inputs) == 2:
		c.Output = c.Inputs[1]
		c.Inputs = c.Inputs[:1]
	case len(c.Inputs) >= 1:
		c.Output = c.Inputs[0] + t.suffix
	default:
		c.Output = "-"
	}
	return c
}

func classifyCpio(args []string) Command {
	c := Command{Tool: "cpio"}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--create":
			c.Kind = CommandArchiver
		case a == "--extract" || a == "--list":
			return Command{Kind: CommandExtractor, Tool: "cpio"}
		case a == "--pass-through":
			c.Kind = CommandCopy
		case strings.HasPrefix(a, "--file="):
			c.Output = a[len("--file="):]
		case a == "--file" && i+1 < len(args):
			i++
			c.Output = args[i]
		case len(a) > 1 && a[0] == '-' && a[1] != '-':
			cl := a[1:]
			for k := 0; k < len(cl); k++ {
				switch cl[k] {
				case 'o':
					c.Kind = CommandArchiver
				case 'i', 't':
					return Command{Kind: CommandExtractor, Tool: "cpio"}
				case 'p':
					c.Kind = CommandCopy
				case 'O', 'F':
					v := cl[k+1:]
					if v == "" && i+1 < len(args) {
						i++
						v = args[i]
					}
					c.Output = v
					k = len(cl)
				case 'H', 'C', 'M', 'R', 'E', 'I':
					if k+1 == len(cl) {
						i++
					}
					k = len(cl)
				}
			}
		}
	}
	if c.Kind == CommandArchiver && c.Output == "" {
		c.Output = "-"
	}
	if c.Kind == CommandOther {
		return Command{}
	}
	return c
}

func classifyDitto(args []string) Command {
	create, extract, encrypted := false, false, false
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--password":
			encrypted = true
		case a == "--zlibCompressionLevel" || a == "--arch" || a == "--bom":
			i++
		case strings.HasPrefix(a, "--"):
		case len(a) > 1 && a[0] == '-':
			if strings.ContainsRune(a, 'c') {
				create = true
			}
			if strings.ContainsRune(a, 'x') {
				extract = true
			}
		default:
			pos = append(pos, a)
		}
	}
	switch {
	case extract:
		return Command{Kind: CommandExtractor, Tool: "ditto"}
	case create:
		c := Command{Kind: CommandArchiver, Tool: "ditto", Encrypted: encrypted}
		if len(pos) >= 2 {
			c.Output, c.Inputs = pos[len(pos)-1], pos[:len(pos)-1]
		} else {
			c.Inputs = pos
		}
		return c
	}
	c := Command{Kind: CommandCopy, Tool: "ditto"}
	if len(pos) >= 2 {
		c.Output, c.Inputs = pos[len(pos)-1], pos[:len(pos)-1]
	}
	return c
}

func classifyMakecab(args []string) Command {
	c := Command{Kind: CommandArchiver, Tool: "makecab"}
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) > 1 && (a[0] == '/' || a[0] == '-') && len(a) <= 3 {
			switch strings.ToUpper(a[1:2]) {
			case "D", "L", "F":
				if len(a) == 2 {
					i++
				}
			}
			continue
		}
		pos = append(pos, a)
	}
	if len(pos) > 0 {
		c.Inputs = pos[:1]
	}
	if len(pos) > 1 {
		c.Output = pos[1]
	}
	return c
}

func classifyHdiutil(args []string) Command {
	if len(args) == 0 || args[0] != "create" && args[0] != "makehybrid" {
		return Command{}
	}
	c := Command{Kind: CommandArchiver, Tool: "hdiutil"}
	var pos []string
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-srcfolder" || a == "-srcdir":
			if i+1 < len(args) {
				i++
				c.Inputs = append(c.Inputs, args[i])
			}
		case a == "-encryption" || a == "-stdinpass":
			c.Encrypted = true
			if a == "-encryption" && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				i++
			}
		case a == "-o":
			if i+1 < len(args) {
				i++
				c.Output = args[i]
			}
		case strings.HasPrefix(a, "-"):
			// hdiutil options that take a value; flags stand alone.
			switch a {
			case "-volname", "-fs", "-format", "-size", "-type", "-layout", "-srcimagekey", "-imagekey", "-fsargs", "-uid", "-gid", "-mode", "-certificate", "-pubkey":
				i++
			}
		default:
			pos = append(pos, a)
		}
	}
	if len(c.Inputs) == 0 {
		return Command{}
	}
	if c.Output == "" && len(pos) > 0 {
		c.Output = pos[len(pos)-1]
	}
	return c
}

func classifyAppleArchive(args []string) Command {
	if len(args) == 0 {
		return Command{}
	}
	switch args[0] {
	case "archive", "append":
	case "extract", "list", "verify":
		return Command{Kind: CommandExtractor, Tool: "aa"}
	default:
		return Command{}
	}
	c := Command{Kind: CommandArchiver, Tool: "aa"}
	for i := 1; i+1 < len(args); i++ {
		switch args[i] {
		case "-d":
			c.Inputs = append(c.Inputs, args[i+1])
			i++
		case "-o":
			c.Output = args[i+1]
			i++
		case "-i", "-include-path", "-exclude-path", "-list", "-a", "-b", "-t", "-v":
			if args[i] != "-v" && args[i] != "-a" {
				i++
			}
		}
		if strings.HasPrefix(args[i], "-key") || strings.HasPrefix(args[i], "-password") {
			c.Encrypted = true
		}
	}
	return c
}

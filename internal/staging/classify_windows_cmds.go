package staging

import "strings"

// Windows copies often run inside the shell that was started: cmd's copy
// and move are built in, and PowerShell's Copy-Item runs in its own
// process, so no process of their own is ever seen. Their command lines are
// read here; a copy tool with a process of its own (xcopy, robocopy) has
// its own process creation and is classified there.

// classifyCmd reads `cmd /c …` (or /k, /r): each command of an &, &&, ||
// or | chain, `for … do copy …` loops, and the %% that Sysmon's rendering
// of batch variables doubles. The built-in copy and move are what it
// reports, in Copies; anything else in the chain has a process of its own.
func classifyCmd(args []string) Command {
	text := ""
	for i, a := range args {
		la := strings.ToLower(a)
		if la == "/c" || la == "/k" || la == "/r" {
			text = strings.Join(args[i+1:], " ")
			break
		}
		if strings.HasPrefix(la, "/c") && len(la) > 2 && la[2] == '"' {
			text = strings.Join(append([]string{a[2:]}, args[i+1:]...), " ")
			break
		}
	}
	c := Command{Kind: CommandScript}
	if text == "" {
		return c
	}
	text = strings.ReplaceAll(strings.TrimSpace(text), "%%", "%")
	if len(text) >= 2 && text[0] == '"' && text[len(text)-1] == '"' {
		// cmd drops the quotes around the whole command line.
		text = text[1 : len(text)-1]
	}
	for _, seg := range cmdChain(text) {
		words := cmdWords(seg)
		var loop *forLoop
		for len(words) > 0 && strings.EqualFold(words[0], "for") {
			l, rest := parseFor(words)
			if l == nil {
				words = nil
				break
			}
			loop, words = l, rest
		}
		if len(words) == 0 {
			continue
		}
		name := strings.ToLower(strings.TrimPrefix(words[0], "@"))
		switch name {
		case "copy", "move":
			cp := Command{Kind: CommandCopy, Tool: name}
			pos := Windows.positionals(words[1:])
			var operands []string
			for _, p := range pos {
				// copy a+b c concatenates: each part is an input.
				operands = append(operands, strings.Split(p, "+")...)
			}
			switch {
			case len(operands) >= 2:
				cp.Output, cp.Inputs = operands[len(operands)-1], operands[:len(operands)-1]
			case len(operands) == 1:
				cp.Inputs, cp.Output = operands, "." // copy X: into the current directory
			}
			if loop != nil {
				loop.expand(&cp)
			}
			c.Copies = append(c.Copies, cp)
		}
	}
	return c
}

// forLoop is `for [/R dir] %v in (set) do …`.
type forLoop struct {
	variable  string
	set       []string
	dir       string // /R's root, "" for none
	recursive bool
}

// parseFor reads a for loop's head and returns the command after "do".
func parseFor(words []string) (*forLoop, []string) {
	l := &forLoop{}
	for i := 1; i < len(words); i++ {
		w := strings.ToLower(words[i])
		switch {
		case w == "/r":
			l.recursive = true
			if i+1 < len(words) && !strings.HasPrefix(words[i+1], "%") {
				i++
				l.dir = words[i]
			}
		case strings.HasPrefix(w, "%"):
			l.variable = words[i]
			i++
			if i >= len(words) || !strings.EqualFold(words[i], "in") {
				return nil, nil
			}
			for i++; i < len(words) && !strings.EqualFold(words[i], "do"); i++ {
				l.set = append(l.set, words[i])
			}
			if i >= len(words) {
				return nil, nil
			}
			return l, words[i+1:]
		}
		// /D, /L, /F and /F's quoted options are not what is copied.
	}
	return nil, nil
}

// expand puts the loop's set in place of its variable among cp's inputs:
// `for /R C:\Users\bob %f in (*.pdf) do copy %f X` copies C:\Users\bob\*.pdf,
// the whole tree.
func (l *forLoop) expand(cp *Command) {
	var inputs []string
	for _, in := range cp.Inputs {
		if !strings.EqualFold(strings.Trim(in, `"`), l.variable) {
			inputs = append(inputs, in)
			continue
		}
		for _, item := range l.set {
			if l.dir != "" {
				item = strings.TrimSuffix(l.dir, `\`) + `\` + item
			}
			inputs = append(inputs, item)
		}
	}
	cp.Inputs = inputs
	cp.Recursive = cp.Recursive || l.recursive
}

// cmdChain splits a cmd command line at &, &&, || and | outside quotes; ^
// escapes the next character.
func cmdChain(s string) []string {
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch == '"':
			quoted = !quoted
		case ch == '^' && !quoted:
			i++
		case (ch == '&' || ch == '|') && !quoted:
			out = append(out, s[start:i])
			if i+1 < len(s) && s[i+1] == ch {
				i++
			}
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// cmdWords splits one cmd command into words: spaces and tabs separate
// outside quotes, quotes are dropped, ^ escapes, and a leading ( or a
// trailing ) of a block is no part of a word.
func cmdWords(s string) []string {
	var out []string
	var cur strings.Builder
	in, quoted := false, false
	flush := func() {
		if in {
			out = append(out, cur.String())
			cur.Reset()
			in = false
		}
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '"':
			quoted = !quoted
			in = true
		case ch == '^' && !quoted && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			in = true
		case (ch == ' ' || ch == '\t' || ch == '(' || ch == ')') && !quoted:
			flush()
		default:
			cur.WriteByte(ch)
			in = true
		}
	}
	flush()
	return out
}

// psCopies finds Copy-Item and Move-Item (and their aliases copy, cp, cpi,
// move, mv, mi) among PowerShell tokens.
func psCopies(tokens []string) []Command {
	var out []Command
	start := psCommandStart(tokens)
	for i, tok := range tokens {
		if i < start || i > start && tokens[i-1] != ";" && tokens[i-1] != "|" {
			continue // a command name starts a statement or a pipeline stage
		}
		var tool string
		switch strings.ToLower(tok) {
		case "copy-item", "copy", "cp", "cpi":
			tool = "copy-item"
		case "move-item", "move", "mv", "mi":
			tool = "move-item"
		default:
			continue
		}
		out = append(out, psCopy(tool, tokens[i+1:]))
	}
	return out
}

// psValueOptions are powershell.exe's own options that take a value.
var psValueOptions = map[string]bool{"executionpolicy": true, "ep": true, "exec": true, "ex": true, "windowstyle": true,
	"w": true, "version": true, "v": true, "inputformat": true, "outputformat": true, "configurationname": true,
	"workingdirectory": true, "wd": true, "psconsolefile": true, "settingsfile": true}

// psCommandStart is the index of the first token past powershell.exe's own
// options: the first statement's command name.
func psCommandStart(tokens []string) int {
	for i := 0; i < len(tokens); i++ {
		tok := tokens[i]
		if len(tok) < 2 || tok[0] != '-' && tok[0] != '/' {
			return i
		}
		if psValueOptions[strings.ToLower(tok[1:])] {
			i++
		}
	}
	return len(tokens)
}

func psCopy(tool string, tokens []string) Command {
	c := Command{Kind: CommandCopy, Tool: tool}
	var positional []string
	for i := 0; i < len(tokens); i++ {
		tok := tokens[i]
		if tok == ";" || tok == "|" {
			break
		}
		if tok == "," {
			continue
		}
		if len(tok) < 2 || tok[0] != '-' {
			positional = append(positional, tok)
			continue
		}
		name := strings.TrimSuffix(strings.ToLower(tok[1:]), ":")
		switch {
		case len(name) >= 2 && strings.HasPrefix("destination", name):
			if i+1 < len(tokens) {
				i++
				c.Output = tokens[i]
			}
		case name == "lp" || name == "pspath" || strings.HasPrefix("path", name) && name != "" || len(name) >= 2 && strings.HasPrefix("literalpath", name):
			for i+1 < len(tokens) {
				i++
				if tokens[i] != "," {
					c.Inputs = append(c.Inputs, tokens[i])
				}
				if !(i+1 < len(tokens) && tokens[i+1] == ",") {
					break
				}
			}
		case len(name) >= 2 && strings.HasPrefix("recurse", name):
			c.Recursive = true
		case len(name) >= 2 && (strings.HasPrefix("filter", name) || strings.HasPrefix("include", name) || strings.HasPrefix("exclude", name)):
			i++ // a pattern, not a path
		}
	}
	if len(c.Inputs) == 0 && len(positional) > 0 {
		c.Inputs, positional = positional[:1], positional[1:]
	}
	if c.Output == "" && len(positional) > 0 {
		c.Output = positional[0]
	}
	return c
}

// windowsRecursive reports whether xcopy's or robocopy's switches copy a
// whole tree (/s, /e, /mir).
func windowsRecursive(args []string) bool {
	for _, a := range args {
		switch strings.ToLower(a) {
		case "/s", "/e", "/mir":
			return true
		}
	}
	return false
}

// classifyWindowsCopy reads the tools that write copies of files Windows
// keeps locked, the directory database and the registry hives, by their
// own syntax: esentutl /y SOURCE /d DEST (with /vss, out of a shadow
// copy), reg save KEY FILE, and ntdsutil's "ifm" "create full DIR" (a
// tree: the database and the SYSTEM and SECURITY hives). Their other
// commands copy nothing.
func classifyWindowsCopy(tool string, args []string) Command {
	switch tool {
	case "esentutl":
		c := Command{Kind: CommandCopy, Tool: "esentutl"}
		copying := false
		for i := 0; i < len(args); i++ {
			switch a := strings.ToLower(args[i]); {
			case a == "/y":
				copying = true
			case a == "/d" && i+1 < len(args):
				c.Output = args[i+1]
				i++
			case copying && len(c.Inputs) == 0 && !strings.HasPrefix(a, "/"):
				// The source follows /y, before or after /vss.
				c.Inputs = append(c.Inputs, args[i])
			}
		}
		if len(c.Inputs) == 0 || c.Output == "" {
			return Command{}
		}
		return c
	case "reg":
		if len(args) < 3 || !strings.EqualFold(args[0], "save") && !strings.EqualFold(args[0], "export") {
			return Command{}
		}
		c := Command{Kind: CommandCopy, Tool: "reg " + strings.ToLower(args[0]), Output: args[2]}
		if hive := hiveFile(args[1]); hive != "" {
			c.Inputs = []string{hive}
		}
		return c
	case "ntdsutil":
		for _, a := range args {
			words := strings.Fields(a)
			if len(words) >= 3 && strings.EqualFold(words[0], "create") && !strings.EqualFold(words[1], "sysvol") {
				dir := strings.Trim(strings.TrimSpace(strings.SplitN(a, words[1], 2)[1]), `"`)
				return Command{Kind: CommandCopy, Tool: "ntdsutil ifm", Recursive: true,
					Inputs: []string{`C:\Windows\NTDS\ntds.dit`}, Output: dir}
			}
		}
	}
	return Command{}
}

// hiveFile is the file behind a registry key reg save names, for the
// hives that hold secrets (HKLM\SAM, HKLM\SECURITY, HKLM\SYSTEM); "" for
// any other key.
func hiveFile(key string) string {
	k := strings.ToUpper(strings.Trim(key, `"`))
	k = strings.TrimPrefix(strings.TrimPrefix(k, `HKEY_LOCAL_MACHINE\`), `HKLM\`)
	switch k {
	case "SAM", "SECURITY", "SYSTEM":
		return `C:\Windows\System32\config\` + k
	}
	return ""
}

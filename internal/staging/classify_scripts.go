package staging

import (
	"encoding/base64"
	"strings"
	"unicode/utf16"
)

// classifyPython recognizes the standard library CLIs (python -m zipfile,
// python -m tarfile) that archive without any archiver binary running.
func classifyPython(args []string) Command {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-m" && i+1 < len(args) {
			module := args[i+1]
			rest := args[i+2:]
			if module != "zipfile" && module != "tarfile" {
				return Command{Kind: CommandScript}
			}
			c := Command{Tool: module}
			for k := 0; k < len(rest); k++ {
				switch rest[k] {
				case "-c", "--create":
					c.Kind = CommandArchiver
					if k+1 < len(rest) {
						c.Output = rest[k+1]
						c.Inputs = rest[k+2:]
					}
					return c
				case "-e", "--extract", "-l", "--list", "-t", "--test":
					return Command{Kind: CommandExtractor, Tool: module}
				}
			}
			return Command{Kind: CommandScript, Tool: module}
		}
		if len(a) == 0 || a[0] != '-' || a == "-c" {
			break
		}
	}
	return Command{Kind: CommandScript}
}

func classifyGpg(args []string) Command {
	c := Command{Tool: "gpg"}
	encrypt := false
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--symmetric" || a == "--encrypt":
			encrypt = true
		case a == "--decrypt" || a == "--verify" || a == "--list-packets" || a == "--import":
			return Command{Tool: "gpg"}
		case a == "--output" || a == "-o":
			if i+1 < len(args) {
				i++
				c.Output = args[i]
			}
		case strings.HasPrefix(a, "--output="):
			c.Output = a[len("--output="):]
		case a == "--recipient" || a == "-r" || a == "--passphrase" || a == "--passphrase-file" ||
			a == "--homedir" || a == "--cipher-algo" || a == "--compress-algo" || a == "-u" ||
			a == "--local-user" || a == "--batch-size" || a == "--pinentry-mode" || a == "--passphrase-fd" || a == "-z":
			i++
		case strings.HasPrefix(a, "--"):
		case len(a) > 1 && a[0] == '-':
			cl := a[1:]
			for k := 0; k < len(cl); k++ {
				switch cl[k] {
				case 'c', 'e':
					encrypt = true
				case 'd':
					return Command{Tool: "gpg"}
				case 'o':
					v := cl[k+1:]
					if v == "" && i+1 < len(args) {
						i++
						v = args[i]
					}
					c.Output = v
					k = len(cl)
				case 'r', 'u', 'z':
					if k+1 == len(cl) {
						i++
					}
					k = len(cl)
				}
			}
		default:
			pos = append(pos, a)
		}
	}
	if !encrypt {
		return Command{}
	}
	c.Kind, c.Encrypted = CommandEncryptor, true
	c.Inputs = pos
	return c
}

func classifyOpenssl(args []string) Command {
	if len(args) == 0 {
		return Command{}
	}
	sub := args[0]
	switch {
	case sub == "enc", sub == "smime", sub == "cms":
	case strings.HasPrefix(sub, "aes") || strings.HasPrefix(sub, "des") || strings.HasPrefix(sub, "chacha") ||
		strings.HasPrefix(sub, "camellia") || strings.HasPrefix(sub, "bf") || strings.HasPrefix(sub, "sm4"):
	default:
		return Command{}
	}
	c := Command{Kind: CommandEncryptor, Tool: "openssl", Encrypted: true}
	for i := 1; i < len(args); i++ {
		switch args[i] {
		case "-d", "-decrypt", "-verify":
			return Command{Tool: "openssl"}
		case "-in":
			if i+1 < len(args) {
				i++
				c.Inputs = append(c.Inputs, args[i])
			}
		case "-out":
			if i+1 < len(args) {
				i++
				c.Output = args[i]
			}
		}
	}
	return c
}

func classifyAge(args []string) Command {
	c := Command{Kind: CommandEncryptor, Tool: "age", Encrypted: true}
	var pos []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; a {
		case "-d", "--decrypt":
			return Command{Tool: "age"}
		case "-o", "--output":
			if i+1 < len(args) {
				i++
				c.Output = args[i]
			}
		case "-r", "--recipient", "-R", "--recipients-file", "-i", "--identity":
			i++
		default:
			if !strings.HasPrefix(a, "-") {
				pos = append(pos, a)
			}
		}
	}
	c.Inputs = pos
	return c
}

// classifyPowershell finds Compress-Archive and Expand-Archive in a
// PowerShell command line, including one passed as -EncodedCommand.
func classifyPowershell(args []string) Command {
	text := ""
	for i := 0; i < len(args); i++ {
		a := strings.ToLower(args[i])
		if (a == "-e" || a == "-ec" || a == "-enc" || strings.HasPrefix(a, "-encodedcommand") || a == "-en" || a == "-encoded") && i+1 < len(args) {
			if decoded, ok := decodePowershell(args[i+1]); ok {
				text += " " + decoded
				i++
				continue
			}
		}
		text += " " + args[i]
	}
	tokens := psTokens(text)
	copies := psCopies(tokens)
	if c, ok := zipFileCreate(text); ok {
		c.Copies = copies
		return c
	}
	for i, tok := range tokens {
		switch strings.ToLower(tok) {
		case "expand-archive":
			return Command{Kind: CommandExtractor, Tool: "expand-archive"}
		case "compress-archive":
			c := compressArchive(tokens[i+1:])
			c.Copies = copies
			return c
		}
	}
	return Command{Kind: CommandScript, Copies: copies}
}

func compressArchive(tokens []string) Command {
	c := Command{Kind: CommandArchiver, Tool: "compress-archive"}
	var positional [][]string
	var destination []string
	for i := 0; i < len(tokens); i++ {
		tok := tokens[i]
		if tok == ";" || tok == "|" {
			break
		}
		if tok == "," {
			continue
		}
		if len(tok) < 2 || tok[0] != '-' {
			// A positional value is one word or a comma-separated list.
			list := []string{tok}
			for i+2 < len(tokens) && tokens[i+1] == "," {
				list = append(list, tokens[i+2])
				i += 2
			}
			positional = append(positional, list)
			continue
		}
		// PowerShell accepts any unambiguous prefix of a parameter name.
		name := strings.TrimSuffix(strings.ToLower(tok[1:]), ":")
		var dest *[]string
		switch {
		case len(name) >= 2 && strings.HasPrefix("destinationpath", name):
			dest = &destination
		case name == "lp" || name == "pspath" || strings.HasPrefix("path", name) || strings.HasPrefix("literalpath", name):
			dest = &c.Inputs
		case len(name) >= 2 && strings.HasPrefix("compressionlevel", name):
			i++
			continue
		default:
			continue
		}
		// A value is one word, or a comma-separated list of words.
		for i+1 < len(tokens) {
			i++
			if v := tokens[i]; v != "," {
				*dest = append(*dest, v)
			}
			if !(i+1 < len(tokens) && tokens[i+1] == ",") && tokens[i] != "," {
				break
			}
		}
	}
	if len(c.Inputs) == 0 && len(positional) > 0 {
		c.Inputs = positional[0]
		positional = positional[1:]
	}
	if len(destination) > 0 {
		c.Output = destination[0]
	} else if len(positional) > 0 {
		c.Output = positional[0][0]
	}
	return c
}

func decodePowershell(s string) (string, bool) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw)%2 != 0 || len(raw) > 1<<20 {
		return "", false
	}
	u := make([]uint16, len(raw)/2)
	for i := range u {
		u[i] = uint16(raw[2*i]) | uint16(raw[2*i+1])<<8
	}
	return string(utf16.Decode(u)), true
}

// psTokens splits PowerShell text into words, honouring quotes and keeping
// ';', '|' and ',' as their own tokens.
func psTokens(s string) []string {
	var out []string
	var cur strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			out = append(out, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\'' || ch == '"':
			end := strings.IndexByte(s[i+1:], ch)
			if end < 0 {
				end = len(s) - i - 1
			}
			cur.WriteString(s[i+1 : i+1+end])
			inWord = true
			i += end + 1
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r':
			flush()
		case ch == ';' || ch == '|' || ch == ',' || ch == '{' || ch == '}' || ch == '(' || ch == ')':
			flush()
			if ch == ';' || ch == '|' || ch == ',' {
				out = append(out, string(ch))
			} else {
				out = append(out, ";")
			}
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	flush()
	return out
}

// zipFileCreate reads .NET's [IO.Compression.ZipFile]::CreateFromDirectory
// ('SOURCE', 'ARCHIVE'…), Compress-Archive's way without the cmdlet.
func zipFileCreate(text string) (Command, bool) {
	const method = "::createfromdirectory("
	i := indexFold(text, method)
	if i < 0 {
		return Command{}, false
	}
	args := text[i+len(method):]
	if end := strings.IndexByte(args, ')'); end >= 0 {
		args = args[:end]
	}
	parts := strings.Split(args, ",")
	if len(parts) < 2 {
		return Command{}, false
	}
	unquote := func(s string) string { return strings.Trim(strings.TrimSpace(s), `'"`) }
	return Command{Kind: CommandArchiver, Tool: "zipfile", Inputs: []string{unquote(parts[0])}, Output: unquote(parts[1])}, true
}

// indexFold is strings.Index for an ASCII lower-case sub, ignoring case.
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if equalFoldASCII(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

package staging

import (
	"encoding/base64"
	"reflect"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/stagewatch/stagewatch/internal/event"
)

func psEncode(s string) string {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		b[2*i], b[2*i+1] = byte(r), byte(r>>8)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func TestClassify(t *testing.T) {
	t.Parallel()
	type want struct {
		kind      CommandKind
		tool      string
		output    string
		inputs    []string
		encrypted bool
	}
	tests := []struct {
		style PathStyle
		argv  []string
		want  want
	}{
		// tar: every way of spelling create, extract and list
		{Posix, []string{"/usr/bin/tar", "czf", "/tmp/l.tgz", "loot"}, want{CommandArchiver, "tar", "/tmp/l.tgz", []string{"loot"}, false}},
		{Posix, []string{"tar", "-czvf", "out.tgz", "a", "b"}, want{CommandArchiver, "tar", "out.tgz", []string{"a", "b"}, false}},
		{Posix, []string{"tar", "-c", "-z", "-f", "out.tgz", "-C", "/tmp", "loot"}, want{CommandArchiver, "tar", "out.tgz", []string{"/tmp/loot"}, false}},
		{Posix, []string{"tar", "--create", "--gzip", "--file=out.tgz", "--directory", "/tmp", "loot"}, want{CommandArchiver, "tar", "out.tgz", []string{"/tmp/loot"}, false}},
		{Posix, []string{"tar", "-cf-", "dir"}, want{CommandArchiver, "tar", "-", []string{"dir"}, false}},
		{Posix, []string{"tar", "cfb", "out.tar", "20", "x"}, want{CommandArchiver, "tar", "out.tar", []string{"x"}, false}},
		{Posix, []string{"tar", "-cJf", "x.txz", "--exclude", "*.o", "src"}, want{CommandArchiver, "tar", "x.txz", []string{"src"}, false}},
		{Posix, []string{"tar", "rvf", "a.tar", "new"}, want{CommandArchiver, "tar", "a.tar", []string{"new"}, false}},
		{Posix, []string{"tar", "xzf", "a.tgz"}, want{kind: CommandExtractor, tool: "tar"}},
		{Posix, []string{"tar", "-xvf", "a.tar", "-C", "/tmp"}, want{kind: CommandExtractor, tool: "tar"}},
		{Posix, []string{"tar", "--extract", "-f", "a.tar"}, want{kind: CommandExtractor, tool: "tar"}},
		{Posix, []string{"tar", "tf", "a.tar"}, want{kind: CommandExtractor, tool: "tar"}},
		{Posix, []string{"tar", "--list", "--file", "a.tar"}, want{kind: CommandExtractor, tool: "tar"}},
		{Posix, []string{"tar", "-x", "-c", "-f", "weird.tar"}, want{kind: CommandExtractor, tool: "tar"}},
		{Posix, []string{"tar", "--version"}, want{}},
		{Posix, []string{"busybox", "tar", "czf", "x.tgz", "d"}, want{CommandArchiver, "tar", "x.tgz", []string{"d"}, false}},
		// zip
		{Posix, []string{"zip", "-r", "/tmp/l.zip", "loot"}, want{CommandArchiver, "zip", "/tmp/l.zip", []string{"loot"}, false}},
		{Posix, []string{"zip", "-P", "secret", "-r", "l.zip", "loot"}, want{CommandArchiver, "zip", "l.zip", []string{"loot"}, true}},
		{Posix, []string{"zip", "-er", "l.zip", "loot"}, want{CommandArchiver, "zip", "l.zip", []string{"loot"}, true}},
		{Posix, []string{"zip", "--encrypt", "l.zip", "a", "b", "-x", "*.tmp", "*.bak"}, want{CommandArchiver, "zip", "l.zip", []string{"a", "b"}, true}},
		{Posix, []string{"zip", "-d", "l.zip", "a"}, want{kind: CommandOther}},
		{Posix, []string{"zip", "-q", "-r", "-P", "pw", "/var/tmp/.pgdump.zip", ".pgdump"}, want{CommandArchiver, "zip", "/var/tmp/.pgdump.zip", []string{".pgdump"}, true}},
		{Posix, []string{"zip", "-qr", "/tmp/.b", ".b"}, want{CommandArchiver, "zip", "/tmp/.b", []string{".b"}, false}},
		{Posix, []string{"zip", "-qr", "/tmp/loot", "d"}, want{CommandArchiver, "zip", "/tmp/loot.zip", []string{"d"}, false}},
		{Posix, []string{"unzip", "-o", "a.zip", "-d", "/tmp/x"}, want{kind: CommandExtractor, tool: "unzip"}},
		// 7z, rar
		{Posix, []string{"7z", "a", "-t7z", "-pS3cret", "-mhe=on", "x.7z", "dir"}, want{CommandArchiver, "7z", "x.7z", []string{"dir"}, true}},
		{Posix, []string{"7z", "a", "-pP", "-mhe=on", "/var/tmp/.cache-sync.7z", ".cache-sync"}, want{CommandArchiver, "7z", "/var/tmp/.cache-sync.7z", []string{".cache-sync"}, true}},
		{Posix, []string{"7z", "a", "/tmp/.s", "d"}, want{CommandArchiver, "7z", "/tmp/.s", []string{"d"}, false}},
		{Posix, []string{"7za", "x", "x.7z", "-o/tmp/out"}, want{kind: CommandExtractor, tool: "7z"}},
		{Posix, []string{"7z", "l", "x.7z"}, want{kind: CommandExtractor, tool: "7z"}},
		{Windows, []string{`C:\Program Files\7-Zip\7z.exe`, "a", `C:\t\x.7z`, `C:\t\x\*`}, want{CommandArchiver, "7z", `C:\t\x.7z`, []string{`C:\t\x\*`}, false}},
		{Windows, []string{`C:\Program Files\7-Zip\7zG.exe`, "a", "x.zip", "d"}, want{CommandArchiver, "7z", "x.zip", []string{"d"}, false}},
		{Posix, []string{"rar", "a", "-hpPass", "x.rar", "d"}, want{CommandArchiver, "rar", "x.rar", []string{"d"}, true}},
		{Windows, []string{`C:\Program Files\WinRAR\WinRAR.exe`, "a", "-r", "x.rar", "d"}, want{CommandArchiver, "rar", "x.rar", []string{"d"}, false}},
		{Posix, []string{"rar", "x", "x.rar"}, want{kind: CommandExtractor, tool: "rar"}},
		{Posix, []string{"unrar", "x", "x.rar"}, want{kind: CommandExtractor, tool: "unrar"}},
		// compressors
		{Posix, []string{"gzip", "-9", "a.db"}, want{CommandArchiver, "gzip", "a.db.gz", []string{"a.db"}, false}},
		{Posix, []string{"gzip", "-c", "a.db"}, want{CommandArchiver, "gzip", "-", []string{"a.db"}, false}},
		{Posix, []string{"gzip", "-d", "a.gz"}, want{kind: CommandExtractor, tool: "gzip"}},
		{Posix, []string{"gzip", "-dc", "a.gz"}, want{kind: CommandExtractor, tool: "gzip"}},
		{Posix, []string{"gzip", "--decompress", "a.gz"}, want{kind: CommandExtractor, tool: "gzip"}},
		{Posix, []string{"gzip", "-l", "a.gz"}, want{kind: CommandExtractor, tool: "gzip"}},
		{Posix, []string{"gunzip", "a.gz"}, want{kind: CommandExtractor, tool: "gunzip"}},
		{Posix, []string{"bzip2", "-d", "a.bz2"}, want{kind: CommandExtractor, tool: "bzip2"}},
		{Posix, []string{"xz", "-T0", "a.tar"}, want{CommandArchiver, "xz", "a.tar.xz", []string{"a.tar"}, false}},
		{Posix, []string{"xz", "--decompress", "a.xz"}, want{kind: CommandExtractor, tool: "xz"}},
		{Posix, []string{"zstd", "-19", "-o", "out.zst", "in"}, want{CommandArchiver, "zstd", "out.zst", []string{"in"}, false}},
		{Posix, []string{"zstd", "-d", "x.zst"}, want{kind: CommandExtractor, tool: "zstd"}},
		{Posix, []string{"unzstd", "x.zst"}, want{kind: CommandExtractor, tool: "unzstd"}},
		{Posix, []string{"pigz", "-p", "4", "big"}, want{CommandArchiver, "pigz", "big.gz", []string{"big"}, false}},
		// cpio, ditto, makecab, hdiutil
		{Posix, []string{"cpio", "-ov", "-H", "newc"}, want{CommandArchiver, "cpio", "-", nil, false}},
		{Posix, []string{"cpio", "-o", "-F", "/tmp/x.cpio"}, want{CommandArchiver, "cpio", "/tmp/x.cpio", nil, false}},
		{Posix, []string{"cpio", "-idmv"}, want{kind: CommandExtractor, tool: "cpio"}},
		{Posix, []string{"ditto", "-c", "-k", "--sequesterRsrc", "--keepParent", "src", "dst.zip"}, want{CommandArchiver, "ditto", "dst.zip", []string{"src"}, false}},
		{Posix, []string{"ditto", "-ck", "--password", "src", "dst.zip"}, want{CommandArchiver, "ditto", "dst.zip", []string{"src"}, true}},
		{Posix, []string{"ditto", "-x", "-k", "a.zip", "dst"}, want{kind: CommandExtractor, tool: "ditto"}},
		{Posix, []string{"ditto", "src", "dst"}, want{CommandCopy, "ditto", "dst", []string{"src"}, false}},
		{Posix, []string{"hdiutil", "create", "-srcfolder", "/Users/Shared/x", "-format", "UDZO", "/tmp/x.dmg"}, want{CommandArchiver, "hdiutil", "/tmp/x.dmg", []string{"/Users/Shared/x"}, false}},
		{Posix, []string{"hdiutil", "attach", "x.dmg"}, want{}},
		{Windows, []string{`C:\Windows\System32\makecab.exe`, "/D", "CompressionType=LZX", `C:\t\a.docx`, `C:\t\a.cab`}, want{CommandArchiver, "makecab", `C:\t\a.cab`, []string{`C:\t\a.docx`}, false}},
		{Windows, []string{`C:\Windows\System32\expand.exe`, "a.cab", "-F:*", "out"}, want{kind: CommandExtractor, tool: "expand"}},
		// PowerShell
		{Windows, []string{"powershell.exe", "-c", `Compress-Archive -Path 'C:\t\x' -DestinationPath C:\t\x.zip`}, want{CommandArchiver, "compress-archive", `C:\t\x.zip`, []string{`C:\t\x`}, false}},
		{Windows, []string{"pwsh", "-Command", `Compress-Archive C:\t\a.docx, C:\t\b.docx C:\t\o.zip; exit`}, want{CommandArchiver, "compress-archive", `C:\t\o.zip`, []string{`C:\t\a.docx`, `C:\t\b.docx`}, false}},
		{Windows, []string{"powershell", "-enc", psEncode(`Compress-Archive -LiteralPath "C:\Users\Public\s" -Dest C:\Users\Public\s.zip`)}, want{CommandArchiver, "compress-archive", `C:\Users\Public\s.zip`, []string{`C:\Users\Public\s`}, false}},
		{Windows, []string{"powershell", "-c", `Expand-Archive x.zip -DestinationPath C:\t`}, want{kind: CommandExtractor, tool: "expand-archive"}},
		{Windows, []string{"powershell", "-nop", "-c", `Add-Type -A 'System.IO.Compression.FileSystem'; [IO.Compression.ZipFile]::CreateFromDirectory('C:\Users\bob\Documents', "C:\ProgramData\d.zip")`}, want{CommandArchiver, "zipfile", `C:\ProgramData\d.zip`, []string{`C:\Users\bob\Documents`}, false}},
		{Windows, []string{"pwsh", "-c", `[System.IO.Compression.ZIPFILE]::createFromDirectory( 'C:\t\x' , 'C:\t\x.zip', 'Optimal', $true)`}, want{CommandArchiver, "zipfile", `C:\t\x.zip`, []string{`C:\t\x`}, false}},
		{Windows, []string{"powershell", "-c", "Get-Process"}, want{kind: CommandScript, tool: "powershell"}},
		// scripts
		{Posix, []string{"/usr/bin/python3.12", "-m", "zipfile", "-c", "o.zip", "a", "b"}, want{CommandArchiver, "zipfile", "o.zip", []string{"a", "b"}, false}},
		{Posix, []string{"python3", "-m", "tarfile", "-e", "o.tar", "d"}, want{kind: CommandExtractor, tool: "tarfile"}},
		{Posix, []string{"python3", "stage.py"}, want{kind: CommandScript, tool: "python3"}},
		{Posix, []string{"osascript", "-e", "do shell script"}, want{kind: CommandScript, tool: "osascript"}},
		// encryptors
		{Posix, []string{"gpg", "-c", "l.tgz"}, want{CommandEncryptor, "gpg", "", []string{"l.tgz"}, true}},
		{Posix, []string{"gpg", "--batch", "--passphrase", "x", "--symmetric", "-o", "o.gpg", "l.tgz"}, want{CommandEncryptor, "gpg", "o.gpg", []string{"l.tgz"}, true}},
		{Posix, []string{"gpg", "-e", "-r", "bob@example.com", "l.tgz"}, want{CommandEncryptor, "gpg", "", []string{"l.tgz"}, true}},
		{Posix, []string{"gpg", "-d", "l.tgz.gpg"}, want{tool: "gpg"}},
		{Posix, []string{"gpg", "--verify", "x.sig"}, want{tool: "gpg"}},
		{Posix, []string{"openssl", "enc", "-aes-256-cbc", "-in", "l.tgz", "-out", "l.enc"}, want{CommandEncryptor, "openssl", "l.enc", []string{"l.tgz"}, true}},
		{Posix, []string{"openssl", "enc", "-d", "-in", "l.enc"}, want{tool: "openssl"}},
		{Posix, []string{"openssl", "x509", "-in", "c.pem"}, want{}},
		{Posix, []string{"zipcloak", "l.zip"}, want{CommandEncryptor, "zipcloak", "l.zip", []string{"l.zip"}, true}},
		// copies and the rest
		{Posix, []string{"cp", "-r", "/home/a/docs", "/tmp/loot"}, want{CommandCopy, "cp", "/tmp/loot", []string{"/home/a/docs"}, false}},
		// Windows switches are options, never the destination.
		{Windows, []string{`C:\Windows\System32\Robocopy.exe`, `C:\Users\bob\Documents`, `C:\Users\Public\s`, "/E"}, want{CommandCopy, "robocopy", `C:\Users\Public\s`, []string{`C:\Users\bob\Documents`}, false}},
		{Windows, []string{"robocopy", `C:\Users\bob\Documents`, `\\fs01\c$\stage`, "*.docx", "/MIR", "/R:1", "/W:1"}, want{CommandCopy, "robocopy", `\\fs01\c$\stage`, []string{`C:\Users\bob\Documents`}, false}},
		{Windows, []string{`xcopy.exe`, `C:\Users\bob\Desktop`, `C:\Users\Public\loot`, "/S", "/I", "/H", "/Y"}, want{CommandCopy, "xcopy", `C:\Users\Public\loot`, []string{`C:\Users\bob\Desktop`}, false}},
		// On POSIX a leading slash is a path.
		{Posix, []string{"cp", "-r", "/home/bob/docs", "/tmp/s"}, want{CommandCopy, "cp", "/tmp/s", []string{"/home/bob/docs"}, false}},
		{Posix, []string{"/usr/bin/ls", "-la"}, want{}},
		{Posix, []string{""}, want{}},
		{Posix, nil, want{}},
	}
	for _, tc := range tests {
		exe := ""
		if len(tc.argv) > 0 {
			exe = tc.argv[0]
		}
		got := Classify(exe, tc.argv, tc.style)
		w := Command{Kind: tc.want.kind, Tool: tc.want.tool, Output: tc.want.output, Inputs: tc.want.inputs, Encrypted: tc.want.encrypted}
		if got.Kind == CommandOther && w.Kind == CommandOther && w.Tool == "" {
			got.Tool = ""
		}
		got.Recursive, got.Copies = false, nil // TestShellCopies
		if !reflect.DeepEqual(got, w) {
			t.Errorf("Classify(%q)\n got %+v\nwant %+v", strings.Join(tc.argv, " "), got, w)
		}
	}
}

func TestResolvePath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		style     PathStyle
		cwd, p    string
		want      string
		wantGroup string
	}{
		{Posix, "/tmp", "loot", "/tmp/loot", "/tmp"}, // as a path, /tmp/loot is in the root group
		{Posix, "/home/a", "../../tmp/x/./y", "/tmp/x/y", "/tmp/x"},
		{Posix, "/tmp", "/var/tmp//s/f", "/var/tmp/s/f", "/var/tmp/s"},
		{Posix, "", "rel", "rel", ""},
		{Windows, `C:\Users\Bob`, `AppData\Local\Temp\x\f.txt`, `c:\users\bob\appdata\local\temp\x\f.txt`, `c:\users\bob\appdata\local\temp\x`},
		{Windows, `C:\Users\Bob`, `C:/Users/Bob/AppData/Local/Temp/x.7z`, `c:\users\bob\appdata\local\temp\x.7z`, `c:\users\bob\appdata\local\temp`},
		{Windows, `D:\work`, `\Users\Public\s`, `d:\users\public\s`, ""},
		{Windows, `C:\w`, `\\?\C:\Users\Public\s\a`, `c:\users\public\s\a`, `c:\users\public\s`},
		{Windows, `C:\w`, `..\..\Windows\Temp\a\b`, `c:\windows\temp\a\b`, `c:\windows\temp\a`},
	}
	for _, tc := range tests {
		got := ResolvePath(tc.cwd, tc.p, tc.style)
		if got != tc.want {
			t.Errorf("ResolvePath(%q, %q) = %q, want %q", tc.cwd, tc.p, got, tc.want)
		}
		platform := "linux"
		if tc.style == Windows {
			platform = "windows"
		}
		c, err := New(Config{Platform: platform})
		if err != nil {
			t.Fatal(err)
		}
		pl, ok := locate(c.roots, tc.style, got)
		if ok != (tc.wantGroup != "") || pl.group != tc.wantGroup {
			t.Errorf("locate(%q) = %+v %v, want group %q", got, pl, ok, tc.wantGroup)
		}
	}
}

func FuzzClassify(f *testing.F) {
	seeds := [][]string{
		{"tar", "czf", "/tmp/x.tgz", "-C", "/tmp", "loot"},
		{"tar", "-cf"},
		{"tar", "cfbC"},
		{"zip", "-P"},
		{"zip", "-x"},
		{"7z", "a", "-p"},
		{"gzip", "-S"},
		{"cpio", "-oF"},
		{"powershell", "-enc", "!!!"},
		{"powershell", "-c", `Compress-Archive -Path "unterminated`},
		{"powershell", "-c", "Compress-Archive -Path , , -Dest"},
		{"python3", "-m", "zipfile", "-c"},
		{"gpg", "-o"},
		{"openssl", "enc", "-in"},
		{"busybox"},
		{"hdiutil", "create", "-srcfolder"},
		{"aa", "archive", "-d"},
		{"ditto", "-c"},
		{"makecab", "/D"},
	}
	for _, s := range seeds {
		f.Add(s[0], strings.Join(s[1:], "\x00"), "/tmp", false)
	}
	f.Add(`C:\x\7z.exe`, "a\x00C:\\t\\x.7z\x00..\\..\\", `C:\`, true)
	f.Add("cmd.exe", "/c\x00\"for /R C:\\u %%f in (*.pdf) do copy \"%%f\" C:\\p\\ & echo\"", `C:\`, true)
	f.Add("cmd", "/c\x00copy a+b c ^& for %x in ( do", `C:\`, true)
	f.Add("powershell", "-ep\x00bypass\x00-c\x00cpi -Path a, b -Destination $env:TEMP\\x -Recurse; mi c d", `C:\`, true)
	f.Fuzz(func(t *testing.T, exe, args, cwd string, windows bool) {
		style := Posix
		if windows {
			style = Windows
		}
		argv := append([]string{exe}, strings.Split(args, "\x00")...)
		cmd := Classify(exe, argv, style)
		if cmd.Kind > CommandEncryptor {
			t.Fatalf("kind %d", cmd.Kind)
		}
		if cmd.Kind != CommandOther && cmd.Tool == "" {
			t.Fatalf("kind %v without a tool", cmd.Kind)
		}
		c := mustCorrelator(t, style)
		for _, in := range append(cmd.Inputs, cmd.Output) {
			r := ResolvePath(cwd, style.stripGlob(in), style)
			_, _ = locate(c.roots, style, r)
		}
		_ = c.formatProcess(exe, &event.Process{Argv: argv})
		_ = hasArchiveExt(exe)
		_ = categorize(exe, style)
	})
}

func mustCorrelator(t *testing.T, style PathStyle) *Correlator {
	platform := "linux"
	if style == Windows {
		platform = "windows"
	}
	c, err := New(Config{Platform: platform})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

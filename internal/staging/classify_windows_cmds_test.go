package staging

import (
	"github.com/stagewatch/stagewatch/internal/event"
	"reflect"
	"strings"
	"testing"
)

// TestShellCopies: copies made inside cmd and PowerShell, which have no
// process of their own, as Sysmon renders their command lines.
func TestShellCopies(t *testing.T) {
	t.Parallel()
	type copyWant struct {
		tool, output string
		inputs       []string
		recursive    bool
	}
	for _, tc := range []struct {
		argv []string
		kind CommandKind
		want []copyWant
	}{
		{[]string{`C:\Windows\system32\cmd.exe`, "/c", `copy C:\Users\bob\Documents\*.docx C:\Users\Public\s\`},
			CommandScript, []copyWant{{"copy", `C:\Users\Public\s\`, []string{`C:\Users\bob\Documents\*.docx`}, false}}},
		// Sysmon doubles the % of batch variables; quotes added by test runners.
		{[]string{"cmd.exe", "/c", `"for /R C:\Users\bob\Documents %%f in (*.pdf) do copy "%%f" C:\PerfLogs\x\ & echo done"`},
			CommandScript, []copyWant{{"copy", `C:\PerfLogs\x\`, []string{`C:\Users\bob\Documents\*.pdf`}, true}}},
		{[]string{"cmd", "/C", `mkdir C:\Users\Public\t && copy /Y a.xlsx+b.xlsx C:\Users\Public\t\all.xlsx && 7z a x.7z C:\Users\Public\t`},
			CommandScript, []copyWant{{"copy", `C:\Users\Public\t\all.xlsx`, []string{"a.xlsx", "b.xlsx"}, false}}},
		{[]string{"cmd.exe", "/c", `@move "C:\Users\bob\Desktop\q3 plan.docx" ..\Public`},
			CommandScript, []copyWant{{"move", `..\Public`, []string{`C:\Users\bob\Desktop\q3 plan.docx`}, false}}},
		{[]string{"cmd.exe", "/c", `echo a^&copy b c`}, CommandScript, nil}, // ^& is no chain
		{[]string{"cmd.exe", "/c", "dir"}, CommandScript, nil},
		{[]string{"powershell.exe", "-NoP", "-c", `Copy-Item -Path C:\Users\bob\Documents -Destination C:\Users\Public\d -Recurse; Compress-Archive -Path C:\Users\Public\d -DestinationPath C:\Users\Public\d.zip`},
			CommandArchiver, []copyWant{{"copy-item", `C:\Users\Public\d`, []string{`C:\Users\bob\Documents`}, true}}},
		{[]string{"pwsh", "-Command", `Get-ChildItem C:\Users\bob -Include *.pst -Recurse | cpi -Destination $env:TEMP\m; mi C:\x.kdbx C:\Users\Public\`},
			CommandScript, []copyWant{{"copy-item", `$env:TEMP\m`, nil, false}, {"move-item", `C:\Users\Public\`, []string{`C:\x.kdbx`}, false}}},
		{[]string{"powershell", "-c", "Get-Process | Sort-Object cpu"}, CommandScript, nil},
	} {
		got := Classify(tc.argv[0], tc.argv, Windows)
		name := strings.Join(tc.argv, " ")
		if got.Kind != tc.kind {
			t.Errorf("%s: kind %s, want %s", name, got.Kind, tc.kind)
		}
		var copies []copyWant
		for _, c := range got.Copies {
			if c.Kind != CommandCopy {
				t.Errorf("%s: a copy of kind %s", name, c.Kind)
			}
			copies = append(copies, copyWant{c.Tool, c.Output, c.Inputs, c.Recursive})
		}
		if !reflect.DeepEqual(copies, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, copies, tc.want)
		}
	}
}

func TestZipFileCreateFromDirectory(t *testing.T) {
	t.Parallel()
	for _, line := range []string{
		`Add-Type -A System.IO.Compression.FileSystem; [IO.Compression.ZipFile]::CreateFromDirectory('C:\Users\Public\s', 'C:\Users\Public\s.zip')`,
		`[System.IO.Compression.ZipFile]::CreateFromDirectory("C:\Users\Public\s","C:\Users\Public\s.zip", [System.IO.Compression.CompressionLevel]::Optimal, $false)`,
	} {
		got := Classify("powershell.exe", []string{"powershell.exe", "-c", line}, Windows)
		if got.Kind != CommandArchiver || got.Tool != "zipfile" || got.Output != `C:\Users\Public\s.zip` || len(got.Inputs) != 1 || got.Inputs[0] != `C:\Users\Public\s` {
			t.Errorf("%s:\n %+v", line, got)
		}
	}
}

func TestRecursiveCopies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		style PathStyle
		argv  []string
		want  bool
	}{
		{Windows, []string{"robocopy", `C:\Users\bob\Documents`, `C:\Users\Public\s`, "/E"}, true},
		{Windows, []string{"Robocopy.exe", `C:\a`, `C:\Users\Public\s`, "*.docx", "/MIR"}, true},
		{Windows, []string{"xcopy.exe", `C:\Users\bob\Documents\*`, `C:\PerfLogs\d\`, "/S", "/I", "/Y"}, true},
		{Windows, []string{"xcopy.exe", `C:\Users\bob\a.docx`, `C:\PerfLogs\d\`}, false},
		{Posix, []string{"cp", "-a", "/home/bob/Documents", "/tmp/d"}, true},
		{Posix, []string{"cp", "/home/bob/a.pdf", "/tmp/d"}, false},
		{Posix, []string{"rsync", "-av", "/home/bob/", "/tmp/d"}, true},
	} {
		if got := Classify(tc.argv[0], tc.argv, tc.style); got.Recursive != tc.want {
			t.Errorf("%v: recursive %v, want %v", tc.argv, got.Recursive, tc.want)
		}
	}
}

// TestClassifyProcess: what the endpoint layer files an exec under.
func TestClassifyProcess(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p    event.Process
		kind CommandKind
		tool string
	}{
		{event.Process{Exe: `C:\Users\Public\svchost.exe`, OriginalName: "7z.exe", Argv: []string{"svchost.exe", "a", "x.dat", "s"}}, CommandArchiver, "7z (as svchost.exe)"},
		{event.Process{Exe: `C:\ProgramData\u.exe`, Argv: []string{"u.exe", "a", "-p", `C:\PerfLogs\x.rar`, "d"}}, CommandArchiver, "7z (as u.exe)"},
		{event.Process{Exe: `C:\Windows\System32\cmd.exe`, Argv: []string{"cmd.exe", "/c", `copy a.docx C:\Users\Public\`}}, CommandCopy, "cmd"},
		{event.Process{Exe: `C:\Windows\System32\cmd.exe`, Argv: []string{"cmd.exe", "/c", "dir"}}, CommandScript, "cmd"},
		{event.Process{Exe: `C:\Windows\notepad.exe`, Argv: []string{"notepad.exe", "a.txt"}}, CommandOther, ""},
		{event.Process{Exe: "/usr/bin/tar", Argv: []string{"tar", "czf", "x.tgz", "d"}}, CommandArchiver, "tar"},
	} {
		style := Windows
		if tc.p.Exe[0] == '/' {
			style = Posix
		}
		got := ClassifyProcess(&tc.p, style)
		if got.Kind != tc.kind || got.Tool != tc.tool {
			t.Errorf("%s %v: %s %q, want %s %q", tc.p.Exe, tc.p.Argv, got.Kind, got.Tool, tc.kind, tc.tool)
		}
	}
}

// TestWindowsCopyTools: the tools that copy files Windows keeps locked
// (the directory database, the hives) are copies of sensitive material;
// their other commands are nothing; 7-Zip's SFX modules unpack.
func TestWindowsCopyTools(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		argv      []string
		kind      CommandKind
		tool, out string
		inputs    []string
		recursive bool
	}{
		{[]string{`C:\Windows\System32\esentutl.exe`, "/y", "/vss", `C:\Windows\NTDS\ntds.dit`, "/d", `C:\PerfLogs\n.dit`},
			CommandCopy, "esentutl", `C:\PerfLogs\n.dit`, []string{`C:\Windows\NTDS\ntds.dit`}, false},
		{[]string{"esentutl", "/Y", `C:\Users\bob\AppData\Local\Microsoft\Windows\WebCache\WebCacheV01.dat`, "/vss", "/D", `C:\Windows\Temp\w.dat`},
			CommandCopy, "esentutl", `C:\Windows\Temp\w.dat`, []string{`C:\Users\bob\AppData\Local\Microsoft\Windows\WebCache\WebCacheV01.dat`}, false},
		{[]string{"esentutl.exe", "/r", "edb", "/l", `C:\x`}, CommandOther, "", "", nil, false},
		{[]string{"reg.exe", "save", `HKLM\SAM`, `C:\Windows\Temp\s.hiv`, "/y"},
			CommandCopy, "reg save", `C:\Windows\Temp\s.hiv`, []string{`C:\Windows\System32\config\SAM`}, false},
		{[]string{"REG", "SAVE", `hkey_local_machine\security`, `C:\Users\Public\x`},
			CommandCopy, "reg save", `C:\Users\Public\x`, []string{`C:\Windows\System32\config\SECURITY`}, false},
		{[]string{"reg", "save", `HKCU\Software\Acme`, `C:\Users\Public\a.hiv`}, CommandCopy, "reg save", `C:\Users\Public\a.hiv`, nil, false},
		{[]string{"reg", "query", `HKLM\SAM`}, CommandOther, "", "", nil, false},
		{[]string{"ntdsutil.exe", "ac i ntds", "ifm", `create full C:\ProgramData\ifm`, "q", "q"},
			CommandCopy, "ntdsutil ifm", `C:\ProgramData\ifm`, []string{`C:\Windows\NTDS\ntds.dit`}, true},
		{[]string{"ntdsutil", "activate instance ntds", "ifm", `create RODC "C:\Users\Public\i f m"`, "quit", "quit"},
			CommandCopy, "ntdsutil ifm", `C:\Users\Public\i f m`, []string{`C:\Windows\NTDS\ntds.dit`}, true},
		{[]string{"ntdsutil", "snapshot", "list all", "q"}, CommandOther, "", "", nil, false},
		{[]string{"7zS.sfx"}, CommandExtractor, "unzip", "", nil, false},
	} {
		got := Classify(tc.argv[0], tc.argv, Windows)
		name := strings.Join(tc.argv, " ")
		if got.Kind != tc.kind {
			t.Errorf("%s: kind %s, want %s", name, got.Kind, tc.kind)
			continue
		}
		if tc.kind != CommandCopy {
			continue
		}
		if got.Tool != tc.tool || got.Output != tc.out || !reflect.DeepEqual(got.Inputs, tc.inputs) || got.Recursive != tc.recursive {
			t.Errorf("%s: %s %q %q recursive %v, want %s %q %q %v", name, got.Tool, got.Output, got.Inputs, got.Recursive, tc.tool, tc.out, tc.inputs, tc.recursive)
		}
	}
}

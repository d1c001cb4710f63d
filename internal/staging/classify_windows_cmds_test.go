package staging

import (
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

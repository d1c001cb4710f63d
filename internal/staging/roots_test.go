package staging

import "testing"

// TestWindowsDefaultRoots: the defaults DET0014 names for Windows, with
// C:\*\ meaning the directories directly under the drive but Windows' own.
func TestWindowsDefaultRoots(t *testing.T) {
	t.Parallel()
	r, err := NewRoots(DefaultStagingDirectories("windows"), Windows)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path  string
		group string // "" when not staging
	}{
		{`C:\temp\loot\a.docx`, `C:\temp\loot`},
		{`c:\TEMP\a.docx`, `c:\TEMP`},
		{`C:\inetpub\wwwroot\x.zip`, `C:\inetpub\wwwroot`},
		{`C:\ProgramData\s\a.pdf`, `C:\ProgramData\s`},
		{`C:\Users\bob\AppData\Local\Temp\x\a.pdf`, `C:\Users\bob\AppData\Local\Temp\x`},
		{`C:\Users\Public\Documents\a.pdf`, `C:\Users\Public\Documents`},
		{`C:\PerfLogs\a.7z`, `C:\PerfLogs`},
		{`C:\$Recycle.Bin\S-1-5-21-1\$RABC.docx`, `C:\$Recycle.Bin\S-1-5-21-1`},
		{`C:\Users\bob\Documents\a.docx`, ""},
		{`C:\Windows\System32\x.dll`, ""},
		{`C:\Program Files\7-Zip\7z.exe`, ""},
		{`C:\Program Files (x86)\App\a.zip`, ""},
		{`C:\System Volume Information\x`, ""},
		{`C:\a.txt`, ""}, // a file at the drive's top matches C:\*\ as its root: nothing is in it
		{`D:\temp\a.docx`, ""},
		{`\\FS01\C$\Windows\Temp\x\a.docx`, `\\FS01\C$\Windows\Temp\x`},
		{`\\*\C$\Users\Public\s\a.pdf`, `\\*\C$\Users\Public\s`},
		{`\\fs01\c$\temp\a.pdf`, `\\fs01\c$\temp`},
		{`\\FS01\ADMIN$\Temp\setup.bat`, `\\FS01\ADMIN$\Temp`},
		{`\\*\C$\malwr.exe`, ""},
		{`\\FS01\C$\Windows\System32\x.dll`, ""},
		{`\\FS01\share\docs\a.docx`, ""},
	} {
		pl, ok := r.Locate(tc.path)
		ok = ok && !pl.IsRoot // a path that is a root itself stages nothing
		switch {
		case tc.group == "" && ok:
			t.Errorf("%s: staging in %s (%s), want none", tc.path, pl.Group, pl.Dir)
		case tc.group != "" && !ok:
			t.Errorf("%s: not staging, want group %s", tc.path, tc.group)
		case ok && pl.Group != tc.group:
			t.Errorf("%s: group %s, want %s", tc.path, pl.Group, tc.group)
		}
	}
}

func TestWindowsDisplayPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ cwd, p, want string }{
		{`C:\Users\bob\Documents\`, `..\Desktop`, `C:\Users\bob\Desktop`},
		{`C:\Users\Public\Admin_Backup\\`, `..\Admin_Backup.7z`, `C:\Users\Public\Admin_Backup.7z`},
		{`C:\Users\bob`, `.\a\..\b\.\c.docx`, `C:\Users\bob\b\c.docx`},
		{`C:\Users\bob`, `\Temp\x`, `C:\Temp\x`},
		{`C:\Users\bob`, `D:rel\x`, `D:\rel\x`},
		{`C:\Users\bob`, `C:rel`, `C:\Users\bob\rel`},
		{`C:\`, `..\..\x`, `C:\x`},
		{`\\FS01\C$\Users`, `..\..\..\x`, `\\FS01\C$\x`},
		{`C:\Users\bob`, `E:\Abs\Path`, `E:\Abs\Path`},
	} {
		if got := Windows.displayPath(tc.cwd, tc.p); got != tc.want {
			t.Errorf("displayPath(%q, %q) = %q, want %q", tc.cwd, tc.p, got, tc.want)
		}
	}
}

func TestShortNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		short, long string
		want        bool
	}{
		{"ADMIN_~1", "Admin_Backup", true},
		{"admin_~1", "admin_backup", true},
		{"QUARTE~1.DOC", "Quarterly report.docx", true},
		{"PROGRA~2", "Program Files (x86)", true},
		{"ADMIN_~1", "Administrators", false},
		{"ADMIN~", "Admin_Backup", false},
		{"AB~X", "Abc", false},
		{"QUARTE~1.PDF", "Quarterly report.docx", false},
	} {
		if got := shortNameOf(tc.short, tc.long); got != tc.want {
			t.Errorf("shortNameOf(%q, %q) = %v, want %v", tc.short, tc.long, got, tc.want)
		}
	}
}

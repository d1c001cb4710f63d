package staging

import (
	"strings"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
)

// windowsBehaviours is AN0040's correlator: DET0014's three Windows
// behaviours, each a detection, chained into one.
var windowsBehaviours = Config{AnalyticID: "AN0040", Platform: "windows", Host: "WS-7", CopySteps: true, ArchiveAlone: true}

var winAlice = event.Actor{UID: event.Unknown, EUID: event.Unknown, AUID: event.Unknown, User: `CORP\alice`, Session: "0x51f02", Interactive: true}

const (
	winCmd = `C:\Windows\System32\cmd.exe`
	winPS  = `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`
	win7z  = `C:\Program Files\7-Zip\7z.exe`
	winRC  = `C:\Windows\System32\Robocopy.exe`
)

func winExec(at time.Duration, pid int64, actor event.Actor, cwd string, argv ...string) []*event.Event {
	return one(execEv(at, pid, 4000, cwd, actor, []string{`C:\Windows\explorer.exe`}, argv...))
}

func TestWindowsBehaviours(t *testing.T) {
	t.Parallel()
	type want struct {
		uids      int      // distinct detections
		emitted   int      // detections emitted, updates included
		staging   string   // of the last detection
		archive   string   // of the last detection
		files     int64    // of the last detection
		severity  string   // of the last detection, when set
		reason    []string // in the last detection's reason
		technique string   // of the last detection, when set
	}
	robocopyDocs := winExec(0, 5100, winBob, `C:\Users\bob`, winRC, `C:\Users\bob\Documents`, `C:\Users\Public\s`, "/E", "/R:0")
	tests := []struct {
		name   string
		cfg    Config
		events []*event.Event
		want   want
	}{
		{
			name:   "a batch copy of a profile's documents, seen only on its command line, is a detection",
			cfg:    windowsBehaviours,
			events: robocopyDocs,
			want: want{uids: 1, emitted: 1, staging: `C:\Users\Public\s`, files: 0,
				reason: []string{`CORP\bob copied a batch of files (documents) from C:\Users\bob\Documents into C:\Users\Public\s with robocopy`}},
		},
		{
			name: "the archive a human operator makes minutes later is the same detection, higher",
			cfg:  windowsBehaviours,
			events: seq(robocopyDocs,
				winExec(7*time.Minute, 5200, winBob, `C:\Users\Public`, win7z, "a", "-pS3cret", "-mhe=on", `C:\Users\Public\s.7z`, `s\*`)),
			want: want{uids: 1, emitted: 2, staging: `C:\Users\Public\s`, archive: `C:\Users\Public\s.7z`, severity: "high",
				reason: []string{"copied a batch of files (documents) from C:\\Users\\bob\\Documents into C:\\Users\\Public\\s with robocopy and archived them with 7z into C:\\Users\\Public\\s.7z with a password within 7m"}},
		},
		{
			name: "Sysmon 11 events of the copy count its files, updating at 1, 2 and 4, and when they stop",
			cfg:  windowsBehaviours,
			events: seq(robocopyDocs,
				copyInto(time.Second, 5100, winRC, winBob, `C:\Users\Public\s\a.docx`, `C:\Users\Public\s\b.xlsx`, `C:\Users\Public\s\c.pdf`, `C:\Users\Public\s\d.docx`, `C:\Users\Public\s\e.pptx`)),
			want: want{uids: 1, emitted: 5, staging: `C:\Users\Public\s`, files: 5,
				reason: []string{"copied a batch of 5 or more files"}},
		},
		{
			name: "cmd's built-in copy of a sensitive file, then 7z by the same logon",
			cfg:  windowsBehaviours,
			events: seq(
				winExec(0, 5300, winBob, `C:\Users\bob`, winCmd, "/c", `copy \\?\GLOBALROOT\Device\HarddiskVolumeShadowCopy1\Windows\NTDS\ntds.dit C:\Windows\Temp\n\`),
				winExec(2*time.Minute, 5301, winBob, `C:\Windows\Temp`, win7z, "a", `C:\Windows\Temp\n.7z`, `C:\Windows\Temp\n`)),
			want: want{uids: 1, emitted: 2, staging: `C:\Windows\Temp\n`, archive: `C:\Windows\Temp\n.7z`, files: 1,
				reason: []string{"copied 1 file (keys or secrets) from \\\\?\\GLOBALROOT\\Device\\HarddiskVolumeShadowCopy1\\Windows\\NTDS\\ntds.dit"}},
		},
		{
			name: "Copy-Item -Recurse into $env:TEMP and Compress-Archive in one PowerShell line",
			cfg:  windowsBehaviours,
			events: winExec(0, 5400, winBob, `C:\Users\bob`, winPS, "-NoP", "-c",
				`Copy-Item -Path C:\Users\bob\Desktop -Destination $env:TEMP\d -Recurse; Compress-Archive -Path $env:TEMP\d -DestinationPath C:\Users\Public\d.zip`),
			want: want{uids: 1, emitted: 2, staging: `C:\Users\bob\AppData\Local\Temp\d`, archive: `C:\Users\Public\d.zip`,
				reason: []string{"with copy-item and archived them with compress-archive"}},
		},
		{
			name:   "7z naming a staging directory as its output is a detection alone",
			cfg:    windowsBehaviours,
			events: winExec(0, 5500, winBob, `C:\Users\bob`, win7z, "a", "-p", `C:\PerfLogs\x.7z`, `C:\Users\bob\Documents\*.docx`),
			want: want{uids: 1, emitted: 1, staging: `C:\PerfLogs`, archive: `C:\PerfLogs\x.7z`,
				reason: []string{`CORP\bob archived C:\Users\bob\Documents\*.docx with 7z into C:\PerfLogs\x.7z with a password, in the staging directory C:\PerfLogs`}},
		},
		{
			name: "a renamed 7-Zip is known by its OriginalFileName",
			cfg:  windowsBehaviours,
			events: seq(robocopyDocs, func() []*event.Event {
				evs := winExec(3*time.Minute, 5210, winBob, `C:\Users\Public`, `C:\Users\Public\svchost.exe`, "a", "-pX", `C:\Users\Public\s.dat`, `s`)
				evs[0].Process.OriginalName = "7z.exe"
				return evs
			}()),
			want: want{uids: 1, emitted: 2, staging: `C:\Users\Public\s`, archive: `C:\Users\Public\s.dat`, severity: "high",
				reason: []string{"archived them with 7z (as svchost.exe) into C:\\Users\\Public\\s.dat with a password"}},
		},
		{
			name:   "a renamed 7-Zip with no OriginalFileName is known by its command line",
			cfg:    windowsBehaviours,
			events: winExec(0, 5220, winBob, `C:\Users\bob`, `C:\ProgramData\upd.exe`, "a", `C:\PerfLogs\x.zip`, `C:\Users\bob\Documents`),
			want: want{uids: 1, emitted: 1, staging: `C:\PerfLogs`, archive: `C:\PerfLogs\x.zip`,
				reason: []string{`with 7z (as upd.exe) into C:\PerfLogs\x.zip, in the staging directory C:\PerfLogs`}},
		},
		{
			name: "a batch copy onto another host's admin share, then 7z on this side, is remote staging",
			cfg:  windowsBehaviours,
			events: seq(winExec(0, 6000, winBob, `C:\Users\bob`, `C:\Windows\System32\xcopy.exe`, `C:\Users\bob\Documents\*.xlsx`, `\\FS01\C$\Windows\Temp\x\`, "/Y"),
				winExec(5*time.Minute, 6001, winBob, `C:\Users\bob`, win7z, "a", `\\FS01\C$\Windows\Temp\x.7z`, `\\FS01\C$\Windows\Temp\x`)),
			want: want{uids: 1, emitted: 2, staging: `\\FS01\C$\Windows\Temp\x`, archive: `\\FS01\C$\Windows\Temp\x.7z`, technique: "T1074.002",
				reason: []string{"copied a batch of files (documents) from C:\\Users\\bob\\Documents\\*.xlsx into \\\\FS01\\C$\\Windows\\Temp\\x with xcopy"}},
		},
		{
			name: "Explorer's copies of documents into Public, seen only as file creations, are a detection",
			cfg:  windowsBehaviours,
			events: copyInto(0, 6100, `C:\Windows\explorer.exe`, winBob,
				`C:\Users\Public\drop\Q3 board.pptx`, `C:\Users\Public\drop\salaries.xlsx`, `C:\Users\Public\drop\notes.txt`),
			want: want{uids: 1, emitted: 3, staging: `C:\Users\Public\drop`, files: 3,
				reason: []string{`CORP\bob copied 3 files (documents, 1.1 MB) into C:\Users\Public\drop with explorer`}},
		},
		{
			name:   "Explorer's copies of photos into Public are nothing",
			cfg:    windowsBehaviours,
			events: copyInto(0, 6101, `C:\Windows\explorer.exe`, winBob, `C:\Users\Public\Pictures\a.jpg`, `C:\Users\Public\Pictures\b.jpg`),
			want:   want{},
		},
		{
			name: "Explorer opening documents inside a zip unpacks them into Temp<n>_x.zip: nothing",
			cfg:  windowsBehaviours,
			events: copyInto(0, 6102, `C:\Windows\explorer.exe`, winBob,
				`C:\Users\bob\AppData\Local\Temp\Temp1_reports.zip\q1.docx`, `C:\Users\bob\AppData\Local\Temp\Temp1_reports.zip\q2.docx`),
			want: want{},
		},
		{
			name:   "one file copied into Public, not sensitive: nothing",
			cfg:    windowsBehaviours,
			events: winExec(0, 5600, winBob, `C:\Users\bob`, winCmd, "/c", `copy notes.txt C:\Users\Public\`),
			want:   want{},
		},
		{
			name:   "a copy to somewhere else: nothing",
			cfg:    windowsBehaviours,
			events: winExec(0, 5700, winBob, `C:\Users\bob`, winRC, `C:\Users\bob\Documents`, `D:\Backup\Documents`, "/MIR"),
			want:   want{},
		},
		{
			name:   "extraction into the user's temp never fires",
			cfg:    windowsBehaviours,
			events: winExec(0, 5800, winBob, `C:\Users\bob\Downloads`, win7z, "x", `setup.7z`, `-oC:\Users\bob\AppData\Local\Temp\setup`),
			want:   want{},
		},
		{
			name: "another logon's archive does not take the copy over",
			cfg:  windowsBehaviours,
			events: seq(robocopyDocs,
				winExec(time.Minute, 5900, winAlice, `C:\Users\Public`, win7z, "a", `C:\Users\Public\s.7z`, `s`)),
			want: want{uids: 2, emitted: 2, staging: `C:\Users\Public`, archive: `C:\Users\Public\s.7z`, reason: []string{"alice"}},
		},
		{
			name:   "without CopySteps (AN0041's rules) a copy alone is nothing",
			cfg:    Config{AnalyticID: "AN0040", Platform: "windows", Host: "WS-7"},
			events: robocopyDocs,
			want:   want{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, all, uniq := run(t, tc.cfg, tc.events)
			if len(uniq) != tc.want.uids || len(all) != tc.want.emitted {
				for _, d := range all {
					t.Logf("%s %s score %d: %s", d.UID, d.Severity, d.Score, d.Reason)
				}
				t.Fatalf("%d detections (%d emitted), want %d (%d)", len(uniq), len(all), tc.want.uids, tc.want.emitted)
			}
			if len(all) == 0 {
				return
			}
			d := all[len(all)-1]
			checkDetection(t, tc.cfg, d)
			if d.StagingPath != tc.want.staging || d.ArchivePath != tc.want.archive || d.FileCount != tc.want.files && tc.want.files >= 0 && tc.want.archive == "" {
				t.Errorf("staging %q archive %q files %d, want %q %q %d", d.StagingPath, d.ArchivePath, d.FileCount, tc.want.staging, tc.want.archive, tc.want.files)
			}
			if tc.want.technique != "" && d.TechniqueID != tc.want.technique {
				t.Errorf("technique %s, want %s", d.TechniqueID, tc.want.technique)
			}
			if tc.want.severity != "" && d.Severity != tc.want.severity {
				t.Errorf("severity %s (score %d), want %s", d.Severity, d.Score, tc.want.severity)
			}
			for _, r := range tc.want.reason {
				if !strings.Contains(d.Reason, r) {
					t.Errorf("reason %q lacks %q", d.Reason, r)
				}
			}
			if tc.want.emitted > 1 && tc.want.uids == 1 && all[0].Score >= d.Score {
				t.Errorf("score did not rise: %d then %d", all[0].Score, d.Score)
			}
		})
	}
}

// TestWindowsOwnArchives: programs Windows hosts run that write archives
// into staging places of their own are allowed where they really live,
// and only there: a copy of the same name elsewhere is still seen.
func TestWindowsOwnArchives(t *testing.T) {
	t.Parallel()
	system := event.Actor{UID: event.Unknown, EUID: event.Unknown, AUID: event.Unknown, User: `NT AUTHORITY\SYSTEM`, Session: "0x3e7"}
	files := func(pid int64, exe string, actor event.Actor, dir string) []*event.Event {
		return copyInto(time.Second, pid, exe, actor, dir+`\a.log`, dir+`\b.log`, dir+`\c.log`, dir+`\d.log`, dir+`\e.log`, dir+`.zip`)
	}
	const agent = `C:\WindowsAzure\GuestAgent_2.7.41491.1102_2024-05-20_120000\CollectGuestLogs.exe`
	chrome := `C:\Users\bob\AppData\Local\Google\Update\Install\{4B1C}\126.0.6478.57_chrome_installer.exe`
	for _, tc := range []struct {
		name   string
		events []*event.Event
		want   int
	}{
		{"the Azure guest agent zipping its own logs", seq(winExec(0, 700, system, `C:\WindowsAzure`, agent, "-Mode:ga"),
			files(700, agent, system, `C:\WindowsAzure\CollectGuestLogsTemp\x`)), 0},
		{"a CollectGuestLogs.exe that is not the agent's", seq(winExec(0, 701, winBob, `C:\WindowsAzure`, `C:\WindowsAzure\x\CollectGuestLogs.exe`),
			files(701, `C:\WindowsAzure\x\CollectGuestLogs.exe`, winBob, `C:\WindowsAzure\CollectGuestLogsTemp\x`)), 1},
		{"Chrome's installer unpacking chrome.7z into CR_*.tmp", seq(winExec(0, 702, winBob, `C:\Users\bob`, chrome),
			copyInto(time.Second, 702, chrome, winBob, `C:\Users\bob\AppData\Local\Temp\CR_6C1F2.tmp\setup.exe`, `C:\Users\bob\AppData\Local\Temp\CR_6C1F2.tmp\chrome.7z`)), 0},
		{"anything else writing an archive into CR_*.tmp", seq(winExec(0, 703, winBob, `C:\Users\bob`, `C:\Users\bob\x.exe`),
			copyInto(time.Second, 703, `C:\Users\bob\x.exe`, winBob, `C:\Users\bob\AppData\Local\Temp\CR_6C1F2.tmp\setup.exe`, `C:\Users\bob\AppData\Local\Temp\CR_6C1F2.tmp\chrome.7z`)), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, uniq := run(t, windowsBehaviours, tc.events)
			if len(uniq) != tc.want {
				for _, d := range uniq {
					t.Logf("%s", d.Reason)
				}
				t.Errorf("%d detections, want %d", len(uniq), tc.want)
			}
		})
	}
}

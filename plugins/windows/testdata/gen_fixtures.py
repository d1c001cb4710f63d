#!/usr/bin/env python3
"""Writes the AN0040 replay fixtures: one staging scenario, its events written
by hand from Microsoft's documented Sysmon and Security event schemas, in each
shape people keep Windows events. Records are interleaved across channels and
out of order on purpose. Run from this directory: python3 gen_fixtures.py

It then writes the labelled stories under stories/ (the second half of this
file): staging variants and benign days, each in the XML shape (one <Event> a
line) and both JSON shapes (Winlogbeat, flat export), with what AN0040 is
expected to make of it in stories/expect.json and stories/README.md."""
import json
from xml.sax.saxutils import escape, quoteattr

SYSMON = ("Microsoft-Windows-Sysmon", "Microsoft-Windows-Sysmon/Operational")
SEC = ("Microsoft-Windows-Security-Auditing", "Security")
G_CMD = "{7A1C2B3D-1111-6650-0000-0010A1B2C3D4}"
G_ROBO = "{7A1C2B3D-2222-6650-0000-0010A1B2C3D4}"

# (provider/channel, event id, record id, SystemTime, data fields)
EVENTS = [
    (SYSMON, 11, 103, "2024-05-01T10:00:05.2010000Z", [
        ("RuleName", "-"), ("UtcTime", "2024-05-01 10:00:05.201"), ("ProcessGuid", G_ROBO),
        ("ProcessId", "6120"), ("Image", r"C:\Windows\System32\Robocopy.exe"),
        ("TargetFilename", r"C:\Users\Public\stage\q3 & q4.docx"), ("CreationUtcTime", "2024-05-01 10:00:05.201")]),
    (SEC, 4624, 5001, "2024-05-01T09:59:00.0000000Z", [
        ("SubjectLogonId", "0x3e7"), ("TargetUserName", "alice"), ("TargetDomainName", "CORP"),
        ("TargetLogonId", "0x3e7a1"), ("LogonType", "10")]),
    (SYSMON, 1, 102, "2024-05-01T10:00:04.9000000Z", [
        ("RuleName", "-"), ("UtcTime", "2024-05-01 10:00:04.900"), ("ProcessGuid", G_ROBO),
        ("ProcessId", "6120"), ("Image", r"C:\Windows\System32\Robocopy.exe"),
        ("CommandLine", r'robocopy.exe "C:\Users\alice\Documents\Q3 Reports" C:\Users\Public\stage /E'),
        ("CurrentDirectory", "C:\\Users\\alice\\"), ("User", r"CORP\alice"), ("LogonGuid", "{7A1C2B3D-0000-6650-0000-0020A17E0300}"),
        ("LogonId", "0x3E7A1"), ("TerminalSessionId", "2"), ("IntegrityLevel", "High"),
        ("ParentProcessGuid", G_CMD), ("ParentProcessId", "5012"), ("ParentImage", r"C:\Windows\System32\cmd.exe"),
        ("ParentCommandLine", r'"C:\Windows\system32\cmd.exe" /c copy.bat %%USERPROFILE%%')]),
    (SEC, 5145, 5003, "2024-05-01T10:00:07.0000000Z", [
        ("SubjectUserSid", "S-1-5-21-1-2-3-1104"), ("SubjectUserName", "alice"), ("SubjectDomainName", "CORP"),
        ("SubjectLogonId", "0x9c1f2"), ("ObjectType", "File"), ("IpAddress", "10.0.0.7"), ("IpPort", "50412"),
        ("ShareName", r"\\*\C$"), ("ShareLocalPath", r"\??\C:\\"), ("RelativeTargetName", r"Users\Public\x.docx"),
        ("AccessMask", "0x130197"), ("AccessList", "%%1538 %%1541 %%4416 %%4417 %%4418")]),
    (SEC, 4688, 5002, "2024-05-01T10:00:06.5000000Z", [
        ("SubjectUserSid", "S-1-5-21-1-2-3-1104"), ("SubjectUserName", "alice"), ("SubjectDomainName", "CORP"),
        ("SubjectLogonId", "0x3e7a1"), ("NewProcessId", "0x1a2c"), ("NewProcessName", r"C:\Program Files\7-Zip\7z.exe"),
        ("TokenElevationType", "%%1937"), ("ProcessId", "0x1394"),
        ("CommandLine", r'"C:\Program Files\7-Zip\7z.exe" a -p C:\Users\Public\q3.7z C:\Users\Public\stage\*'),
        ("TargetUserSid", "S-1-0-0"), ("TargetUserName", "-"), ("TargetDomainName", "-"), ("TargetLogonId", "0x0"),
        ("ParentProcessName", r"C:\Windows\System32\cmd.exe"), ("MandatoryLabel", "S-1-16-12288")]),
    (SYSMON, 23, 105, "2024-05-01T10:00:09.0000000Z", [
        ("RuleName", "-"), ("UtcTime", "2024-05-01 10:00:09.000"), ("ProcessGuid", G_CMD), ("ProcessId", "5012"),
        ("User", r"CORP\alice"), ("Image", r"C:\Windows\System32\cmd.exe"),
        ("TargetFilename", r"C:\Users\Public\stage\q3 & q4.docx"), ("Hashes", "SHA256=00"), ("IsExecutable", "false"), ("Archived", "true")]),
    (SYSMON, 2, 104, "2024-05-01T10:00:05.5000000Z", [
        ("RuleName", "-"), ("UtcTime", "2024-05-01 10:00:05.500"), ("ProcessGuid", G_ROBO), ("ProcessId", "6120"),
        ("Image", r"C:\Windows\System32\Robocopy.exe"), ("TargetFilename", r"C:\Users\Public\stage\q3 & q4.docx"),
        ("CreationUtcTime", "2024-03-31 08:00:00.000"), ("PreviousCreationUtcTime", "2024-05-01 10:00:05.201")]),
]
COMPUTER = "WS01.corp.example"

def xml_event(ev):
    (prov, chan), eid, rid, t, data = ev
    d = "".join("<Data Name=%s>%s</Data>" % (quoteattr(k), escape(v)) for k, v in data)
    return ("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
            "<Provider Name='%s'/><EventID>%d</EventID><Version>5</Version><Level>4</Level>"
            "<TimeCreated SystemTime='%s'/><EventRecordID>%d</EventRecordID><Channel>%s</Channel>"
            "<Computer>%s</Computer><Security UserID='S-1-5-18'/></System><EventData>%s</EventData></Event>"
            % (prov, eid, t, rid, chan, COMPUTER, d))

with open("wevtutil.xml", "w", newline="\r\n") as f:
    f.write("".join(xml_event(e) for e in EVENTS))
with open("events-per-line.xml", "w") as f:
    f.write("".join(xml_event(e) + "\n" for e in EVENTS))

def collector_ts(t):
    # The shipper's clock, late and disagreeing: the event's own time wins.
    return t[:17] + "59.999Z"

with open("winlogbeat.jsonl", "w") as f:
    for (prov, chan), eid, rid, t, data in EVENTS:
        # Winlogbeat's @timestamp is the event's time; event.created the shipper's.
        f.write(json.dumps({"@timestamp": t, "event": {"code": str(eid), "provider": prov, "created": collector_ts(t)},
            "host": {"name": "ws01"}, "winlog": {"channel": chan, "event_id": str(eid), "provider_name": prov,
            "computer_name": COMPUTER, "record_id": rid, "event_data": dict(data)}}) + "\n")

with open("flat-export.jsonl", "w") as f:
    for (prov, chan), eid, rid, t, data in EVENTS:
        doc = {"@timestamp": collector_ts(t), "EventID": eid, "Channel": chan, "SourceName": prov,
               "Hostname": COMPUTER, "TimeCreated": t, "RecordNumber": rid}
        doc.update(dict(data))
        f.write(json.dumps(doc) + "\n")

with open("evtxecmd.json", "w", encoding="utf-8-sig") as f:
    for (prov, chan), eid, rid, t, data in EVENTS:
        payload = {"EventData": {"Data": [{"@Name": k, "#text": escape(v)} for k, v in data]}}
        f.write(json.dumps({"PayloadData1": "", "UserName": "", "ExecutableInfo": "", "MapDescription": "",
            "ChunkNumber": 0, "Computer": COMPUTER, "Payload": json.dumps(payload), "Channel": chan,
            "Provider": prov, "EventId": eid, "EventRecordId": str(rid), "ProcessId": 4, "ThreadId": 8,
            "Level": "Info", "TimeCreated": t[:-1] + "+00:00", "RecordNumber": rid}) + "\n")

# ---------------------------------------------------------------------------
# Stories. Each is a day on one host, its events written by hand from the
# documented Sysmon (1, 11, 23) and Security (4624, 4688, 5145) schemas, with
# the minutes a human operator leaves between copying and compressing. The
# command lines are those the tools document (and, where named, those Atomic
# Red Team's runner executes, with the quoting it adds). Each says what AN0040
# must make of it: the detections (staging_path, archive_path, the lowest
# severity acceptable, technique) or none.
import os
import zlib
from datetime import datetime, timedelta

class Story:
    def __init__(self, name, label, how, day="2024-06-03T09:00:00", host="WS07.corp.example"):
        self.name, self.label, self.how, self.host = name, label, how, host
        self.t0 = datetime.fromisoformat(day)
        self.events, self.expect = [], []
        self.rid = {"sysmon": 1000, "security": 50000}
        self.guids = 0

    def guid(self):
        self.guids += 1
        return "{5E0F%04X-%04X-6650-0000-0010C0FFEE%02X}" % (zlib.crc32(self.name.encode()) % 0xFFFF, self.guids, self.guids)

    def _add(self, chan, eid, at, data, host=None):
        t = self.t0 + timedelta(seconds=at)
        key = "sysmon" if chan is SYSMON else "security"
        self.rid[key] += 1
        st = t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
        self.events.append((chan, eid, self.rid[key], st, data, host or self.host))
        return t.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]

    def logon(self, at, user, logon, kind="2"):
        dom, name = user.split("\\")
        self._add(SEC, 4624, at, [("SubjectLogonId", "0x3e7"), ("TargetUserName", name), ("TargetDomainName", dom),
            ("TargetLogonId", logon), ("LogonType", kind)])

    def run(self, at, image, cmd, cwd, user, logon, parent=None, integrity="Medium", original=None, host=None, session=None):
        """Sysmon 1; returns the process (guid, pid, image, user) for its file events."""
        g = self.guid()
        p = (g, str(4000 + 4 * self.guids), image, user)
        pg, ppid, pimg = parent if parent else ("{5E0F0000-0000-6650-0000-0010C0FFEE00}", "3920", r"C:\Windows\explorer.exe")
        utc = (self.t0 + timedelta(seconds=at)).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        self._add(SYSMON, 1, at, [("RuleName", "-"), ("UtcTime", utc), ("ProcessGuid", g), ("ProcessId", p[1]),
            ("Image", image), ("FileVersion", "-"), ("Description", "-"), ("Product", "-"), ("Company", "-"),
            ("OriginalFileName", original or os.path.basename(image.replace("\\", "/"))),
            ("CommandLine", cmd), ("CurrentDirectory", cwd), ("User", user),
            ("LogonGuid", "{5E0F0000-0000-6650-0000-002000000000}"), ("LogonId", logon),
            ("TerminalSessionId", session or ("0" if logon in ("0x3e7", "0x3e4", "0x3e5") else "1")), ("IntegrityLevel", integrity),
            ("Hashes", "SHA256=00"), ("ParentProcessGuid", pg), ("ParentProcessId", ppid), ("ParentImage", pimg),
            ("ParentCommandLine", pimg), ("ParentUser", user)], host)
        return p

    def create(self, at, proc, path, host=None):
        g, pid, image, user = proc
        utc = (self.t0 + timedelta(seconds=at)).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        self._add(SYSMON, 11, at, [("RuleName", "-"), ("UtcTime", utc), ("ProcessGuid", g), ("ProcessId", pid),
            ("Image", image), ("TargetFilename", path), ("CreationUtcTime", utc), ("User", user)], host)

    def share_write(self, at, user, logon, ip, rel, share=r"\\*\C$"):
        dom, name = user.split("\\")
        self._add(SEC, 5145, at, [("SubjectUserSid", "S-1-5-21-1-2-3-1107"), ("SubjectUserName", name),
            ("SubjectDomainName", dom), ("SubjectLogonId", logon), ("ObjectType", "File"), ("IpAddress", ip),
            ("IpPort", "50512"), ("ShareName", share), ("ShareLocalPath", "\\??\\C:\\"), ("RelativeTargetName", rel),
            ("AccessMask", "0x120196"), ("AccessList", "%%1538 %%1541 %%4417 %%4418")])

    def want(self, staging, archive="", severity="low", technique="T1074.001"):
        self.expect.append({"staging_path": staging, "archive_path": archive, "severity_min": severity, "technique_id": technique})

STORIES = []
def story(*a, **kw):
    s = Story(*a, **kw)
    STORIES.append(s)
    return s

BOB, BOB_LOGON = r"CORP\bob", "0x5a1f0"
SYSTEM = r"NT AUTHORITY\SYSTEM"
PROFILE = r"C:\Users\bob"
TEMP = PROFILE + r"\AppData\Local\Temp"
CMD = r"C:\Windows\System32\cmd.exe"
PS = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
SEVENZ = r"C:\Program Files\7-Zip\7z.exe"
DOCS = ["Q2 budget.xlsx", "board minutes.docx", "customer list.csv", "merger plan.pptx", "payroll.xlsx", "roadmap.pdf"]

def shell(s, at, text=None):
    """An interactive cmd.exe of bob's, the parent of what he types."""
    p = s.run(at, CMD, text or r'"C:\Windows\system32\cmd.exe" ', PROFILE + "\\", BOB, BOB_LOGON)
    return (p[0], p[1], p[2])

# --- staging variants ----------------------------------------------------

s = story("sysmon11-copy-then-7z-p-mhe", "a script copies six documents into C:\\ProgramData\\sync (Sysmon 11 only: its command line names no copy), 7-Zip with -p -mhe 9 minutes later",
          "hand-written: Sysmon 1 and 11 as documented")
s.logon(0, BOB, BOB_LOGON)
sh = shell(s, 60)
ps = s.run(120, PS, r'powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\Users\bob\Downloads\sync.ps1', PROFILE + "\\", BOB, BOB_LOGON, parent=sh)
for i, d in enumerate(DOCS):
    s.create(121 + i * 3, ps, r"C:\ProgramData\sync" + "\\" + d)
s.run(121 + 9 * 60, SEVENZ, r'"C:\Program Files\7-Zip\7z.exe" a -pSummer2024! -mhe=on C:\ProgramData\sync.7z C:\ProgramData\sync\*', r"C:\ProgramData\\", BOB, BOB_LOGON, parent=sh)
s.want(r"C:\ProgramData\sync", r"C:\ProgramData\sync.7z", "high")

s = story("robocopy-e-then-7z", "robocopy /E of Documents into C:\\Users\\Public\\stg (command line only, no Sysmon 11), 7z of it 6 minutes later",
          "hand-written: Sysmon 1 as documented; robocopy's switches from its documentation")
sh = shell(s, 30)
s.run(60, r"C:\Windows\System32\Robocopy.exe", r'robocopy "C:\Users\bob\Documents" C:\Users\Public\stg /E /R:0 /W:0 /NP', PROFILE + "\\", BOB, BOB_LOGON, parent=sh)
s.run(60 + 6 * 60, SEVENZ, r'7z.exe a C:\Users\Public\stg.7z C:\Users\Public\stg', r"C:\Users\Public\\", BOB, BOB_LOGON, parent=sh)
s.want(r"C:\Users\Public\stg", r"C:\Users\Public\stg.7z", "medium")

s = story("xcopy-s-copy-only", "xcopy /S of the Desktop's files into C:\\Windows\\Temp\\d (a batch copy, no archive)",
          "hand-written: Sysmon 1 as documented")
sh = shell(s, 30)
s.run(45, r"C:\Windows\System32\xcopy.exe", r'xcopy C:\Users\bob\Desktop\*.* C:\Windows\Temp\d\ /S /Y /Q', PROFILE + "\\", BOB, BOB_LOGON, parent=sh)
s.want(r"C:\Windows\Temp\d", "", "low")

s = story("cmd-for-r-copy-then-makecab", "cmd /c for /R … do copy \"%%f\" of PDFs into %PUBLIC%\\q (Sysmon's doubled %%), makecab of one 4 minutes later",
          "hand-written: Sysmon 1 as documented, the for loop as cmd's help writes it")
sh = shell(s, 30)
s.run(50, CMD, r'cmd.exe /c for /R C:\Users\bob\Documents %%f in (*.pdf) do copy "%%f" C:\Users\Public\q\ /Y', PROFILE + "\\", BOB, BOB_LOGON, parent=sh)
s.run(50 + 4 * 60, r"C:\Windows\System32\makecab.exe", r'makecab C:\Users\Public\q\roadmap.pdf C:\Users\Public\q.cab', r"C:\Users\Public\\", BOB, BOB_LOGON, parent=sh)
s.want(r"C:\Users\Public\q", r"C:\Users\Public\q.cab", "medium")

s = story("copy-item-recurse-then-compress-archive", "Copy-Item -Recurse of Documents\\Finance into $env:TEMP\\fin, Compress-Archive of it 5 minutes later",
          "hand-written: Sysmon 1 as documented, cmdlets as PowerShell's help writes them")
sh = shell(s, 30)
s.run(40, PS, r'powershell.exe -NoP -c "Copy-Item -Path C:\Users\bob\Documents\Finance -Destination $env:TEMP\fin -Recurse"', PROFILE + "\\", BOB, BOB_LOGON, parent=sh)
s.run(40 + 5 * 60, PS, r'powershell.exe -NoP -c "Compress-Archive -Path $env:TEMP\fin -DestinationPath $env:TEMP\fin.zip"', PROFILE + "\\", BOB, BOB_LOGON, parent=sh)
s.want(TEMP + r"\fin", TEMP + r"\fin.zip", "medium")

s = story("move-item-pst-then-rar-hp", "Move-Item of an Outlook .pst into C:\\Users\\Public\\Music, rar a -hp of it 7 minutes later",
          "hand-written: Sysmon 1 as documented; rar's switches from WinRAR's documentation")
sh = shell(s, 30)
s.run(40, PS, r"powershell.exe -c Move-Item -Path 'C:\Users\bob\AppData\Local\Microsoft\Outlook\bob@corp.example.pst' -Destination C:\Users\Public\Music", PROFILE + "\\", BOB, BOB_LOGON, parent=sh)
s.run(40 + 7 * 60, r"C:\Program Files\WinRAR\Rar.exe", r'"C:\Program Files\WinRAR\Rar.exe" a -hpBlue42 -m5 C:\Users\Public\Music\m.rar C:\Users\Public\Music\*.pst', r"C:\Users\Public\Music\\", BOB, BOB_LOGON, parent=sh)
s.want(r"C:\Users\Public\Music", r"C:\Users\Public\Music\m.rar", "medium")

s = story("esentutl-vss-ntds-then-7z", "esentutl /y /vss of ntds.dit into C:\\PerfLogs, 7z -p of it 8 minutes later (elevated)",
          "hand-written: Sysmon 1 as documented; esentutl's switches from its documentation")
sh = shell(s, 30)
s.run(60, r"C:\Windows\System32\esentutl.exe", r'esentutl.exe /y /vss C:\Windows\NTDS\ntds.dit /d C:\PerfLogs\n.dit', PROFILE + "\\", BOB, BOB_LOGON, parent=sh, integrity="High")
s.run(60 + 8 * 60, SEVENZ, r'7z a -pX9 C:\PerfLogs\n.7z C:\PerfLogs\n.dit', r"C:\PerfLogs\\", BOB, BOB_LOGON, parent=sh, integrity="High")
s.want(r"C:\PerfLogs", r"C:\PerfLogs\n.7z", "high")

s = story("reg-save-hives", "reg save of HKLM\\SAM and HKLM\\SYSTEM into C:\\Windows\\Temp (elevated, no archive)",
          "hand-written: Sysmon 1 as documented; reg's syntax from its documentation")
sh = shell(s, 30)
s.run(40, r"C:\Windows\System32\reg.exe", r'reg save HKLM\SAM C:\Windows\Temp\s.hiv /y', PROFILE + "\\", BOB, BOB_LOGON, parent=sh, integrity="High")
s.run(50, r"C:\Windows\System32\reg.exe", r'reg save HKLM\SYSTEM C:\Windows\Temp\y.hiv /y', PROFILE + "\\", BOB, BOB_LOGON, parent=sh, integrity="High")
s.want(r"C:\Windows\Temp", "", "medium")
s.want(r"C:\Windows\Temp", "", "medium")

s = story("ntdsutil-ifm-then-7z", "ntdsutil \"ac i ntds\" ifm \"create full C:\\ProgramData\\ifm\" q q, 7z -p of the copy 10 minutes later",
          "hand-written: Sysmon 1 as documented; ntdsutil's IFM syntax from its documentation")
sh = shell(s, 30)
s.run(60, r"C:\Windows\System32\ntdsutil.exe", r'ntdsutil "ac i ntds" ifm "create full C:\ProgramData\ifm" q q', PROFILE + "\\", BOB, BOB_LOGON, parent=sh, integrity="High")
s.run(60 + 10 * 60, SEVENZ, r'7z a -pX9 C:\ProgramData\ifm.7z C:\ProgramData\ifm', r"C:\ProgramData\\", BOB, BOB_LOGON, parent=sh, integrity="High")
s.want(r"C:\ProgramData\ifm", r"C:\ProgramData\ifm.7z", "high")

s = story("vss-copy-then-7z", "cmd copy of SAM and SYSTEM out of a volume shadow copy into C:\\Users\\Public\\v, 7z 3 minutes later",
          "hand-written: Sysmon 1 as documented; the \\\\?\\GLOBALROOT path vssadmin lists")
sh = shell(s, 30)
s.run(40, CMD, r'cmd.exe /c copy \\?\GLOBALROOT\Device\HarddiskVolumeShadowCopy1\Windows\System32\config\SAM C:\Users\Public\v\ & copy \\?\GLOBALROOT\Device\HarddiskVolumeShadowCopy1\Windows\System32\config\SYSTEM C:\Users\Public\v\ ', PROFILE + "\\", BOB, BOB_LOGON, parent=sh, integrity="High")
s.run(40 + 3 * 60, SEVENZ, r'7z a C:\Users\Public\v.7z C:\Users\Public\v', r"C:\Users\Public\\", BOB, BOB_LOGON, parent=sh, integrity="High")
s.want(r"C:\Users\Public\v", r"C:\Users\Public\v.7z", "high")

s = story("compress-archive-documents-alone", "Compress-Archive of the profile's Documents straight into C:\\Users\\Public\\docs.zip (an archive alone)",
          "hand-written: Sysmon 1 as documented")
sh = shell(s, 30)
s.run(40, PS, r'powershell.exe -c "Compress-Archive -Path C:\Users\bob\Documents\* -DestinationPath C:\Users\Public\docs.zip"', PROFILE + "\\", BOB, BOB_LOGON, parent=sh)
s.want(r"C:\Users\Public", r"C:\Users\Public\docs.zip", "low")

s = story("zipfile-createfromdirectory", "[IO.Compression.ZipFile]::CreateFromDirectory of Documents into C:\\ProgramData\\d.zip (an archive alone)",
          "hand-written: Sysmon 1 as documented; the .NET method as its reference documents it")
sh = shell(s, 30)
s.run(40, PS, r"""powershell.exe -nop -c "Add-Type -A 'System.IO.Compression.FileSystem'; [IO.Compression.ZipFile]::CreateFromDirectory('C:\Users\bob\Documents', 'C:\ProgramData\d.zip')" """.strip(), PROFILE + "\\", BOB, BOB_LOGON, parent=sh)
s.want(r"C:\ProgramData", r"C:\ProgramData\d.zip", "low")

s = story("renamed-7z-after-xcopy", "xcopy of spreadsheets into C:\\Users\\Public\\x, then 7-Zip renamed svcupd.exe (OriginalFileName 7z.exe) with -p 12 minutes later",
          "hand-written: Sysmon 1 as documented, OriginalFileName as 7-Zip's version resource has it")
sh = shell(s, 30)
s.run(40, r"C:\Windows\System32\xcopy.exe", r'xcopy C:\Users\bob\Documents\*.xlsx C:\Users\Public\x\ /Y', PROFILE + "\\", BOB, BOB_LOGON, parent=sh)
s.run(40 + 12 * 60, r"C:\ProgramData\svcupd.exe", r'C:\ProgramData\svcupd.exe a -mx9 -pQ1 C:\Users\Public\x.dat C:\Users\Public\x', r"C:\Users\Public\\", BOB, BOB_LOGON, parent=sh, original="7z.exe")
s.want(r"C:\Users\Public\x", r"C:\Users\Public\x.dat", "high")

s = story("admin-share-5145-then-7z", "documents written from 10.0.0.7 over \\\\*\\C$ into C:\\Users\\Public\\Documents\\q on FS01 (Security 5145), then 7z of that folder on FS01 by the same account 6 minutes later",
          "hand-written: Security 5145 and 4624 as documented, Sysmon 1; the 7z runs through WMI in another network logon of the same account, as remote execution does", host="FS01.corp.example")
s.logon(0, BOB, "0x8a2c1", kind="3")
for i, d in enumerate(DOCS[:4]):
    s.share_write(10 + i, BOB, "0x8a2c1", "10.0.0.7", r"Users\Public\Documents\q" + "\\" + d)
s.logon(300, BOB, "0x8b3f0", kind="3")
wmi = ("{5E0F0000-0000-6650-0000-0010C0FFEE01}", "2210", r"C:\Windows\System32\wbem\WmiPrvSE.exe")
s.run(10 + 6 * 60, SEVENZ, r'"C:\Program Files\7-Zip\7z.exe" a -pX C:\Users\Public\Documents\q.7z C:\Users\Public\Documents\q', r"C:\Windows\system32\\", BOB, "0x8b3f0", parent=wmi)
s.want(r"C:\Users\Public\Documents", r"C:\Users\Public\Documents\q.7z", "medium", "T1074.002")

s = story("relative-dotdot-and-8dot3", "robocopy ..\\Desktop into C:\\Users\\Public\\ADMIN_~1 (8.3 name) from Documents, Sysmon 11 showing the long name Admin_Backup, 7z of the long name 3 minutes later",
          "hand-written: Sysmon 1 and 11 as documented; the 8.3 name as dir /x shows it")
sh = shell(s, 30)
rc = s.run(40, r"C:\Windows\System32\Robocopy.exe", r'robocopy ..\Desktop C:\Users\Public\ADMIN_~1 /E', PROFILE + r"\Documents" + "\\", BOB, BOB_LOGON, parent=sh)
for i, d in enumerate(DOCS[:3]):
    s.create(41 + i, rc, r"C:\Users\Public\Admin_Backup" + "\\" + d)
s.run(40 + 3 * 60, SEVENZ, r'7z a ..\Admin_Backup.7z .', r"C:\Users\Public\Admin_Backup\\", BOB, BOB_LOGON, parent=sh)
s.want(r"C:\Users\Public\Admin_Backup", r"C:\Users\Public\Admin_Backup.7z", "medium")

s = story("mixed-case-atomic-red-team", "Atomic Red Team's runner: \"powershell.exe\" & {Copy-Item … -Recurse; Compress-Archive …} with the \\\" quoting it adds, tool names and paths in mixed case",
          "hand-written: the command line Invoke-AtomicTest executes for a PowerShell test, Sysmon 1")
sh = shell(s, 30)
s.run(40, PS, r'"powershell.exe" & {COPY-ITEM -Path \"C:\USERS\bob\documents\*\" -Destination \"$ENV:Temp\ART\" -Recurse; compress-archive -Path \"$env:TEMP\art\" -DestinationPath \"$Env:TEMP\ART.zip\" -Force}', PROFILE + "\\", BOB, BOB_LOGON, parent=sh)
c2 = s.run(300, CMD, r'"cmd.exe" /c "ROBOCOPY C:\users\BOB\Documents C:\USERS\public\Stg2 /e"', PROFILE + "\\", BOB, BOB_LOGON, parent=sh)
s.run(301, r"C:\Windows\System32\ROBOCOPY.EXE", r'ROBOCOPY  C:\users\BOB\Documents C:\USERS\public\Stg2 /e', PROFILE + "\\", BOB, BOB_LOGON, parent=(c2[0], c2[1], c2[2]))
s.want(TEMP + r"\ART", TEMP + r"\ART.zip", "medium")
s.want(r"C:\USERS\public\Stg2", "", "low")

# --- benign days ---------------------------------------------------------

s = story("benign-msi-installer", "msiexec installing an .msi: the service (SYSTEM) unpacks into C:\\Windows\\Temp and %TEMP%, custom actions run from there",
          "hand-written: Sysmon 1 and 11 as documented; paths as Windows Installer writes them")
sh = shell(s, 30)
s.run(40, r"C:\Windows\System32\msiexec.exe", r'"C:\Windows\System32\msiexec.exe" /i "C:\Users\bob\Downloads\AcmeTools-4.2.msi"', r"C:\Users\bob\Downloads\\", BOB, BOB_LOGON, parent=sh)
svc = s.run(41, r"C:\Windows\System32\msiexec.exe", r'C:\Windows\system32\msiexec.exe /V', "C:\\Windows\\system32\\", SYSTEM, "0x3e7",
            parent=("{5E0F0000-0000-6650-0000-0010C0FFEE02}", "712", r"C:\Windows\System32\services.exe"), integrity="System")
for i in range(5):
    s.create(42 + i, svc, r"C:\Windows\Temp\MSI%X.tmp" % (0x3A1F + i))
    s.create(42 + i, svc, r"C:\Windows\Installer\MSI%X.tmp" % (0x4B20 + i))
ca = s.run(50, r"C:\Windows\System32\msiexec.exe", r'C:\Windows\syswow64\MsiExec.exe -Embedding 5A1B2C3D4E5F E Global\MSI0000', "C:\\Windows\\system32\\", SYSTEM, "0x3e7",
           parent=(svc[0], svc[1], svc[2]), integrity="System")
for n in ["setup.cab", "data1.cab", "helper.dll"]:
    s.create(51, ca, r"C:\Windows\Temp\{7C2F1E4A-93B0-4E1C-8A7D-55D2E1A6B0C3}" + "\\" + n)

s = story("benign-sfx-installer", "a 7-Zip self-extracting installer unpacking into %TEMP%\\7zS4A3B.tmp and running setup.exe from there",
          "hand-written: Sysmon 1 and 11 as documented; the 7zS*.tmp directory as 7-Zip's SFX module names it")
sh = shell(s, 30)
sfx = s.run(40, r"C:\Users\bob\Downloads\viewer-setup.exe", r'"C:\Users\bob\Downloads\viewer-setup.exe" ', r"C:\Users\bob\Downloads\\", BOB, BOB_LOGON, parent=sh, original="7zS.sfx")
for n in ["setup.exe", "viewer.msi", "data.cab", "readme.docx", "license.rtf", "lang\\en.dll"]:
    s.create(41, sfx, TEMP + r"\7zS4A3B.tmp" + "\\" + n)
s.run(43, TEMP + r"\7zS4A3B.tmp\setup.exe", TEMP + r"\7zS4A3B.tmp\setup.exe", TEMP + r"\7zS4A3B.tmp" + "\\", BOB, BOB_LOGON, parent=(sfx[0], sfx[1], sfx[2]))

s = story("benign-7z-extract-download", "7z x of a downloaded archive into %TEMP%\\data, the extracted files created there",
          "hand-written: Sysmon 1 and 11 as documented")
sh = shell(s, 30)
x = s.run(40, SEVENZ, r'7z.exe x C:\Users\bob\Downloads\dataset.7z -oC:\Users\bob\AppData\Local\Temp\data -y', r"C:\Users\bob\Downloads\\", BOB, BOB_LOGON, parent=sh)
for d in DOCS:
    s.create(41, x, TEMP + r"\data" + "\\" + d)
s.create(42, x, TEMP + r"\data\inner.zip")

s = story("benign-explorer-zip-folder", "Explorer opening a mailed zip: it extracts into %TEMP%\\Temp1_report.zip\\ and Word opens the document there",
          "hand-written: Sysmon 1 and 11 as documented; Temp1_ as Explorer names the folder")
ex = ("{5E0F0000-0000-6650-0000-0010C0FFEE00}", "3920", r"C:\Windows\explorer.exe", BOB)
s.logon(0, BOB, BOB_LOGON)
s.create(40, ex, TEMP + r"\Temp1_report.zip")
s.create(40, ex, TEMP + r"\Temp1_report.zip\Q2 report.docx")
s.create(40, ex, TEMP + r"\Temp1_report.zip\figures.xlsx")
s.run(45, r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE", r'"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE" /n "C:\Users\bob\AppData\Local\Temp\Temp1_report.zip\Q2 report.docx" /o ""', PROFILE + "\\", BOB, BOB_LOGON)

s = story("benign-windows-update-cbs", "Windows servicing: TrustedInstaller's TiWorker writing .cab files under C:\\Windows\\Temp and C:\\Windows\\CbsTemp, and running makecab over its CBS logs",
          "hand-written: Sysmon 1 and 11 as documented; CbsPersist as CBS names its log archives")
svcs = ("{5E0F0000-0000-6650-0000-0010C0FFEE02}", "712", r"C:\Windows\System32\services.exe")
ti = s.run(10, r"C:\Windows\servicing\TrustedInstaller.exe", r"C:\Windows\servicing\TrustedInstaller.exe", "C:\\Windows\\system32\\", SYSTEM, "0x3e7", parent=svcs, integrity="System")
tw = s.run(11, r"C:\Windows\WinSxS\amd64_microsoft-windows-servicingstack_31bf3856ad364e35_10.0.19041.4170_none_7e0e1f6b2c7a3a1d\TiWorker.exe",
           r"C:\Windows\winsxs\amd64_microsoft-windows-servicingstack_31bf3856ad364e35_10.0.19041.4170_none_7e0e1f6b2c7a3a1d\TiWorker.exe -Embedding",
           "C:\\Windows\\system32\\", SYSTEM, "0x3e7", parent=("{5E0F0000-0000-6650-0000-0010C0FFEE03}", "880", r"C:\Windows\System32\svchost.exe"), integrity="System")
for i in range(4):
    s.create(20 + i, tw, r"C:\Windows\Temp\CBS_%d\Windows10.0-KB5036892-x64_%d.cab" % (i, i))
    s.create(20 + i, tw, r"C:\Windows\CbsTemp\31105\Windows10.0-KB5036892-x64_%d.cab" % i)
s.run(90, r"C:\Windows\System32\makecab.exe", r'C:\Windows\system32\MAKECAB.EXE "C:\Windows\Logs\CBS\CbsPersist_20240603090130.log" "C:\Windows\Logs\CBS\CbsPersist_20240603090130.cab"',
      "C:\\Windows\\system32\\", SYSTEM, "0x3e7", parent=(ti[0], ti[1], ti[2]), integrity="System")
s.run(95, r"C:\Windows\System32\makecab.exe", r'C:\Windows\system32\makecab.exe C:\Windows\Temp\CBS_0\cbs.log C:\Windows\Temp\CBS_0\cbs.cab',
      "C:\\Windows\\system32\\", SYSTEM, "0x3e7", parent=(tw[0], tw[1], tw[2]), integrity="System")

s = story("benign-chrome-updater", "Chrome's per-user updater: the installer unpacks setup.exe and chrome.7z into %TEMP%\\CR_6C1F2.tmp, setup.exe --install-archive=…chrome.7z unpacks Chrome",
          "hand-written: Sysmon 1 and 11 as documented; the CR_*.tmp folder and --install-archive as Chrome's installer uses them")
gu = s.run(10, PROFILE + r"\AppData\Local\Google\Update\GoogleUpdate.exe", PROFILE + r'\AppData\Local\Google\Update\GoogleUpdate.exe /ua /installsource scheduler',
           PROFILE + "\\", BOB, BOB_LOGON, parent=("{5E0F0000-0000-6650-0000-0010C0FFEE04}", "1304", r"C:\Windows\System32\svchost.exe"))
inst = s.run(30, PROFILE + r"\AppData\Local\Google\Update\Install\{4B1C-77}\126.0.6478.57_chrome_installer.exe",
             '"' + PROFILE + r'\AppData\Local\Google\Update\Install\{4B1C-77}\126.0.6478.57_chrome_installer.exe" --verbose-logging --do-not-launch-chrome',
             PROFILE + r"\AppData\Local\Google\Update\Install\{4B1C-77}" + "\\", BOB, BOB_LOGON, parent=(gu[0], gu[1], gu[2]))
s.create(31, inst, TEMP + r"\CR_6C1F2.tmp\setup.exe")
s.create(32, inst, TEMP + r"\CR_6C1F2.tmp\chrome.7z")
setup = s.run(33, TEMP + r"\CR_6C1F2.tmp\setup.exe",
              '"' + TEMP + r'\CR_6C1F2.tmp\setup.exe" --install-archive="' + TEMP + r'\CR_6C1F2.tmp\chrome.7z" --verbose-logging --do-not-launch-chrome',
              TEMP + r"\CR_6C1F2.tmp" + "\\", BOB, BOB_LOGON, parent=(inst[0], inst[1], inst[2]), original="setup.exe")
for n in ["chrome.exe", "chrome.dll", "resources.pak", "Locales\\en-US.pak"]:
    s.create(35, setup, TEMP + r"\chrome_Unpacker_BeginUnzipping4411_1809437\Chrome-bin\126.0.6478.57" + "\\" + n)

s = story("benign-browser-cache", "a browser's day: Chrome's cache, a downloaded zip, scoped_dir temporaries in %TEMP% (one a .zip)",
          "hand-written: Sysmon 1 and 11 as documented; paths as Chrome writes them")
ch = s.run(10, r"C:\Program Files\Google\Chrome\Application\chrome.exe", r'"C:\Program Files\Google\Chrome\Application\chrome.exe" ', PROFILE + "\\", BOB, BOB_LOGON)
for i in range(8):
    s.create(20 + i, ch, PROFILE + r"\AppData\Local\Google\Chrome\User Data\Default\Cache\Cache_Data\f_%06x" % (0x100 + i))
s.create(40, ch, TEMP + r"\scoped_dir3920_1029384756\cached.zip")
s.create(41, ch, TEMP + r"\scoped_dir3920_1029384756\page.html")
s.create(42, ch, PROFILE + r"\Downloads\invoice-scan.zip")

s = story("benign-developer-build", "a developer's dotnet build and npm install writing into %TEMP% (MSBuildTemp, NuGetScratch, npm tarballs)",
          "hand-written: Sysmon 1 and 11 as documented; the temp paths dotnet and npm use")
sh = shell(s, 30)
db = s.run(40, r"C:\Program Files\dotnet\dotnet.exe", r'"C:\Program Files\dotnet\dotnet.exe" build', PROFILE + r"\src\shop" + "\\", BOB, BOB_LOGON, parent=sh)
for i in range(4):
    s.create(41 + i, db, TEMP + r"\MSBuildTemp\bob\tmp%04x.tmp" % i)
    s.create(41 + i, db, TEMP + r"\NuGetScratch\%d\package%d.nupkg" % (i, i))
npm = s.run(80, r"C:\Program Files\nodejs\node.exe", r'"C:\Program Files\nodejs\node.exe" "C:\Program Files\nodejs\node_modules\npm\bin\npm-cli.js" install',
            PROFILE + r"\src\web" + "\\", BOB, BOB_LOGON, parent=sh)
for i in range(4):
    s.create(81 + i, npm, TEMP + r"\npm-5120-%d\lodash-4.17.%d.tgz" % (i, i))

s = story("benign-azure-guest-agent", "the Azure guest agent collecting its own logs: CollectGuestLogs.exe copies them into C:\\WindowsAzure\\CollectGuestLogsTemp and zips them there",
          "hand-written: Sysmon 1 and 11 as documented; the guest agent's own paths")
ga = s.run(10, r"C:\WindowsAzure\GuestAgent_2.7.41491.1102_2024-05-20_120000\WindowsAzureGuestAgent.exe", r'C:\WindowsAzure\GuestAgent_2.7.41491.1102_2024-05-20_120000\WindowsAzureGuestAgent.exe',
           r"C:\WindowsAzure\GuestAgent_2.7.41491.1102_2024-05-20_120000" + "\\", SYSTEM, "0x3e7", parent=svcs, integrity="System")
cg = s.run(20, r"C:\WindowsAzure\GuestAgent_2.7.41491.1102_2024-05-20_120000\CollectGuestLogs.exe",
           r'"C:\WindowsAzure\GuestAgent_2.7.41491.1102_2024-05-20_120000\CollectGuestLogs.exe" -Mode:ga -FileName:C:\WindowsAzure\CollectGuestLogsTemp\a1b2c3.zip',
           r"C:\WindowsAzure\GuestAgent_2.7.41491.1102_2024-05-20_120000" + "\\", SYSTEM, "0x3e7", parent=(ga[0], ga[1], ga[2]), integrity="System")
for n in ["WaAppAgent.log", "TransparentInstaller.log", "Telemetry.log", "Plugins\\handler.log", "System.evtx", "Application.evtx"]:
    s.create(21, cg, r"C:\WindowsAzure\CollectGuestLogsTemp\a1b2c3" + "\\" + n)
s.create(25, cg, r"C:\WindowsAzure\CollectGuestLogsTemp\a1b2c3.zip")

s = story("benign-scheduled-backup", "a nightly scheduled task (Task Scheduler, service account) running robocopy /MIR of Documents to a NAS and 7z of the profile into D:\\Backups",
          "hand-written: Sysmon 1 as documented", day="2024-06-04T02:00:00")
sched = ("{5E0F0000-0000-6650-0000-0010C0FFEE05}", "1400", r"C:\Windows\System32\svchost.exe")
job = s.run(0, CMD, r'C:\Windows\system32\cmd.exe /c "C:\Scripts\nightly-backup.cmd"', "C:\\Windows\\system32\\", r"CORP\svc-backup", "0x7c01a", parent=sched, session="0")
jp = (job[0], job[1], job[2])
s.run(2, r"C:\Windows\System32\Robocopy.exe", r'robocopy C:\Users\bob\Documents \\NAS01\backup\bob\Documents /MIR /R:1 /W:1 /LOG:C:\Scripts\logs\robocopy.log', "C:\\Scripts\\", r"CORP\svc-backup", "0x7c01a", parent=jp, session="0")
s.run(300, SEVENZ, r'"C:\Program Files\7-Zip\7z.exe" a -t7z D:\Backups\bob-20240604.7z C:\Users\bob\Documents -ssw -mx5', "C:\\Scripts\\", r"CORP\svc-backup", "0x7c01a", parent=jp, session="0")

# --- writing them --------------------------------------------------------

def xml_story_event(ev):
    (prov, chan), eid, rid, t, data, host = ev
    d = "".join("<Data Name=%s>%s</Data>" % (quoteattr(k), escape(v)) for k, v in data)
    return ("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
            "<Provider Name='%s'/><EventID>%d</EventID><Version>5</Version><Level>4</Level>"
            "<TimeCreated SystemTime='%s'/><EventRecordID>%d</EventRecordID><Channel>%s</Channel>"
            "<Computer>%s</Computer><Security UserID='S-1-5-18'/></System><EventData>%s</EventData></Event>"
            % (prov, eid, t, rid, chan, host, d))

os.makedirs("stories", exist_ok=True)
expect = {}
rows = []
for st in STORIES:
    base = os.path.join("stories", st.name)
    with open(base + ".xml", "w") as f:
        f.write("".join(xml_story_event(e) + "\n" for e in st.events))
    with open(base + ".winlogbeat.jsonl", "w") as f:
        for (prov, chan), eid, rid, t, data, host in st.events:
            f.write(json.dumps({"@timestamp": t, "event": {"code": str(eid), "provider": prov, "created": collector_ts(t)},
                "host": {"name": host.split(".")[0].lower()}, "winlog": {"channel": chan, "event_id": str(eid), "provider_name": prov,
                "computer_name": host, "record_id": rid, "event_data": dict(data)}}) + "\n")
    with open(base + ".flat.jsonl", "w") as f:
        for (prov, chan), eid, rid, t, data, host in st.events:
            doc = {"@timestamp": collector_ts(t), "EventID": eid, "Channel": chan, "SourceName": prov,
                   "Hostname": host, "TimeCreated": t, "RecordNumber": rid}
            doc.update(dict(data))
            f.write(json.dumps(doc) + "\n")
    expect[st.name] = {"label": st.label, "how": st.how, "detections": st.expect}
    want = "; ".join("%s → %s (≥%s, %s)" % (w["staging_path"], w["archive_path"] or "no archive", w["severity_min"], w["technique_id"]) for w in st.expect) or "quiet"
    rows.append("| `%s` | %s | %s | %s |" % (st.name, st.label.replace("|", "\\|"), st.how, want.replace("|", "\\|")))
with open(os.path.join("stories", "expect.json"), "w") as f:
    json.dump(expect, f, indent=1, ensure_ascii=False)
    f.write("\n")
with open(os.path.join("stories", "README.md"), "w") as f:
    f.write("""# AN0040 stories

Labelled days on one Windows host, written by `../gen_fixtures.py` (run it in
`..` to rewrite them) by hand from Microsoft's documented Sysmon (1, 11) and
Security (4624, 5145) event schemas: staging variants, each with the minutes
a human operator leaves between copying and compressing, and benign days.
Each story is kept in three shapes: `NAME.xml` (one `<Event>` a line, as
shippers forward it), `NAME.winlogbeat.jsonl` (Winlogbeat / Elastic Agent) and
`NAME.flat.jsonl` (flat export of public datasets). EVTX is covered by the
real files of the shared corpus (`../shared/corpus/windows/`), not written
here. `expect.json` holds what AN0040 must make of each (the test
`plugins/windows/an0040` checks it); `NAME.detections.golden.jsonl` what it
makes now, reviewed (`go test ./plugins/windows/an0040 -run TestGolden -update`).

| story | what happens | how made | expected detections (staging → archive, lowest severity, technique) |
|---|---|---|---|
""")
    f.write("\n".join(rows) + "\n")

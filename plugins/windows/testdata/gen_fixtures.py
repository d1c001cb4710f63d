#!/usr/bin/env python3
"""Writes the AN0040 replay fixtures: one staging scenario, its events written
by hand from Microsoft's documented Sysmon and Security event schemas, in each
shape people keep Windows events. Records are interleaved across channels and
out of order on purpose. Run from this directory: python3 gen_fixtures.py"""
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

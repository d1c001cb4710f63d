#!/usr/bin/env python3
"""Writes the eslogger fixtures of AN0042 (see README.md): Endpoint Security
messages as eslogger prints them with --format json, one a line, built to
Apple's documented es_message_t / es_process_t / es_file_t / es_event_*_t
layouts and to public eslogger output. Run from this directory:
    python3 gen_fixtures.py
It is deterministic: the same files every run."""
import datetime
import gzip
import json
import random

BASE = datetime.datetime(2026, 3, 2, 9, 0, 0, tzinfo=datetime.timezone.utc)
UNSET = 4294967295


class Host:
    def __init__(self, seed, schema_version, version, token_shape, escape):
        self.rng = random.Random(seed)
        self.schema, self.version, self.shape, self.escape = schema_version, version, token_shape, escape
        self.seq = 0
        self.lines = []
        self.pidversion = 40000

    def nextpv(self):
        self.pidversion += self.rng.randint(1, 40)
        return self.pidversion

    def token(self, p):
        if self.shape == "array":
            # audit_token_t's eight words: auid, euid, egid, ruid, rgid, pid, asid, pidversion
            return [p["auid"], p["euid"], 20, p["ruid"], 20, p["pid"], p["asid"], p["pv"]]
        return {"asid": p["asid"], "auid": p["auid"], "egid": 20, "euid": p["euid"], "pid": p["pid"],
                "pidversion": p["pv"], "rgid": 20, "ruid": p["ruid"]}

    def es_file(self, path, size=1024, mode=0o100644):
        return {"path": path, "path_truncated": False,
                "stat": {"st_dev": 16777233, "st_ino": self.rng.randint(10**6, 10**8), "st_mode": mode, "st_nlink": 1,
                         "st_uid": 501, "st_gid": 20, "st_rdev": 0, "st_size": size, "st_blocks": (size + 511) // 512,
                         "st_blksize": 4096, "st_flags": 0, "st_gen": 0,
                         "st_atimespec": "2026-03-02T08:00:00.000000000Z", "st_mtimespec": "2026-03-02T08:00:00.000000000Z",
                         "st_ctimespec": "2026-03-02T08:00:00.000000000Z", "st_birthtimespec": "2026-03-02T08:00:00.000000000Z"}}

    def es_proc(self, p):
        d = {"audit_token": self.token(p), "ppid": p["ppid"], "original_ppid": p["ppid"], "group_id": p["pid"],
             "session_id": p["pid"], "codesigning_flags": 570522385, "is_platform_binary": p["platform"],
             "is_es_client": False, "cdhash": "%040x" % self.rng.getrandbits(160),
             "signing_id": p["signing_id"], "team_id": p["team_id"],
             "executable": self.es_file(p["exe"], 150000, 0o100755),
             "tty": self.es_file(p["tty"], 0, 0o20620) if p["tty"] else None,
             "start_time": "2026-03-02T08:59:00.000000Z"}
        if self.version >= 4:
            parent = p.get("parent")
            d["responsible_audit_token"] = self.token(p.get("resp") or p)
            d["parent_audit_token"] = self.token(parent) if parent else self.token(
                dict(p, pid=p["ppid"], pv=1 if p["ppid"] == 1 else p["pv"] - 1))
        return d

    def emit(self, at, kind, body, proc, event_type):
        self.seq += 1
        t = BASE + datetime.timedelta(seconds=at)
        msg = {"schema_version": self.schema, "mach_time": 80000000000 + int(at * 1e9) // 41,
               "time": t.strftime("%Y-%m-%dT%H:%M:%S.") + "%09dZ" % (t.microsecond * 1000 + self.rng.randint(0, 999)),
               "thread": {"thread_id": self.rng.randint(10**5, 10**7)}, "global_seq_num": self.seq, "seq_num": self.seq,
               "event_type": event_type, "version": self.version, "action_type": 1,
               "action": {"result": {"result_type": 0, "result": {"auth": 0}}},
               "process": self.es_proc(proc), "event": {kind: body}}
        items = list(msg.items())
        self.rng.shuffle(items)  # members in any order
        line = json.dumps(dict(items), separators=(",", ":"))
        if self.escape:
            line = line.replace("/", "\\/")
        self.lines.append(line)

    # Processes
    def proc(self, pid, exe, ppid=1, uid=501, auid=501, asid=100004, tty=None, signing_id=None, team_id=None,
             platform=True, euid=None, parent=None, resp=None):
        return {"pid": pid, "pv": self.nextpv(), "exe": exe, "ppid": ppid, "ruid": uid,
                "euid": uid if euid is None else euid, "auid": auid, "asid": asid, "tty": tty,
                "signing_id": signing_id or ("com.apple." + exe.rsplit("/", 1)[-1]), "team_id": team_id,
                "platform": platform, "parent": parent, "resp": resp}

    def fork(self, at, parent, child_pid):
        child = dict(parent, pid=child_pid, pv=self.nextpv(), ppid=parent["pid"], parent=parent)
        self.emit(at, "fork", {"child": self.es_proc(child)}, parent, 11)
        return child

    def exec(self, at, p, exe, args, cwd, env=None, signing_id=None, team_id=None, platform=True, script=None):
        new = dict(p, pv=self.nextpv(), exe=exe, signing_id=signing_id or ("com.apple." + exe.rsplit("/", 1)[-1]),
                   team_id=team_id, platform=platform)
        env = env or ["PATH=/usr/bin:/bin:/usr/sbin:/sbin", "HOME=/Users/carol", "SHELL=/bin/zsh", "LANG=en_US.UTF-8"]
        body = {"target": self.es_proc(new), "args": args, "env": env, "cwd": self.es_file(cwd, 0, 0o40755),
                "script": self.es_file(script) if script else None, "dyld_exec_path": exe,
                "fds": [{"fd": 0, "fdtype": 1}, {"fd": 1, "fdtype": 1}, {"fd": 2, "fdtype": 1}], "last_fd": 2,
                "image_cputype": 16777228, "image_cpusubtype": 2}
        self.emit(at, "exec", body, p, 9)
        return new

    def exit(self, at, p):
        self.emit(at, "exit", {"stat": 0}, p, 32)

    def create(self, at, p, path):
        d, n = path.rsplit("/", 1)
        self.emit(at, "create", {"destination_type": 1, "destination": {
            "new_path": {"dir": self.es_file(d, 0, 0o40755), "filename": n, "mode": 420}}, "acl": None}, p, 13)

    def close(self, at, p, path, size):
        self.emit(at, "close", {"modified": True, "target": self.es_file(path, size), "was_mapped_writable": False}, p, 12)

    def write(self, at, p, path, size):
        self.create(at, p, path)
        self.close(at + 0.05, p, path, size)

    def rename(self, at, p, src, dst, size=1024):
        d, n = dst.rsplit("/", 1)
        self.emit(at, "rename", {"source": self.es_file(src, size), "destination_type": 1, "destination": {
            "new_path": {"dir": self.es_file(d, 0, 0o40755), "filename": n}}}, p, 25)

    def clone(self, at, p, src, dst, size):
        d, n = dst.rsplit("/", 1)
        self.emit(at, "clone", {"source": self.es_file(src, size), "target_dir": self.es_file(d, 0, 0o40755),
                                "target_name": n}, p, 60)

    def copyfile(self, at, p, src, dst, size):
        d, n = dst.rsplit("/", 1)
        self.emit(at, "copyfile", {"source": self.es_file(src, size), "target_file": None,
                                   "target_dir": self.es_file(d, 0, 0o40755), "target_name": n, "mode": 420,
                                   "flags": 0}, p, 84)

    def unlink(self, at, p, path):
        d = path.rsplit("/", 1)[0]
        self.emit(at, "unlink", {"target": self.es_file(path), "parent_dir": self.es_file(d, 0, 0o40755)}, p, 32)

    def write_file(self, name):
        with open(name, "w") as f:
            f.write("\n".join(self.lines) + "\n")


FINDER = "/System/Library/CoreServices/Finder.app/Contents/MacOS/Finder"
DOCS = "/Users/carol/Documents"


def staging():
    """macOS 13 shapes: ES message version 4 (no parent_audit_token yet: version >= 4
    carries it in this generator's model only from 5), audit tokens as eight
    words, every / escaped."""
    h = Host(13, 1, 4, "array", True)
    # Terminal's shells are in the GUI login's audit session, as Finder is.
    term = h.proc(1200, "/bin/zsh", ppid=1190, tty="/dev/ttys001", asid=100004)
    # 1. cp (clonefile) of documents into /private/tmp/q3, an rsync temp file renamed into place,
    #    then ditto -c -k over it.
    cp = h.exec(1, h.fork(1, term, 1301), "/bin/cp", ["cp", DOCS + "/q3-forecast.xlsx", DOCS + "/board.pdf", "/private/tmp/q3/"],
                "/Users/carol")
    h.clone(1.2, cp, DOCS + "/q3-forecast.xlsx", "/private/tmp/q3/q3-forecast.xlsx", 482113)
    h.clone(1.3, cp, DOCS + "/board.pdf", "/private/tmp/q3/board.pdf", 1288001)
    h.exit(1.4, cp)
    rs = h.exec(5, h.fork(5, term, 1302), "/usr/bin/rsync", ["rsync", "-a", DOCS + "/contracts.docx", "/private/tmp/q3/"],
                "/Users/carol")
    h.write(5.2, rs, "/private/tmp/q3/.contracts.docx.Xa81Qz", 96334)
    h.rename(5.3, rs, "/private/tmp/q3/.contracts.docx.Xa81Qz", "/private/tmp/q3/contracts.docx", 96334)
    h.exit(5.4, rs)
    dt = h.exec(40, h.fork(40, term, 1303), "/usr/bin/ditto", ["ditto", "-c", "-k", "--sequesterRsrc", "--keepParent",
                                                                "/private/tmp/q3", "/private/tmp/q3.zip"], "/Users/carol")
    h.write(40.5, dt, "/private/tmp/q3.zip", 1500221)
    h.exit(41, dt)
    # 2. Shell redirection into $TMPDIR: the forked shell creates the file before it execs cat;
    #    then Apple Archive (aa) over the directory.
    tmp = "/private/var/folders/7x/k2d9w1q50xg6m0c0000gn/T"
    for i, name in enumerate(["customers.csv", "pipeline.numbers", "salaries.xlsx"]):
        sub = h.fork(100 + i, term, 1310 + i)
        h.create(100.1 + i, sub, tmp + "/st/" + name)
        cat = h.exec(100.2 + i, sub, "/bin/cat", ["cat", DOCS + "/" + name], "/Users/carol")
        h.close(100.3 + i, cat, tmp + "/st/" + name, 20000 * (i + 1))
        h.exit(100.4 + i, cat)
    aa = h.exec(130, h.fork(130, term, 1320), "/usr/bin/aa", ["aa", "archive", "-d", tmp + "/st", "-o", tmp + "/st.aar"],
                "/Users/carol")
    h.write(130.4, aa, tmp + "/st.aar", 70011)
    h.exit(131, aa)
    # 3. A USB volume: files copied (copyfile) onto it, then hdiutil create -srcfolder there.
    #    pid 1330 is reused by another process first: it must not lend its image.
    other = h.exec(150, h.fork(150, term, 1330), "/usr/bin/true", ["true"], "/Users/carol")
    h.exit(150.1, other)
    fnd = h.proc(611, FINDER, asid=100004, signing_id="com.apple.finder")
    for i, name in enumerate(["design.key", "roadmap.pages"]):
        h.copyfile(160 + i, fnd, DOCS + "/" + name, "/Volumes/KINGSTON/stage/" + name, 300000 + i)
    for i, name in enumerate(["id_ed25519", "config"]):
        cp2 = h.exec(170 + i, h.fork(170 + i, term, 1330), "/bin/cp", ["cp", "/Users/carol/.ssh/" + name,
                                                                       "/Volumes/KINGSTON/stage/"], "/Users/carol")
        h.clone(170.1 + i, cp2, "/Users/carol/.ssh/" + name, "/Volumes/KINGSTON/stage/" + name, 411 + i)
        h.exit(170.2 + i, cp2)
    hd = h.exec(200, h.fork(200, term, 1340), "/usr/bin/hdiutil", ["hdiutil", "create", "-srcfolder", "/Volumes/KINGSTON/stage",
                                                                     "-format", "UDZO", "/Volumes/KINGSTON/s.dmg"], "/Users/carol")
    h.write(200.8, hd, "/Volumes/KINGSTON/s.dmg", 640000)
    h.exit(201, hd)
    h.write_file("staging.jsonl")


def scripted():
    """macOS 14/15 shapes: ES message version 7 with parent and responsible
    audit tokens, tokens as objects, / unescaped."""
    h = Host(14, 1, 7, "object", False)
    # 1. An ssh login (its own audit session) asks Finder to duplicate documents into
    #    /private/tmp/.cache; Finder writes in the GUI session; then zip -r in the ssh session.
    sshd = h.proc(2100, "/usr/libexec/sshd-session", uid=0, auid=501, asid=100031, tty=None, ppid=1)
    sh = h.exec(0, h.fork(0, sshd, 2101), "/bin/zsh", ["-zsh"], "/Users/carol")
    sh = dict(sh, ruid=501, euid=501, tty="/dev/ttys004")
    osa = h.exec(1, h.fork(1, sh, 2102), "/usr/bin/osascript", [
        "osascript", "-e", 'tell application "Finder" to duplicate (every file of folder "Documents" of home) to '
        '(POSIX file "/private/tmp/.cache" as alias)'], "/Users/carol")
    fnd = h.proc(611, FINDER, asid=100004, signing_id="com.apple.finder")
    for i, name in enumerate(["plan.docx", "budget.xlsx", "minutes.pdf"]):
        h.clone(1.5 + i * 0.2, fnd, DOCS + "/" + name, "/private/tmp/.cache/" + name, 150000 + i * 1000)
    h.exit(2.5, osa)
    z = h.exec(30, h.fork(30, sh, 2103), "/usr/bin/zip", ["zip", "-qr", "c.zip", ".cache"], "/private/tmp")
    h.write(30.2, z, "/private/tmp/ziAbc123", 301000)  # zip's temp file, renamed into place
    h.rename(30.3, z, "/private/tmp/ziAbc123", "/private/tmp/c.zip", 301000)
    h.exit(31, z)
    # 2. A launch agent's Python script collects the keychain and Messages' database into
    #    /Users/Shared/.sync and writes a zip there with zipfile; /usr/bin/python3 is a
    #    shim that re-execs the real interpreter under the same pid.
    launchd = h.proc(1, "/sbin/launchd", uid=0, auid=UNSET, asid=100000, ppid=0)
    bash = h.exec(100, h.fork(100, launchd, 2200), "/bin/bash", ["/bin/bash", "/Users/carol/Library/Application Support/.u/run.sh"],
                  "/", script="/Users/carol/Library/Application Support/.u/run.sh")
    bash = dict(bash, ruid=501, euid=501, auid=UNSET)
    code = ("import shutil,zipfile,os;d='/Users/Shared/.sync';os.makedirs(d,exist_ok=True);"
            "[shutil.copy(p,d) for p in ['/Users/carol/Library/Keychains/login.keychain-db','/Users/carol/Library/Messages/chat.db']];"
            "z=zipfile.ZipFile(d+'.zip','w');[z.write(os.path.join(d,f)) for f in os.listdir(d)];z.close()")
    py = h.fork(101, bash, 2201)
    py = h.exec(101, py, "/usr/bin/python3", ["/usr/bin/python3", "-c", code], "/")
    py = h.exec(101.05, py, "/Library/Developer/CommandLineTools/usr/bin/python3", ["/usr/bin/python3", "-c", code], "/",
                signing_id="com.apple.python3")
    for i, (src, name, size) in enumerate([("/Users/carol/Library/Keychains/login.keychain-db", "login.keychain-db", 401234),
                                          ("/Users/carol/Library/Messages/chat.db", "chat.db", 8123456)]):
        h.copyfile(102 + i, py, src, "/Users/Shared/.sync/" + name, size)
    h.write(104, py, "/Users/Shared/.sync.zip", 2001234)
    h.exit(105, py)
    # 3. A cron job tars a browser profile's logins copied into /private/var/tmp.
    cron = h.proc(330, "/usr/sbin/cron", uid=0, auid=UNSET, asid=100000)
    csh = h.exec(200, h.fork(200, cron, 2300), "/bin/sh", ["/bin/sh", "-c", "/Users/carol/.local/bin/b.sh"], "/Users/carol")
    csh = dict(csh, ruid=501, euid=501)
    prof = "/Users/carol/Library/Application Support/Google/Chrome/Default"
    for i, name in enumerate(["Login Data", "Cookies", "Web Data"]):
        cp = h.exec(201 + i, h.fork(201 + i, csh, 2310 + i), "/bin/cp", ["cp", prof + "/" + name, "/private/var/tmp/.b/"], "/Users/carol")
        h.clone(201.1 + i, cp, prof + "/" + name, "/private/var/tmp/.b/" + name, 90000 + i)
        h.exit(201.2 + i, cp)
    tar = h.exec(210, h.fork(210, csh, 2320), "/usr/bin/tar", ["tar", "-czf", "/private/var/tmp/.b.tgz", "-C", "/private/var/tmp", ".b"],
                 "/Users/carol")
    h.write(210.3, tar, "/private/var/tmp/.b.tgz", 120000)
    h.exit(211, tar)
    # 4. osascript's "do shell script" copies Notes' database into /Users/Shared: a
    #    collection of a sensitive file by osascript, a detection with no archive.
    gui = h.proc(2400, "/System/Applications/Utilities/Script Editor.app/Contents/MacOS/Script Editor", asid=100004,
                 signing_id="com.apple.ScriptEditor2")
    osa = h.exec(300, h.fork(300, gui, 2401), "/usr/bin/osascript", ["osascript", "/Users/carol/Downloads/update.scpt"], "/Users/carol")
    dsh = h.exec(301, h.fork(301, osa, 2402), "/bin/sh", ["sh", "-c", "cp ~/Library/Group\\ Containers/group.com.apple.notes/NoteStore.sqlite /Users/Shared/.n/"],
                 "/Users/carol")
    ncp = h.exec(301.1, h.fork(301.1, dsh, 2403), "/bin/cp", ["cp", "/Users/carol/Library/Group Containers/group.com.apple.notes/NoteStore.sqlite",
                                                              "/Users/Shared/.n/"], "/Users/carol")
    h.clone(301.2, ncp, "/Users/carol/Library/Group Containers/group.com.apple.notes/NoteStore.sqlite", "/Users/Shared/.n/NoteStore.sqlite", 3100000)
    h.exit(301.3, ncp)
    h.write_file("scripted.jsonl")
    with open("scripted.jsonl", "rb") as f, gzip.GzipFile("scripted-gzip.jsonl.gz", "wb", mtime=0) as g:
        g.write(f.read())


def benign():
    """Software updates, Xcode and DerivedData, Homebrew, an installer package,
    Spotlight: quiet. ES message version 6, tokens as objects, / escaped."""
    h = Host(15, 1, 6, "object", True)
    tmp = "/private/var/folders/zz/zyxvpxvq6csfxvn_n0000000000000/T"
    launchd = h.proc(1, "/sbin/launchd", uid=0, auid=UNSET, asid=100000, ppid=0)
    # softwareupdated unpacks and verifies an update in its temp dir.
    su = h.proc(450, "/System/Library/PrivateFrameworks/MobileSoftwareUpdate.framework/Support/softwareupdated", uid=0,
                auid=UNSET, asid=100000, signing_id="com.apple.softwareupdated")
    for i in range(3):
        h.write(1 + i, su, tmp + "/com.apple.SoftwareUpdate/msu-%d/payload.%03d" % (7, i), 5000000)
    dx = h.exec(5, h.fork(5, su, 451), "/usr/bin/ditto", ["ditto", "-x", "-k", tmp + "/com.apple.SoftwareUpdate/u.zip",
                                                          tmp + "/com.apple.SoftwareUpdate/u"], "/")
    h.write(5.5, dx, tmp + "/com.apple.SoftwareUpdate/u/Info.plist", 3000)
    h.exit(6, dx)
    # Xcode: xcodebuild compiles (clang writes into $TMPDIR and DerivedData) and exports with ditto -c.
    ut = "/private/var/folders/7x/k2d9w1q50xg6m0c0000gn/T"
    xb = h.proc(3000, "/Applications/Xcode.app/Contents/Developer/usr/bin/xcodebuild", tty="/dev/ttys002", asid=100011,
                signing_id="com.apple.dt.xcodebuild")
    for i in range(3):
        cl = h.exec(20 + i, h.fork(20 + i, xb, 3001 + i),
                    "/Applications/Xcode.app/Contents/Developer/Toolchains/XcodeDefault.xctoolchain/usr/bin/clang",
                    ["clang", "-c", "src/m%d.m" % i, "-o", ut + "/xcb-%d.o" % i], "/Users/carol/src/App")
        h.write(20.2 + i, cl, ut + "/xcb-%d.o" % i, 40000)
        h.write(20.3 + i, cl, "/Users/carol/Library/Developer/Xcode/DerivedData/App-abc/Build/m%d.o" % i, 40000)
        h.exit(20.4 + i, cl)
    dc = h.exec(30, h.fork(30, xb, 3010), "/usr/bin/ditto", ["ditto", "-c", "-k", "--keepParent", ut + "/App.xcarchive",
                                                             ut + "/App.zip"], "/Users/carol/src/App")
    h.write(30.5, dc, ut + "/App.zip", 900000)
    h.exit(31, dc)
    # Homebrew: bottles are downloaded to its cache and poured with tar -x into /private/tmp, then built with make/clang.
    term = h.proc(3100, "/bin/zsh", tty="/dev/ttys003", asid=100012)
    brew = h.exec(40, h.fork(40, term, 3101), "/bin/bash", ["/bin/bash", "/opt/homebrew/bin/brew", "install", "wget"],
                  "/Users/carol", script="/opt/homebrew/bin/brew")
    rb = h.exec(40.5, brew, "/opt/homebrew/Library/Homebrew/vendor/portable-ruby/current/bin/ruby",
                ["ruby", "/opt/homebrew/Library/Homebrew/brew.rb", "install", "wget"], "/Users/carol", team_id=None,
                platform=False, signing_id="ruby")
    tx = h.exec(41, h.fork(41, rb, 3102), "/usr/bin/tar", ["tar", "-xzf", "/Users/carol/Library/Caches/Homebrew/downloads/wget.tar.gz",
                                                           "-C", "/private/tmp/wget-20260302-3101-1x2y3z"], "/Users/carol")
    for name in ["configure", "Makefile.in", "src/wget.c"]:
        h.write(41.2, tx, "/private/tmp/wget-20260302-3101-1x2y3z/wget-1.25/" + name, 12000)
    h.exit(42, tx)
    mk = h.exec(43, h.fork(43, rb, 3103), "/usr/bin/make", ["make", "-j8"], "/private/tmp/wget-20260302-3101-1x2y3z/wget-1.25")
    cl = h.exec(44, h.fork(44, mk, 3104), "/usr/bin/clang", ["clang", "-c", "src/wget.c", "-o", "src/wget.o"],
                "/private/tmp/wget-20260302-3101-1x2y3z/wget-1.25")
    h.write(44.5, cl, "/private/tmp/wget-20260302-3101-1x2y3z/wget-1.25/src/wget.o", 80000)
    h.exit(45, cl)
    # An installer package: installd writes the payload into its sandbox in /private/tmp and unpacks it.
    inst = h.exec(60, h.fork(60, term, 3200), "/usr/sbin/installer", ["installer", "-pkg", "/Users/carol/Downloads/tool.pkg",
                                                                     "-target", "/"], "/Users/carol", )
    inst = dict(inst, euid=0, ruid=0)
    ind = h.proc(455, "/System/Library/PrivateFrameworks/PackageKit.framework/Versions/A/Resources/installd", uid=0,
                 auid=UNSET, asid=100000, signing_id="com.apple.installd")
    for i in range(3):
        h.write(61 + i, ind, "/private/tmp/PKInstallSandbox.Ab12Cd/Scripts/tool.pkg.%d" % i, 5000)
    px = h.exec(65, h.fork(65, ind, 456), "/usr/bin/ditto", ["ditto", "-x", "/private/tmp/PKInstallSandbox.Ab12Cd/Payload",
                                                             "/private/tmp/PKInstallSandbox.Ab12Cd/Root"], "/")
    h.write(65.5, px, "/private/tmp/PKInstallSandbox.Ab12Cd/Root/usr/local/bin/tool", 400000)
    h.exit(66, px)
    gz = h.exec(67, h.fork(67, ind, 457), "/usr/bin/gzip", ["gzip", "-9", "/private/tmp/PKInstallSandbox.Ab12Cd/Scripts/tool.pkg.0"], "/")
    h.write(67.2, gz, "/private/tmp/PKInstallSandbox.Ab12Cd/Scripts/tool.pkg.0.gz", 2000)
    h.exit(68, gz)
    # Spotlight: mds_stores and mdworker_shared write their temporaries.
    mds = h.proc(300, "/System/Library/Frameworks/CoreServices.framework/Frameworks/Metadata.framework/Support/mds_stores",
                 uid=0, auid=UNSET, asid=100000, signing_id="com.apple.mds_stores")
    for i in range(4):
        h.write(80 + i, mds, tmp + "/com.apple.mds_stores/tmp.%d.db" % i, 65536)
    mdw = h.proc(3300, "/System/Library/Frameworks/CoreServices.framework/Frameworks/Metadata.framework/Versions/A/Support/mdworker_shared",
                 asid=100004, signing_id="com.apple.mdworker_shared")
    for i in range(3):
        h.write(85 + i, mdw, ut + "/mdworker-%d.tmp" % i, 2048)
    # A person unzips a download into /tmp: an extraction, quiet.
    uz = h.exec(90, h.fork(90, term, 3400), "/usr/bin/unzip", ["unzip", "-q", "/Users/carol/Downloads/photos.zip", "-d", "/private/tmp/photos"],
                "/Users/carol")
    for i in range(4):
        h.write(90.2 + i * 0.1, uz, "/private/tmp/photos/IMG_%04d.jpg" % i, 2000000)
    h.exit(91, uz)
    h.write_file("benign.jsonl")


def mangled():
    """Lines cut, corrupted or not eslogger's, among good ones."""
    h = Host(16, 1, 7, "object", False)
    term = h.proc(1200, "/bin/zsh", tty="/dev/ttys001", asid=100011)
    cp = h.exec(1, h.fork(1, term, 1301), "/bin/cp", ["cp", "a", "/private/tmp/m/"], "/Users/carol")
    h.clone(1.1, cp, "/Users/carol/a.docx", "/private/tmp/m/a.docx", 100)
    good = list(h.lines)
    bad = [good[1][: len(good[1]) // 2],                       # cut mid-line
           '{"time":"2026-03-02T09:00:01Z","process":{}}',     # no event
           '{"time":"yesterday","event":{"exec":{}}}',         # a bad time
           "not json at all",
           '[1,2,3]',
           '{"event":{"create":{"destination":{"new_path":{"dir":{"path":"\\ud800\\u12"}}}}}}',  # a bad escape
           '{"time":"2026-03-02T09:00:01Z","event":{"create":{}}} trailing']
    h.lines = good[:1] + bad + good[1:]
    h.write_file("mangled.jsonl")


if __name__ == "__main__":
    staging()
    scripted()
    benign()
    mangled()

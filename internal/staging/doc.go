// Package staging is the staging correlator shared by the endpoint analytics
// (AN0040 Windows, AN0041 Linux, AN0042 macOS): normalized events in,
// DET0014 detections out. It makes no system calls and builds on every GOOS.
//
// # Staging
//
// A file event (create, write, move_in, copy) under a staging root
// (Config.StagingDirectories; an element "*" matches any one path element) is
// staged into a group: the first directory below the root (/tmp/loot/a/b.docx
// → /tmp/loot), or the root itself for files directly in it (the root group).
// Not staged: paths matching AllowedPaths, events whose process or an
// ancestor matches AllowedParents (both counted as ignored), and writes by an
// archiver: a process whose executable matches ArchiverPatterns or whose pid
// has a recent archiver or extractor exec. A group keeps each distinct path
// with its latest size, first and last time, writer, actor, how it came
// (created in place, copied, moved, with the source where the event or the
// copy tool's arguments say it) and sensitive type, and its first MaxEvidence
// events as evidence. Windows paths compare case-insensitively with either
// separator.
//
// Only files that still exist count: a delete or a move out (event.Kind
// Removes) marks the file, or every file below a directory, gone at that
// time, and a step after it does not count it (sort's spills, compiler
// temporaries, editor swap files). A path written again after it went, or
// rewritten by another actor, starts a new record with its own actor and
// times. A rename inside a group is one file under its new name.
//
// # Actors
//
// Files count for a step only when the actor that staged them is the one
// that archived them. Actors are people and sessions, not uids: two events
// are one actor when they share a login session (Actor.Session: an audit
// session, a Windows logon id, a macOS audit session) and the same person,
// or, with no login (services, cron jobs, package managers), when they share
// a process subtree (Actor.Scope, which the endpoint's process table sets);
// where neither is known, the audit uid, else the uid, else the user name.
//
// # Archive steps
//
//   - An exec that Classify calls an archiver (tar c, zip, 7z a, rar a,
//     gzip/xz/zstd compressing, cpio -o, ditto -c, hdiutil create -srcfolder,
//     Compress-Archive, makecab, python -m zipfile -c…) whose executable or
//     tool name matches ArchiverPatterns. Its inputs, resolved against its cwd
//     (tar -C applied, wildcards kept as globs, tar -T and 7z @list names from
//     Process.Listed), or the cwd when it names none, and the group its
//     output lies in, are what it reads. Its output is the file the tool
//     really writes: zip, 7z and rar add their suffix when it has none.
//     A renamed tool is classified as what it is: by the name it was built
//     with (Process.OriginalName, Sysmon's OriginalFileName), else by a
//     command line shaped as 7-Zip's; the reason says "7z (as svchost.exe)".
//   - A fork of the archiver that has not exec'd (GNU tar's child that
//     writes before running gzip) is the archiver: its writes make no second
//     step, and an archive file the exec step names is that step.
//   - An archive file (.zip .tar .tgz .gz .bz2 .xz .zst .7z .rar .cab .cpio…,
//     or a file whose content the sensor read as one) written in a staging
//     root by a process with no archiver exec on record (a script using
//     zipfile, a renamed tool, an unknown binary), but only when that process
//     could have read the staged files: its cwd or command line names the
//     staging location, or it staged files itself in the group the archive
//     lies in or is named like (/tmp/loot.zip → /tmp/loot). It reads that
//     group.
//   - A file that was an archive already is never a step: one that arrives
//     by a move, a copy event or a link, or is written by a copy tool (cp,
//     mv, rsync, install, dd, scp, sftp-server, cat, Copy-Item, xcopy,
//     robocopy, ditto without -c, cloud copy tools), a downloader (curl,
//     wget, browsers), a package manager or an extractor.
//
// A step reads a subdirectory group when a reference equals it, lies under it
// or contains it. Directly in a root (/tmp, %TEMP%, /private/tmp) the root is
// never read whole: a step counts only the root files its inputs name (an
// argument, a glob against its cwd, a list file's names) or that share its
// archive's name stem. Extractors (tar -x/-t, unzip, gunzip, gzip -d, 7z x,
// unrar, cpio -i, ditto -x, Expand-Archive…) never make a step; their pid is
// remembered so that what they write is not staged either. One archive makes
// one step.
//
// # Detections
//
// A step yields one detection when the staged files it reads — staged by the
// same actor, within TimeWindow before the step, still there when it ran, not
// the archive itself and not written by the archiver process — number at
// least MinimumFileCount, and the archiving actor passes the UserContext
// gate. The UID is the first 16 bytes of
// sha256(analytic|host|pid|exec time ns|group), hex: replaying the same
// events yields the same UIDs. The score (0–100; low < 40 ≤ medium < 70 ≤
// high) adds to a base of 20: file count (log scale, up to 25), bytes (log
// scale, up to 15), sensitive types (documents 10, keys and secrets 30,
// databases 10, mail 10; up to 30), encryption 20, elevated 10, interactive
// 5. A file is a key or secret by its name and directories (category.go),
// by the path it was moved from, or by what the sensor read in its first
// bytes (event.Secret). The reason names the archiver or the script that
// wrote the archive, says how the files came (copied, moved, created, with
// their source) and the time it took, never rounded up.
//
// # Copies as steps (Config.CopySteps, Config.ArchiveAlone)
//
// DET0014's Windows analytic names three behaviours, each a detection on
// its own: sensitive files staged into a temporary or public directory,
// compression, and a batch copy before exfiltration. With CopySteps a copy
// into a staging root read from a command line (xcopy, robocopy, cmd's
// copy and move, Copy-Item, and the tools that copy what Windows keeps
// locked: esentutl /y, reg save, ntdsutil ifm; environment variables such
// as %TEMP% and $env:TEMP expanded for the actor) is a step: a detection when it is a
// batch (a wildcard or a whole tree, of unknown size, which
// MinimumFileCount does not filter), copies sensitive material (a
// profile's Documents or Desktop, mail, keys, hives and directory
// databases, volume shadow copies), or writes MinimumFileCount files,
// which its own file creations count (updated at 1, 2, 4… files, and by
// Settle when they stop). A file manager, copy tool or shell seen only
// through the sensitive files it creates in a staging directory (Explorer,
// a script whose command line was not logged) is such a copy too. An
// archive step of the same actor within TimeWindow that reads the copy's
// group or its sources takes that detection over: the same UID, the
// copy's files where no file events were logged, and 10 more to its score
// (20 after a batch). With ArchiveAlone an archive step that names a
// staging directory as its input or output is a detection even over fewer
// than MinimumFileCount staged files. Files another host wrote over a
// share (event.RemoteAddr) count for the same person archiving them in
// another logon, and make the detection T1074.002. Both rules are off for
// Linux and macOS.
//
// # Script collection (Config.ScriptContexts)
//
// macOS's analytic names osascript and shell automation under non-GUI
// parents. With ScriptContexts set (scripts_mac.go): an osascript speaks
// for the applications it tells (Finder, System Events, Terminal; a
// script file for any) for a minute, so a Finder write takes the
// osascript's process and actor, and a shell Terminal runs for it takes
// its actor; a sensitive file (keychain, Notes, Messages, a browser
// profile, ~/.ssh, Documents, Desktop, Downloads, Mail, or by name)
// collected into a staging group by osascript, or by a script whose
// launcher (its first ancestor that is no shell or interpreter) matches
// ScriptContexts, is a collection step on the copy steps' machinery: a
// detection alone, continued by the archive step over the same group. An
// exec repeating the argv of its pid's step within a second (a shim such
// as /usr/bin/python3 exec'ing the real tool) is the same step.
//
// A detection is re-emitted with the same UID, and Observe returns it again,
// when an encryption of its archive follows within TimeWindow (gpg -c/-e,
// openssl enc, age, zipcloak with the archive as input, or an encryptor fed
// by the same pipeline as "tar czf -"), and when staged events older than the
// step arrive late (sensors may deliver up to maxSkew out of order).
//
// # Bounds
//
// Time is event time: the newest event time seen is "now", older events are
// accepted (counted late) unless more than TimeWindow behind (counted stale).
// Groups expire after TimeWindow without events; at MaxGroups the least
// recently active is evicted. Past MaxFilesPerGroup or MaxFiles a group counts
// files and bytes without keeping their paths. Recent steps are kept for
// TimeWindow, at most MaxSteps. Every eviction is counted in Stats.Dropped.
package staging

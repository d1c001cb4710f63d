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
// with its latest size, first and last time, writer and actor, and its first
// MaxEvidence events as evidence. Windows paths compare case-insensitively
// with either separator.
//
// # Archive steps
//
//   - An exec that Classify calls an archiver (tar c, zip, 7z a, rar a,
//     gzip/xz/zstd compressing, cpio -o, ditto -c, hdiutil create -srcfolder,
//     Compress-Archive, makecab, python -m zipfile -c…) whose executable or
//     tool name matches ArchiverPatterns. Its inputs, resolved against its cwd
//     (tar -C applied, a trailing wildcard element dropped), or the cwd when
//     it names none, and the group its output lies in, are what it reads.
//   - An archive file (.zip .tar .tgz .gz .bz2 .xz .zst .7z .rar .cab .cpio…)
//     written in a staging root by a process with no archiver exec on record
//     (a script using zipfile, a renamed tool); downloaders (curl, browsers)
//     excepted. It reads the group it lies in; directly in a root, the root
//     group and the group named like it (/tmp/loot.zip → /tmp/loot).
//
// A step reads a subdirectory group when a reference equals it, lies under it
// or contains it; it reads a file of a root group when the reference is that
// file or contains it. Extractors (tar -x/-t, unzip, gunzip, gzip -d, 7z x,
// unrar, cpio -i, ditto -x, Expand-Archive…) never make a step; their pid is
// remembered so that what they write is not staged either.
//
// # Detections
//
// A step yields one detection when the staged files it reads — written by the
// same actor (equal audit uid when both are known, else uid, else user name,
// else session), within TimeWindow before the step, not the archive itself and
// not written by the archiver process — number at least MinimumFileCount, and
// the archiving actor passes the UserContext gate. The UID is the first 16
// bytes of sha256(analytic|host|pid|exec time ns|group), hex: replaying the
// same events yields the same UIDs. The score (0–100; low < 40 ≤ medium < 70
// ≤ high) adds to a base of 20: file count (log scale, up to 25), bytes (log
// scale, up to 15), sensitive types (documents 10, keys and secrets 30,
// databases 10, mail 10; up to 30), encryption 20, elevated 10, interactive 5.
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

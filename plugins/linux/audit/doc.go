// Package audit is stagewatch's live exec collector on the Linux kernel audit
// subsystem: it installs execve/execveat syscall rules, reads the records
// over NETLINK_AUDIT and turns them into events with internal/auditlog.
//
// Audit was chosen over the proc connector for AN0041 because it captures
// argv, cwd and ids inside the exec syscall itself, so even an archiver that
// lives for a millisecond is reported in full; see docs/ and the capture-rate
// test in this package. The collector is Linux only; this file lets the
// package build (empty) on every GOOS.
package audit

// Package eval is AN0041's labelled evaluation suite: staging stories that
// must each raise exactly the detection their label gives, and benign
// activities of a developer's day and a server's that must raise none. The
// stories run for real on this machine (as a login user on a terminal, and
// as root without a login uid, as services and cron jobs run), through the
// real analytic reading audit and fanotify; the same stories recorded with
// auditd are replayed from plugins/linux/testdata/eval. `make eval` prints
// a table per mode and fails on any miss or alert.
//
// Everything here is Linux-only; this file only names the package.
package eval

#!/bin/bash
# Re-records AN0041's evaluation fixtures (eval.audit.log.gz and
# schedule.json in this directory) with a real auditd: every story of
# plugins/linux/eval run once, in order, as the live evaluation runs them.
#
# Run as root on a machine where nothing owns the audit socket (auditctl -s
# shows pid 0), from a process with no login uid (root's stories must run
# as services do; under a login use `systemd-run --pty --wait`). The
# recorder's auditd writes RAW records for every exec and for writes,
# creations, renames and unlinks under /tmp, /var/tmp, /mnt and /dev/shm;
# afterwards its rules are deleted and the kernel's audit settings put back.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../../.."
command -v auditd >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq auditd >/dev/null; }
# auditd's own service must not hold the audit socket.
if command -v systemctl >/dev/null && systemctl is-active -q auditd 2>/dev/null; then
	echo "record.sh: auditd.service is running; stop it first" >&2
	exit 1
fi
go run ./plugins/linux/eval/cmd/stagewatch-eval -record -fixtures "$here" "$@"
ls -l "$here"
echo "auditd $(dpkg-query -W -f '${Version}' auditd), kernel $(uname -r), $(date -u +%Y-%m-%dT%H:%M:%SZ)"

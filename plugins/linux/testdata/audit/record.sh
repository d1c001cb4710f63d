#!/bin/bash
# Re-records the audit fixtures in this directory from a real auditd.
#
# Run as root on a machine where nothing else uses the kernel audit subsystem
# (no auditd running, `auditctl -s` shows pid 0). Each scenario gets its own
# auditd in the foreground with its own config directory and log file, rules
# scoped by login uid so that unrelated activity on the machine stays out of
# the fixture. Afterwards the rules are deleted and the kernel audit settings
# (enabled, failure, backlog_limit, backlog_wait_time) are put back as found.
#
#   staging.log  uid 1000 on a pty (auid 1000): copies documents into a fresh
#                /tmp dir, then tar, zip -r, zip -P, gpg -c, openssl enc.
#                log_format=ENRICHED (trailing \x1d section, node=).
#   benign.log   root (auid 1001): tar -x, unzip, a package-manager-like
#                download + dpkg-deb -x under /var/tmp, gcc using /tmp,
#                logrotate compressing a log under /var/log, one exec with a
#                10000-byte argument (split EXECVE a1[0]/a1[1] form).
#                log_format=RAW.
#   mangled.log  derived from staging.log: truncated and corrupted lines for
#                bad-input tests (no auditd involved).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# A fixed work dir keeps argv in the fixtures stable across recordings.
work=/srv/stagewatch-record
rm -rf "$work"; mkdir -p "$work"
docs=$work/docs
stage=/tmp/sw-stage-q3
staging_uid=1000
staging_auid=1000
benign_auid=1001

status() { auditctl -s | awk -v k="$1" '$1==k {print $2}'; }

if [ "$(status pid)" != 0 ]; then
	echo "record.sh: an audit daemon (pid $(status pid)) owns the audit socket; stop it first" >&2
	exit 1
fi
prev_enabled=$(status enabled)
prev_failure=$(status failure)
prev_backlog=$(status backlog_limit)
prev_wait=$(status backlog_wait_time)

auditd_pid=
cleanup() {
	if [ -n "$auditd_pid" ]; then kill "$auditd_pid" 2>/dev/null || true; wait "$auditd_pid" 2>/dev/null || true; fi
	auditctl -D >/dev/null
	auditctl -e "$prev_enabled" -f "$prev_failure" -b "$prev_backlog" --backlog_wait_time "$prev_wait" >/dev/null
	rm -rf "$work" "$stage" /tmp/sw-q3* /tmp/sw-extract /tmp/sw-unzip /var/tmp/sw-apt /var/log/sw-app.log*
}
trap cleanup EXIT

# start_auditd FORMAT LOGFILE: a foreground auditd writing only LOGFILE.
start_auditd() {
	local conf=$work/auditd-conf
	rm -rf "$conf"; mkdir -p "$conf/plugins.d"
	cat >"$conf/auditd.conf" <<EOF
local_events = yes
write_logs = yes
log_file = $2
log_group = root
log_format = $1
flush = SYNC
max_log_file = 8
num_logs = 0
max_log_file_action = IGNORE
space_left = 2
space_left_action = IGNORE
admin_space_left = 1
admin_space_left_action = IGNORE
disk_full_action = IGNORE
disk_error_action = IGNORE
q_depth = 2000
overflow_action = SYSLOG
plugin_dir = $conf/plugins.d
end_of_event_timeout = 2
EOF
	chmod 0640 "$conf/auditd.conf"
	# auditd makes the log directory private, so it gets one of its own.
	mkdir -p "$(dirname "$2")"; rm -f "$2"
	auditd -n -c "$conf" 2>"$work/auditd.stderr" &
	auditd_pid=$!
	for _ in $(seq 50); do
		[ "$(status pid)" = "$auditd_pid" ] && return 0
		sleep 0.1
	done
	echo "record.sh: auditd did not start:" >&2; cat "$work/auditd.stderr" >&2
	exit 1
}

stop_auditd() {
	sleep 1 # let the last records reach the log
	auditctl -D >/dev/null
	kill "$auditd_pid"; wait "$auditd_pid" || true
	auditd_pid=
}

# exec_rules AUID KEY: execve/execveat for 64- and 32-bit callers.
exec_rules() {
	auditctl -a always,exit -F arch=b64 -S execve,execveat -F auid="$1" -k "$2"
	auditctl -a always,exit -F arch=b32 -S execve,execveat -F auid="$1" -k "$2"
}

# file_rules AUID KEY DIR...: creation, writes, renames, links and unlinks
# under each DIR (perm=wa selects the write/attribute syscall classes).
file_rules() {
	local auid=$1 key=$2; shift 2
	for d in "$@"; do
		auditctl -a always,exit -F arch=b64 -F dir="$d" -F perm=wa -F auid="$auid" -k "$key"
	done
}

make_docs() {
	mkdir -p "$docs/docx/word" "$docs/docx/_rels"
	cat >"$docs/docx/[Content_Types].xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>
EOF
	cat >"$docs/docx/word/document.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Q3 revenue forecast, confidential.</w:t></w:r></w:p></w:body></w:document>
EOF
	(cd "$docs/docx" && zip -qX ../report.docx '[Content_Types].xml' word/document.xml)
	cp "$docs/report.docx" "$docs/board minutes.docx"
	printf 'account,region,amount\n1001,emea,125000\n1002,apac,98000\n' >"$docs/budget.csv"
	openssl genrsa -out "$docs/deploy-key.pem" 2048 2>/dev/null
	cp /usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf "$docs/spec.pdf"
	chmod -R a+rX "$work"

	# Inputs of the benign scenario.
	mkdir -p "$docs/bundle/src"
	printf 'int main(void) { return 0; }\n' >"$docs/bundle/src/hello.c"
	printf 'hello\n' >"$docs/bundle/README"
	tar czf "$docs/bundle.tgz" -C "$docs" bundle
	(cd "$docs" && zip -qr bundle.zip bundle)
	mkdir -p "$docs/pkg/DEBIAN" "$docs/pkg/usr/share/sw-demo"
	printf 'Package: sw-demo\nVersion: 1.0\nArchitecture: all\nMaintainer: demo <demo@example.org>\nDescription: demo\n' >"$docs/pkg/DEBIAN/control"
	printf 'data\n' >"$docs/pkg/usr/share/sw-demo/data.txt"
	dpkg-deb -b "$docs/pkg" "$docs/sw-demo_1.0_all.deb" >/dev/null
	cat >"$docs/logrotate.conf" <<EOF
/var/log/sw-app.log {
	rotate 2
	compress
	missingok
	create 0640 root root
}
EOF
}

staging_session() {
	cat >"$work/staging.sh" <<EOF
set -e
cd /tmp
mkdir $stage
cp $docs/report.docx $docs/budget.csv sw-stage-q3/
cp "$docs/board minutes.docx" $stage/
cp $docs/deploy-key.pem $docs/spec.pdf $stage/
sleep 1
tar czf /tmp/sw-q3.tgz -C /tmp sw-stage-q3
cd $stage
zip -qr ../sw-q3.zip .
zip -q -P secret /tmp/sw-q3-locked.zip /tmp/sw-q3.tgz
export GNUPGHOME=\$(mktemp -d /tmp/sw-q3-gnupg.XXXXXX)
gpg --batch --quiet --pinentry-mode loopback --passphrase pw -c -o /tmp/sw-q3.tgz.gpg /tmp/sw-q3.tgz
gpgconf --kill gpg-agent
rm -rf "\$GNUPGHOME"
openssl enc -aes-256-cbc -pbkdf2 -pass pass:pw -in /tmp/sw-q3.zip -out /tmp/sw-q3.zip.enc
mv /tmp/sw-q3.zip.enc $stage/out.bin
rm /tmp/sw-q3.tgz
EOF
	chmod a+r "$work/staging.sh"
	# A login uid plus a pty make the session look like an interactive user.
	bash -c "echo $staging_auid >/proc/self/loginuid && exec script -qec 'setpriv --reuid $staging_uid --regid $staging_uid --clear-groups bash $work/staging.sh' /dev/null" </dev/null
}

benign_session() {
	local big
	big=$(head -c 10000 /dev/zero | tr '\0' x)
	cat >"$work/benign.sh" <<EOF
set -e
mkdir -p /tmp/sw-extract /tmp/sw-unzip
tar -xzf $docs/bundle.tgz -C /tmp/sw-extract
unzip -q $docs/bundle.zip -d /tmp/sw-unzip
mkdir -p /var/tmp/sw-apt/partial
cp $docs/sw-demo_1.0_all.deb /var/tmp/sw-apt/partial/sw-demo_1.0_all.deb
mv /var/tmp/sw-apt/partial/sw-demo_1.0_all.deb /var/tmp/sw-apt/sw-demo_1.0_all.deb
dpkg-deb -x /var/tmp/sw-apt/sw-demo_1.0_all.deb /var/tmp/sw-apt/root
cd $docs/bundle/src && gcc -o $work/hello hello.c
printf 'line\n%.0s' \$(seq 200) >/var/log/sw-app.log
logrotate -f -s $work/logrotate.state $docs/logrotate.conf
/usr/bin/env true $big
EOF
	bash -c "echo $benign_auid >/proc/self/loginuid && exec bash $work/benign.sh" </dev/null
}

make_mangled() {
	local src=$here/staging.log out=$here/mangled.log
	{
		head -n 12 "$src"
		# A record cut in the middle, as when a log is copied while written.
		sed -n 13p "$src" | head -c 70; echo
		echo 'this is not an audit record'
		echo 'type=SYSCALL msg=audit(1700000000.123:99 arch=c000003e syscall=59'
		echo 'type=EXECVE msg=audit(1700000001.000:100): argc=2 a0="tar a1=zz'
		echo 'type=EXECVE msg=audit(1700000001.000:101): argc=2 a0=7G61 a1="x"'
		printf 'type=SYSCALL msg=audit(\001\002\377:7): \377\376\n'
		echo 'type= msg=audit(1.1:1):'
		echo 'type=EXECVE msg=audit(1700000002.000:102): argc=99999999999999999999 a0="x"'
		sed -n '14,40p' "$src"
		# A final record with no newline, truncated.
		sed -n 41p "$src" | head -c 40
	} >"$out"
}

make_docs

start_auditd ENRICHED "$work/logs/staging.log"
exec_rules $staging_auid stagewatch_exec
file_rules $staging_auid stagewatch_file /tmp
staging_session
stop_auditd
cp "$work/logs/staging.log" "$here/staging.log"

start_auditd RAW "$work/logs/benign.log"
exec_rules $benign_auid stagewatch_exec
file_rules $benign_auid stagewatch_file /tmp /var/tmp /var/log
benign_session
stop_auditd
cp "$work/logs/benign.log" "$here/benign.log"

make_mangled
chmod 0644 "$here"/*.log
ls -l "$here"/*.log
echo "auditd $(dpkg-query -W -f '${Version}' auditd), kernel $(uname -r), $(date -u +%Y-%m-%dT%H:%M:%SZ)"

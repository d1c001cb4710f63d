#!/usr/bin/env python3
"""Writes AN0044's replay fixtures. Every line is authored, not recorded:
shaped after the layouts VMware documents and ESXi writes (see README.md),
one story per file. Run it from this directory; then regenerate the golden
files with `go test ./plugins/esxi/an0044 -run TestGolden -update` and
review the diff."""
import gzip, json
from datetime import datetime, timedelta, timezone

T0 = datetime(2026, 3, 10, 14, 0, 0, tzinfo=timezone.utc)

def ts(sec, frac=True):
    t = T0 + timedelta(seconds=sec)
    return t.strftime('%Y-%m-%dT%H:%M:%S') + ('.%03dZ' % (sec * 37 % 1000) if frac else 'Z')

def write(name, lines, gz=False):
    data = ('\n'.join(lines) + '\n').encode()
    if gz:
        with gzip.GzipFile(name, 'wb', mtime=0) as f:
            f.write(data)
    else:
        open(name, 'wb').write(data)

def config(name, cfg):
    open(name, 'w').write(json.dumps(cfg, indent=2) + '\n')

# 1. ESXi 8, RFC 5424 syslog from esx02: an interactive SSH session, vim-cmd
# snapshots (shell.log, and the hostd tasks they start, opID=vim-cmd-…),
# vmkfstools -i onto an NFS datastore and a cp of the flat file.
L = []
def s5424(sec, pri, app, pid, sd, msg):
    L.append('<%d>1 %s esx02.lab.example %s %s - %s %s' % (pri, ts(sec), app, pid, sd, msg))
s5424(0, 38, 'sshd', 2101000, '-', 'Accepted keyboard-interactive/pam for root from 203.0.113.45 port 53211 ssh2')
s5424(1, 38, 'sshd', 2101000, '-', 'pam_unix(sshd:session): session opened for user root by (uid=0)')
s5424(5, 86, 'shell', 2101234, '-', 'Interactive shell session started')
s5424(20, 86, 'shell', 2101234, '-', '[root]: vim-cmd vmsvc/getallvms')
for i, vm in enumerate(['5', '5', '7']):
    sec = 40 + i * 30
    s5424(sec, 86, 'shell', 2101234, '-', '[root]: vim-cmd vmsvc/snapshot.create %s pre-copy-%d' % (vm, i))
    s5424(sec + 1, 166, 'Hostd', 2099570, '[Originator@6876 sub="Vimsvc.TaskManager" opID="vim-cmd-%02x-4b1e" user="root"]' % (0x40 + i),
          'Task Created : haTask-%s-vim.VirtualMachine.createSnapshot-%d' % (vm, 1200 + i))
    s5424(sec + 3, 166, 'Hostd', 2099570, '[Originator@6876 sub="Vimsvc.TaskManager" opID="vim-cmd-%02x-4b1e" user="root"]' % (0x40 + i),
          'Task Completed : haTask-%s-vim.VirtualMachine.createSnapshot-%d Status success' % (vm, 1200 + i))
s5424(200, 86, 'shell', 2101234, '-', '[root]: vmkfstools -i /vmfs/volumes/datastore1/erp-db01/erp-db01.vmdk -d thin /vmfs/volumes/nfs-stage/.cache/erp-db01.vmdk')
s5424(260, 86, 'shell', 2101234, '-', '[root]: cp /vmfs/volumes/datastore1/erp-app01/erp-app01-flat.vmdk /vmfs/volumes/nfs-stage/.cache/')
s5424(300, 182, 'vmkernel', '-', '-', 'cpu12:2101300)NFS: 1234: Connect to server 198.51.100.7 succeeded')
write('tp-ssh-session-vimcmd-vmkfstools-esxi8.syslog', L)

# 2. ESXi 7 auth.log, bare, gzipped: non-interactive ssh root@host 'cmd'
# (only auth.log sees it) cloning a disk and sending a flat file out.
L = [
    '%s sshd[2102001]: Connection from 198.51.100.20 port 40122' % ts(0, False),
    '%s sshd[2102001]: Accepted publickey for root from 198.51.100.20 port 40122 ssh2' % ts(1, False),
    "%s sshd[2102001]: User 'root' running command 'vmkfstools -i /vmfs/volumes/ds-ssd/hr-files/hr-files_1.vmdk /vmfs/volumes/ds-ssd/.t/hr.vmdk'" % ts(2, False),
    '%s sshd[2102001]: Session closed for user root' % ts(90, False),
    '%s sshd[2102010]: Accepted publickey for root from 198.51.100.20 port 40180 ssh2' % ts(120, False),
    "%s sshd[2102010]: User 'root' running command 'scp -f /vmfs/volumes/ds-ssd/.t/hr-flat.vmdk'" % ts(121, False),
]
write('tp-ssh-noninteractive-clone-esxi7.log.gz', L, gz=True)

# 3. ESXi 6.5 hostd.log, bare: hex thread ids, "-->" continuations; four
# snapshots of vmid 12 from vim-cmd within ten minutes.
L = []
for i in range(4):
    sec = i * 150
    L.append('%s info hostd[3B180B70] [Originator@6876 sub=Vimsvc.TaskManager opID=vim-cmd-b%d-8bd2 user=root] Task Created : haTask-12-vim.VirtualMachine.createSnapshot-%d' % (ts(sec), i, 245 + i))
    L.append('%s info hostd[3B2C1B70] [Originator@6876 sub=Vmsvc.vm:/vmfs/volumes/5a1c2f3e-9d7e0c2a-1b2a-000c29aa0001/fileserver/fileserver.vmx opID=vim-cmd-b%d-8bd2 user=root] Snapshot:' % (ts(sec + 1), i))
    L.append('--> snapshot name = "s%d"' % i)
    L.append('--> quiesce = false, memory = false')
    L.append('%s info hostd[3B180B70] [Originator@6876 sub=Vimsvc.TaskManager opID=vim-cmd-b%d-8bd2 user=root] Task Completed : haTask-12-vim.VirtualMachine.createSnapshot-%d Status success' % (ts(sec + 4), i, 245 + i))
write('tp-vimcmd-snapshot-burst-esxi65-hostd.log', L)

# 4. ESXi 7 syslog (RFC 3164 with ESXi's ISO time): a pyvmomi script logs
# in to hostd and downloads a VM's flat disk through the datastore
# browser (/folder); the VM is marked sensitive by name (config).
L = [
    '<166>%s esx03.lab.example Hostd[2099601]: [Originator@6876 sub=Vimsvc.ha-eventmgr] Event 201 : User dcadmin@192.0.2.66 logged in as pyvmomi Python/3.11.4 (Linux; 6.1.0; x86_64)' % ts(0),
    "<166>%s esx03.lab.example Hostd[2099601]: [Originator@6876 sub=Vimsvc.ha-eventmgr] Event 202 : File download from path '[datastore2] fin-ledger01/fin-ledger01-flat.vmdk' was initiated from 'dcadmin@192.0.2.66' and completed with status 'Success'" % ts(400),
    '<166>%s esx03.lab.example Hostd[2099601]: [Originator@6876 sub=Vimsvc.ha-eventmgr] Event 203 : User dcadmin@192.0.2.66 logged out (login time: Tuesday, 10 March, 2026 14:00:00 PM, number of API invocations: 12, user agent: pyvmomi Python/3.11.4)' % ts(700),
]
write('tp-datastore-browser-download-sensitive-vm.syslog', L)
config('tp-datastore-browser-download-sensitive-vm.config.json', {'SensitiveVMList': ['fin-*']})

# 5. ESXi 7 hostd.log, bare: a reporting account (AccessUserList) takes a
# snapshot and copies a disk through the API (not the CLI).
L = [
    '%s info hostd[2099570] [Originator@6876 sub=Vimsvc.TaskManager opID=6c1d0f2a-5d11-4e8a-9c3b-0001 user=svc-report] Task Created : haTask-21-vim.VirtualMachine.createSnapshot-3001' % ts(0),
    '%s info hostd[2099570] [Originator@6876 sub=Vimsvc.TaskManager opID=6c1d0f2a-5d11-4e8a-9c3b-0002 user=svc-report] Task Created : haTask--vim.VirtualDiskManager.copyVirtualDisk-3002' % ts(120),
]
write('tp-access-user-api-snapshot-copy-esxi7-hostd.log', L)
config('tp-access-user-api-snapshot-copy-esxi7-hostd.config.json', {'AccessUserList': ['svc-report']})

# 6. ESXi 8 hostd.log, bare: an automation account snapshots 12 VMs
# within nine minutes (per-host SnapshotFrequency).
L = []
for i in range(12):
    L.append('%s In(166) Hostd[2099570]: [Originator@6876 sub=Vimsvc.TaskManager opID=a1b2-%04d user=automation] Task Created : haTask-%d-vim.VirtualMachine.createSnapshot-%d' % (ts(i * 45), i, 30 + i, 5000 + i))
write('tp-snapshot-burst-across-vms-esxi8-hostd.log', L)

# 7. SnapshotFrequency tightened to 2 per VM: two API snapshots of one VM
# within ten minutes (ESXi 7 hostd, RFC 5424 with bare SD values).
L = [
    '<166>1 %s esx04.lab.example Hostd 2099570 - [Originator@6876 sub=Vimsvc.TaskManager opID=f00d-1 user=opsadmin] Task Created : haTask-8-vim.VirtualMachine.createSnapshot-71' % ts(0),
    '<166>1 %s esx04.lab.example Hostd 2099570 - [Originator@6876 sub=Vimsvc.TaskManager opID=f00d-2 user=opsadmin] Task Created : haTask-8-vim.VirtualMachine.createSnapshot-72' % ts(600),
]
write('tp-snapshot-frequency-per-vm.syslog', L)
config('tp-snapshot-frequency-per-vm.config.json', {'SnapshotFrequency': {'per_vm': 2}})

# Benign 1: a night's backups: vCenter (vpxuser) and a host-direct backup
# account take one snapshot per VM and remove it after the copy.
L = []
for i in range(30):
    sec = i * 60
    user = 'vpxuser' if i % 2 == 0 else 'veeam-backup'
    L.append('<166>1 %s esx05.lab.example Hostd 2099570 - [Originator@6876 sub="Vimsvc.TaskManager" opID="lro-%d-bk" user="%s"] Task Created : haTask-%d-vim.VirtualMachine.createSnapshot-%d' % (ts(sec), i, user, 100 + i, 9000 + i))
    L.append('<166>1 %s esx05.lab.example Hostd 2099570 - [Originator@6876 sub="Vimsvc.TaskManager" opID="lro-%d-rm" user="%s"] Task Created : haTask-%d-vim.VirtualMachine.removeAllSnapshots-%d' % (ts(sec + 40), i, user, 100 + i, 9500 + i))
write('benign-backup-scheduled-snapshots.syslog', L)

# Benign 2: ESXi 8 patching over SSH (a depot uploaded with scp -t, esxcli
# installs it), vMotion and HA restarts through vCenter.
L = [
    '<38>1 %s esx06.lab.example sshd 2103000 - - Accepted password for root from 10.10.0.5 port 50022 ssh2' % ts(0),
    "<38>1 %s esx06.lab.example sshd 2103000 - - User 'root' running command 'scp -t /vmfs/volumes/datastore1/'" % ts(5),
    '<86>1 %s esx06.lab.example shell 2103010 - - [root]: esxcli system maintenanceMode set --enable true' % ts(60),
    '<86>1 %s esx06.lab.example shell 2103010 - - [root]: esxcli software vib update -d /vmfs/volumes/datastore1/VMware-ESXi-8.0U2-depot.zip' % ts(90),
    '<86>1 %s esx06.lab.example shell 2103010 - - [root]: reboot' % ts(400),
    '<166>1 %s esx06.lab.example Hostd 2099570 - [Originator@6876 sub="Vimsvc.TaskManager" opID="drs-1" user="vpxuser"] Task Created : haTask-40-vim.VirtualMachine.migrate-1' % ts(30),
    '<166>1 %s esx06.lab.example Hostd 2099570 - [Originator@6876 sub="Vimsvc.TaskManager" opID="ha-2" user="vpxuser"] Task Created : haTask-41-vim.VirtualMachine.powerOn-2' % ts(800),
    '<166>1 %s esx06.lab.example Fdm 2099800 - - [Originator@6876 sub=Invt opID=SWI-1] vSphere HA restarted virtual machine app07 on host esx06' % ts(801),
]
write('benign-patching-vmotion-ha-esxi8.syslog', L)

package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// Rule is one syscall exit rule: always audit these syscalls of one arch,
// tagged with a key (auditctl -a always,exit -F arch=… -S … -k KEY).
type Rule struct {
	Arch     uint32 // AUDIT_ARCH_* value
	Syscalls []int  // syscall numbers in that arch's table
	Key      string
	// Optional rules may be refused by the kernel (e.g. a 32-bit arch on a
	// kernel without compat support); the refusal is counted, not fatal.
	Optional bool
}

// Key is the audit key of stagewatch's rules.
const Key = "stagewatch"

// ExecRules are execve and execveat for this machine's native arch and its
// 32-bit compat arch.
var ExecRules = execRules[runtime.GOARCH]

var execRules = map[string][]Rule{
	"amd64": {
		{Arch: unix.AUDIT_ARCH_X86_64, Syscalls: []int{59, 322}, Key: Key},
		{Arch: unix.AUDIT_ARCH_I386, Syscalls: []int{11, 358}, Key: Key, Optional: true},
	},
	"arm64": {
		{Arch: unix.AUDIT_ARCH_AARCH64, Syscalls: []int{221, 281}, Key: Key},
		{Arch: unix.AUDIT_ARCH_ARM, Syscalls: []int{11, 387}, Key: Key, Optional: true},
	},
	"386": {
		{Arch: unix.AUDIT_ARCH_I386, Syscalls: []int{11, 358}, Key: Key},
	},
}

// struct audit_rule_data sizes (linux/audit.h).
const (
	auditMaxFields   = 64
	auditBitmaskSize = 64
	auditMaxKeyLen   = 256
	auditFieldArch   = 11
	auditOpEqual     = 0x40000000
)

func (r Rule) String() string {
	return fmt.Sprintf("always,exit arch=%#x syscalls=%v key=%q", r.Arch, r.Syscalls, r.Key)
}

// marshal builds struct audit_rule_data:
//
//	u32 flags, action, field_count; u32 mask[64]; u32 fields[64];
//	u32 values[64]; u32 fieldflags[64]; u32 buflen; char buf[];
func (r Rule) marshal() ([]byte, error) {
	if len(r.Key) == 0 || len(r.Key) > auditMaxKeyLen {
		return nil, fmt.Errorf("rule %s: key length must be 1..%d", r, auditMaxKeyLen)
	}
	var mask [auditBitmaskSize]uint32
	for _, nr := range r.Syscalls {
		if nr < 0 || nr >= auditBitmaskSize*32 {
			return nil, fmt.Errorf("rule %s: syscall %d out of range", r, nr)
		}
		mask[nr/32] |= 1 << (nr % 32)
	}
	fields := []struct{ field, op, value uint32 }{
		{auditFieldArch, auditOpEqual, r.Arch},
		{unix.AUDIT_FILTERKEY, auditOpEqual, uint32(len(r.Key))},
	}
	const head = 3*4 + 4*auditMaxFields*4 + 4
	b := make([]byte, head+len(r.Key))
	put := func(off int, v uint32) { binary.NativeEndian.PutUint32(b[off:], v) }
	put(0, unix.AUDIT_FILTER_EXIT)
	put(4, unix.AUDIT_ALWAYS)
	put(8, uint32(len(fields)))
	for i, m := range mask {
		put(12+i*4, m)
	}
	base := 12 + auditBitmaskSize*4
	for i, f := range fields {
		put(base+i*4, f.field)
		put(base+auditMaxFields*4+i*4, f.value)
		put(base+2*auditMaxFields*4+i*4, f.op)
	}
	put(head-4, uint32(len(r.Key)))
	copy(b[head:], r.Key)
	return b, nil
}

// RuleKeys lists the key of every audit rule loaded in the kernel (AUDIT_LIST_RULES,
// what auditctl -l reads), "" for a rule without one. Needs CAP_AUDIT_CONTROL.
func RuleKeys() ([]string, error) {
	c, err := dial(0)
	if err != nil {
		return nil, err
	}
	defer c.close()
	if err := c.setTimeout(2 * time.Second); err != nil {
		return nil, err
	}
	seq, err := c.send(unix.AUDIT_LIST_RULES, 0, nil)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 1<<16)
	var keys []string
	var msgs []message
	for {
		n, _, err := unix.Recvfrom(c.fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return nil, fmt.Errorf("AUDIT_LIST_RULES: %w", err)
		}
		msgs = splitMessages(buf[:n], msgs[:0])
		for _, m := range msgs {
			if m.seq != seq {
				continue
			}
			switch m.typ {
			case unix.NLMSG_DONE:
				return keys, nil
			case unix.NLMSG_ERROR:
				if len(m.body) >= 4 {
					if errno := int32(binary.NativeEndian.Uint32(m.body)); errno != 0 {
						return nil, fmt.Errorf("AUDIT_LIST_RULES: %w", unix.Errno(-errno))
					}
				}
			case unix.AUDIT_LIST_RULES:
				key, err := ruleKey(m.body)
				if err != nil {
					return nil, err
				}
				keys = append(keys, key)
			}
		}
	}
}

// ruleKey reads the key of one struct audit_rule_data. String-valued
// fields keep their bytes in buf, in field order, with the length as the
// field's value.
func ruleKey(b []byte) (string, error) {
	const head = 3*4 + 4*auditMaxFields*4 + 4
	if len(b) < head {
		return "", fmt.Errorf("audit rule of %d bytes", len(b))
	}
	get := func(off int) uint32 { return binary.NativeEndian.Uint32(b[off:]) }
	count := int(get(8))
	if count > auditMaxFields {
		return "", fmt.Errorf("audit rule with %d fields", count)
	}
	strBuf := b[head:]
	if l := int(get(head - 4)); l <= len(strBuf) {
		strBuf = strBuf[:l]
	}
	base := 12 + auditBitmaskSize*4
	off := 0
	for i := range count {
		field, value := get(base+i*4), int(get(base+auditMaxFields*4+i*4))
		if !stringField(field) {
			continue
		}
		if value < 0 || off+value > len(strBuf) {
			return "", fmt.Errorf("audit rule field %d overruns its buffer", field)
		}
		if field == unix.AUDIT_FILTERKEY {
			return string(strBuf[off : off+value]), nil
		}
		off += value
	}
	return "", nil
}

// stringField reports whether an audit rule field carries a string in buf
// (linux/audit.h: the SELinux labels, watch, dir, key, exe).
func stringField(f uint32) bool {
	switch f {
	case unix.AUDIT_SUBJ_USER, unix.AUDIT_SUBJ_ROLE, unix.AUDIT_SUBJ_TYPE, unix.AUDIT_SUBJ_SEN, unix.AUDIT_SUBJ_CLR,
		unix.AUDIT_OBJ_USER, unix.AUDIT_OBJ_ROLE, unix.AUDIT_OBJ_TYPE, unix.AUDIT_OBJ_LEV_LOW, unix.AUDIT_OBJ_LEV_HIGH,
		unix.AUDIT_WATCH, unix.AUDIT_DIR, unix.AUDIT_FILTERKEY, unix.AUDIT_EXE:
		return true
	}
	return false
}

package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Capabilities live collection needs on Linux: audit netlink rules and
// fanotify filesystem marks.
const (
	capSysAdmin     = 21
	capAuditControl = 30
)

// needLiveCollectionPrivileges checks the effective capability set, not the
// uid: root in a restricted container may lack them, and a non-root service
// account may have been granted them.
func needLiveCollectionPrivileges() error {
	eff, err := effectiveCaps()
	if err != nil {
		if os.Geteuid() == 0 {
			return nil
		}
		return fmt.Errorf("live collection needs root (CAP_AUDIT_CONTROL and CAP_SYS_ADMIN for audit and fanotify); running as uid %d", os.Geteuid())
	}
	var missing []string
	if eff&(1<<capAuditControl) == 0 {
		missing = append(missing, "CAP_AUDIT_CONTROL")
	}
	if eff&(1<<capSysAdmin) == 0 {
		missing = append(missing, "CAP_SYS_ADMIN")
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("live collection needs root (CAP_AUDIT_CONTROL and CAP_SYS_ADMIN for audit and fanotify); uid %d lacks %s",
		os.Geteuid(), strings.Join(missing, " and "))
}

func effectiveCaps() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, fmt.Errorf("/proc/self/status: no CapEff line")
}

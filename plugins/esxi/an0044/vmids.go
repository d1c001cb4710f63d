package an0044

import (
	"net"
	"strings"
	"sync"
)

// vmids resolves hostd's numeric VM ids (haTask-12-…, vim-cmd vmsvc/…
// 12) to VM names, from the inventory reads of standalone ESXi hosts the
// analytic also reads through vSphere: on ESXi a VM's moref is its vmid.
// A log line's host is matched with the vsphere entry's host name or
// the host's own names in its inventory, case-insensitive, or by their
// first labels (esx01 and esx01.example.com). A vCenter's morefs are its
// own (vm-42), not the hosts' vmids: through a vCenter, vmids stay as
// logged.
type vmids struct {
	mu    sync.Mutex
	hosts map[string]map[string]string // host name (lower case) -> vmid -> name
}

// hostKeys are the names a server is known by in log lines.
func hostKeys(h string) []string {
	h = strings.ToLower(h)
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	keys := []string{h}
	if i := strings.IndexByte(h, '.'); i > 0 && net.ParseIP(h) == nil {
		keys = append(keys, h[:i])
	}
	return keys
}

// set replaces what a server's inventory says: names by moref, and its
// hosts' names under "host:" (see vsphere.Collector.Names).
func (v *vmids) set(server string, names map[string]string) {
	ids := map[string]string{}
	var hosts []string
	for ref, name := range names {
		if h, ok := strings.CutPrefix(ref, "host:"); ok {
			hosts = append(hosts, h)
			continue
		}
		// vcsim's ESX model names VMs vm-12 where ESXi says 12.
		ref = strings.TrimPrefix(ref, "vm-")
		if numeric(ref) {
			ids[ref] = name
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.hosts == nil {
		v.hosts = map[string]map[string]string{}
	}
	for _, h := range append([]string{server}, hosts...) {
		for _, k := range hostKeys(h) {
			v.hosts[k] = ids
		}
	}
}

// resolve names vmid on host, if an inventory read said.
func (v *vmids) resolve(host, vmid string) (string, bool) {
	if host == "" || !numeric(vmid) {
		return "", false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, k := range hostKeys(host) {
		if ids, ok := v.hosts[k]; ok {
			name, ok := ids[vmid]
			return name, ok && name != ""
		}
	}
	return "", false
}

func numeric(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

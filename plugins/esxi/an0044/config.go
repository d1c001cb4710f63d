package an0044

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/stagewatch/stagewatch/internal/elements"
	"github.com/stagewatch/stagewatch/internal/remote"
	"github.com/stagewatch/stagewatch/plugins/esxi/correlate"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// Mutable element names (contract: exact DET0014 names, then AN0044's
// own).
const (
	SnapshotFrequency = "SnapshotFrequency"
	AccessUserList    = "AccessUserList"
	CLIContext        = "CLIContext"
	TimeWindow        = "TimeWindow"
	SensitiveVMList   = "SensitiveVMList"
	BackupUserList    = "BackupUserList"
)

// Connection keys in the analytic's section.
const (
	VSphereKey      = "vsphere"
	SyslogKey       = "syslog"
	PollIntervalKey = "poll_interval"
)

// Defaults.
const (
	DefaultPerVM          = 3
	DefaultPerHost        = 10
	DefaultTimeWindow     = 15 * time.Minute
	MinimumTimeWindow     = time.Minute
	MaximumTimeWindow     = 24 * time.Hour
	DefaultPollInterval   = 30 * time.Second
	MinimumPollInterval   = time.Second
	DefaultStart          = time.Hour
	DefaultInventoryEvery = 10 * time.Minute
	DefaultSyslogQueue    = 65536
)

// DefaultCLIContext: the ESXi Shell and SSH, the host's own tools, and
// API clients that scripts use rather than the vSphere Client.
var DefaultCLIContext = []string{"shell", "ssh", "vim-cmd", "vmkfstools", "esxcli", "govc",
	"ua:govc/*", "ua:govmomi/*", "ua:pyvmomi*", "ua:python-requests/*", "ua:curl/*", "ua:Go-http-client/*"}

// DefaultBackupUserList: accounts named as backup products name theirs,
// and vpxuser, the account vCenter acts as on its hosts: hostd cannot
// say who is behind it, the vCenter's own API events (read by the
// vSphere collector) can, and count that user's snapshots in full.
var DefaultBackupUserList = []string{"*backup*", "*veeam*", "*commvault*", "*rubrik*", "*cohesity*", "*nakivo*", "*netbackup*", "*avamar*", "vpxuser"}

func jsonOf(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// Elements are AN0044's mutable elements with their defaults.
func Elements() []sdk.MutableElement {
	return []sdk.MutableElement{
		{Name: SnapshotFrequency, Type: sdk.ElementString, Default: jsonOf(map[string]int{"per_vm": DefaultPerVM, "per_host": DefaultPerHost}),
			Description: "Snapshots within TimeWindow that are unusual: {per_vm: N, per_host: N} (0 turns that half off), or a bare number per VM. " +
				"Per host counts every VM's snapshots on one ESXi host or vCenter, except a backup account's one per VM."},
		{Name: AccessUserList, Type: sdk.ElementStringList, Default: jsonOf([]string{}),
			Description: "Accounts (globs, case-insensitive, DOMAIN\\user or user@domain) that should not create snapshots or write to datastores: read-only, reporting or automation accounts. Any snapshot or copy by one is a detection."},
		{Name: CLIContext, Type: sdk.ElementStringList, Default: jsonOf(DefaultCLIContext),
			Description: "What counts as the command line: \"shell\" (shell.log), \"ssh\" (auth.log commands), tool names (vim-cmd, vmkfstools, esxcli, govc, cp…) and \"ua:GLOB\" for API clients' user agents. " +
				"A snapshot or copy in this context is a detection, and high severity after a shell or SSH login within TimeWindow."},
		{Name: TimeWindow, Type: sdk.ElementDuration, Default: jsonOf(DefaultTimeWindow.String()),
			Description: "The window snapshots are counted in and within which a login and the staging commands after it belong together (1m to 24h)."},
		{Name: SensitiveVMList, Type: sdk.ElementStringList, Default: jsonOf([]string{}),
			Description: "VMs holding sensitive data: name globs, \"folder:GLOB\" on the VM's inventory path (/DC/vm/Finance/*) or \"tag:GLOB\" on its tags (Category:Name). Any snapshot or disk action on one is a detection, except a backup account's scheduled snapshot."},
		{Name: BackupUserList, Type: sdk.ElementStringList, Default: jsonOf(DefaultBackupUserList),
			Description: "Backup software's accounts (globs): one snapshot per VM per TimeWindow from the API, and its removal, are their schedule and stay quiet. From the CLI, several on one VM, or in AccessUserList, they count."},
	}
}

// VSphere is one vsphere[] entry: an ESXi host or a vCenter.
type VSphere struct {
	URL          string `json:"url"`
	Username     string `json:"username"`
	PasswordFile string `json:"password_file"`
	PasswordEnv  string `json:"password_env"`
	// Thumbprint pins the server's certificate: SHA-1 or SHA-256 of its
	// DER, hex with or without colons.
	Thumbprint string `json:"thumbprint"`
	// Insecure turns certificate checks off (a lab); logged as a warning.
	Insecure bool `json:"insecure"`
	// CAFile is a PEM bundle to verify the server against, besides the
	// system's roots.
	CAFile string `json:"ca_file"`
	// Tasks: "auto" (a task history collector, else recentTask), or
	// "collector" or "recent" to force one.
	Tasks string `json:"tasks"`
	// Start is how far back a first run reads (a duration or RFC 3339
	// time), then the cursor.
	Start remote.Start `json:"start"`
	// InventoryInterval is how often VMs' snapshot trees, folders and
	// file layouts are read again (events say what changed between).
	InventoryInterval remote.Duration `json:"inventory_interval"`

	password remote.Secret
}

// Syslog is the listener block.
type Syslog struct {
	Listen  []string `json:"listen"`
	TLSCert string   `json:"tls_cert"`
	TLSKey  string   `json:"tls_key"`
	// Queue bounds the messages waiting to be parsed; past it they are
	// dropped and counted.
	Queue int `json:"queue"`
	// MaxMessage bounds one message (bytes); longer ones are counted and
	// skipped.
	MaxMessage int `json:"max_message"`
}

// settings are the section decoded and checked.
type settings struct {
	corr    correlate.Config
	vsphere []VSphere
	syslog  Syslog
	poll    time.Duration
	effect  json.RawMessage
}

var ownKeys = []string{VSphereKey, SyslogKey, PollIntervalKey, SnapshotFrequency}

// decode splits the section into the connection blocks, SnapshotFrequency
// (a shape of its own) and the elements the shared decoder checks.
func decode(raw json.RawMessage, live bool) (settings, error) {
	var st settings
	obj := map[string]json.RawMessage{}
	if t := bytes.TrimSpace(raw); len(t) > 0 && string(t) != "null" {
		if err := json.Unmarshal(t, &obj); err != nil {
			return st, &sdk.ConfigError{Key: elements.ConfigKey, Reason: "the AN0044 section must be a mapping of element names to values"}
		}
	}
	own := map[string]json.RawMessage{}
	for _, k := range ownKeys {
		own[k] = obj[k]
		delete(obj, k)
	}
	var descs []sdk.MutableElement
	for _, d := range Elements() {
		if d.Name != SnapshotFrequency {
			descs = append(descs, d)
		}
	}
	rest, _ := json.Marshal(obj)
	values, err := elements.Decode(descs, rest)
	if err != nil {
		if ce, ok := err.(*sdk.ConfigError); ok && strings.Contains(ce.Reason, "unknown") {
			ce.Reason += ", " + strings.Join(ownKeys, ", ")
		}
		return st, err
	}
	perVM, perHost, err := decodeFrequency(own[SnapshotFrequency])
	if err != nil {
		return st, &sdk.ConfigError{Key: SnapshotFrequency, Reason: err.Error()}
	}
	window := values.Duration(TimeWindow)
	if window < MinimumTimeWindow || window > MaximumTimeWindow {
		return st, &sdk.ConfigError{Key: TimeWindow, Reason: fmt.Sprintf("%v: expected %v to %v (the default is %v)", window, MinimumTimeWindow, MaximumTimeWindow, DefaultTimeWindow)}
	}
	cli, err := correlate.ParseCLIContext(values.Strings(CLIContext))
	if err != nil {
		return st, &sdk.ConfigError{Key: CLIContext, Reason: err.Error()}
	}
	var rules []correlate.VMRule
	for _, s := range values.Strings(SensitiveVMList) {
		r, err := correlate.ParseVMRule(s)
		if err != nil {
			return st, &sdk.ConfigError{Key: SensitiveVMList, Reason: err.Error()}
		}
		rules = append(rules, r)
	}
	if err := remote.Decode(VSphereKey, own[VSphereKey], &st.vsphere); err != nil {
		return st, err
	}
	if err := remote.Decode(SyslogKey, own[SyslogKey], &st.syslog); err != nil {
		return st, err
	}
	var poll remote.Duration
	if err := remote.Decode(PollIntervalKey, own[PollIntervalKey], &poll); err != nil {
		return st, err
	}
	st.poll = time.Duration(poll)
	if st.poll == 0 {
		st.poll = DefaultPollInterval
	}
	if st.poll < MinimumPollInterval {
		return st, &sdk.ConfigError{Key: PollIntervalKey, Reason: fmt.Sprintf("%v is too short: at least %v", st.poll, MinimumPollInterval)}
	}
	for i := range st.vsphere {
		if err := st.vsphere[i].check(fmt.Sprintf("%s[%d]", VSphereKey, i), live); err != nil {
			return st, err
		}
	}
	if err := st.syslog.check(); err != nil {
		return st, err
	}
	if live && len(st.vsphere) == 0 && len(st.syslog.Listen) == 0 {
		return st, &sdk.ConfigError{Key: VSphereKey, Reason: "no source to read: list ESXi hosts or vCenters under vsphere, or syslog.listen addresses"}
	}
	st.corr = correlate.Config{
		AnalyticID: AnalyticID, Platform: Platform, DetectionID: "DET0014", TechniqueID: TechniqueID, Window: window,
		PerVM: perVM, PerHost: perHost, AccessUsers: values.Strings(AccessUserList), BackupUsers: values.Strings(BackupUserList),
		CLI: cli, Sensitive: rules,
	}
	var eff map[string]json.RawMessage
	_ = json.Unmarshal(values.JSON(), &eff)
	eff[SnapshotFrequency] = jsonOf(map[string]int{"per_vm": perVM, "per_host": perHost})
	eff[VSphereKey] = jsonOf(st.vsphere) // passwords are never in it: only where they come from
	eff[SyslogKey] = jsonOf(st.syslog)
	eff[PollIntervalKey] = jsonOf(st.poll.String())
	st.effect = jsonOf(eff)
	return st, nil
}

// MarshalJSON shows an entry as it is in effect, with where its password
// comes from and never the password.
func (v VSphere) MarshalJSON() ([]byte, error) {
	type shown struct {
		URL               string          `json:"url"`
		Username          string          `json:"username"`
		PasswordFile      string          `json:"password_file,omitempty"`
		PasswordEnv       string          `json:"password_env,omitempty"`
		Thumbprint        string          `json:"thumbprint,omitempty"`
		Insecure          bool            `json:"insecure"`
		CAFile            string          `json:"ca_file,omitempty"`
		Tasks             string          `json:"tasks"`
		Start             remote.Start    `json:"start"`
		InventoryInterval remote.Duration `json:"inventory_interval"`
	}
	return json.Marshal(shown{v.URL, v.Username, v.PasswordFile, v.PasswordEnv, v.Thumbprint, v.Insecure, v.CAFile, v.Tasks, v.Start, v.InventoryInterval})
}

func (v *VSphere) check(key string, live bool) error {
	k := func(s string) string { return key + "." + s }
	u, err := url.Parse(v.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return &sdk.ConfigError{Key: k("url"), Reason: fmt.Sprintf("%q is not a vSphere URL (https://vcenter.example/sdk)", v.URL)}
	}
	if u.Scheme == "http" && !v.Insecure {
		return &sdk.ConfigError{Key: k("url"), Reason: "http:// sends the password in clear: use https://, or set insecure: true in a lab"}
	}
	if u.User != nil {
		return &sdk.ConfigError{Key: k("url"), Reason: "credentials do not belong in the URL: use username and password_file or password_env"}
	}
	if v.Username == "" {
		return &sdk.ConfigError{Key: k("username"), Reason: "a vSphere user is needed (read-only is enough: see docs/esxi.md)"}
	}
	if v.Thumbprint != "" {
		h := strings.ReplaceAll(strings.ToLower(v.Thumbprint), ":", "")
		if _, err := hex.DecodeString(h); err != nil || (len(h) != 40 && len(h) != 64) {
			return &sdk.ConfigError{Key: k("thumbprint"), Reason: "expected a SHA-1 (40 hex digits) or SHA-256 (64) certificate thumbprint, colons allowed"}
		}
		if v.Insecure {
			return &sdk.ConfigError{Key: k("insecure"), Reason: "a pinned thumbprint and insecure contradict each other: choose one"}
		}
	}
	switch v.Tasks {
	case "":
		v.Tasks = "auto"
	case "auto", "collector", "recent":
	default:
		return &sdk.ConfigError{Key: k("tasks"), Reason: fmt.Sprintf("%q: expected auto, collector or recent", v.Tasks)}
	}
	if v.Start == (remote.Start{}) {
		v.Start = remote.Start{Back: DefaultStart}
	}
	if v.InventoryInterval == 0 {
		v.InventoryInterval = remote.Duration(DefaultInventoryEvery)
	}
	if time.Duration(v.InventoryInterval) < time.Minute {
		return &sdk.ConfigError{Key: k("inventory_interval"), Reason: fmt.Sprintf("%v is too short: at least 1m (the default is %v)", time.Duration(v.InventoryInterval), DefaultInventoryEvery)}
	}
	if v.PasswordFile == "" && v.PasswordEnv == "" {
		return &sdk.ConfigError{Key: k("password_file"), Reason: "give the password in a file (password_file) or the environment (password_env); never in the YAML"}
	}
	if !live {
		return nil
	}
	s, err := remote.ReadSecret("password", v.PasswordFile, v.PasswordEnv)
	if err != nil {
		ce := err.(*sdk.ConfigError)
		ce.Key = key + "." + ce.Key
		return ce
	}
	v.password = s
	return nil
}

func (s *Syslog) check() error {
	if s.Queue == 0 {
		s.Queue = DefaultSyslogQueue
	}
	if s.Queue < 16 || s.Queue > 1<<22 {
		return &sdk.ConfigError{Key: SyslogKey + ".queue", Reason: fmt.Sprintf("%d: expected 16 to %d messages", s.Queue, 1<<22)}
	}
	if s.MaxMessage == 0 {
		s.MaxMessage = 64 << 10
	}
	if s.MaxMessage < 480 || s.MaxMessage > 1<<20 {
		return &sdk.ConfigError{Key: SyslogKey + ".max_message", Reason: fmt.Sprintf("%d: expected 480 (RFC 3164's minimum) to 1048576 bytes", s.MaxMessage)}
	}
	for i, l := range s.Listen {
		key := fmt.Sprintf("%s.listen[%d]", SyslogKey, i)
		scheme, addr, ok := strings.Cut(l, "://")
		if !ok || (scheme != "udp" && scheme != "tcp" && scheme != "tls") {
			return &sdk.ConfigError{Key: key, Reason: fmt.Sprintf("%q: expected udp://ADDR:PORT, tcp://ADDR:PORT or tls://ADDR:PORT", l)}
		}
		if _, port, err := net.SplitHostPort(addr); err != nil {
			return &sdk.ConfigError{Key: key, Reason: fmt.Sprintf("%q: %v", l, err)}
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return &sdk.ConfigError{Key: key, Reason: fmt.Sprintf("%q: bad port", l)}
		}
		if scheme == "tls" && (s.TLSCert == "" || s.TLSKey == "") {
			return &sdk.ConfigError{Key: SyslogKey + ".tls_cert", Reason: l + " needs tls_cert and tls_key (PEM files)"}
		}
	}
	return nil
}

// decodeFrequency reads 3, {per_vm: 3, per_host: 10} or either half.
func decodeFrequency(raw json.RawMessage) (perVM, perHost int, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return DefaultPerVM, DefaultPerHost, nil
	}
	if raw[0] != '{' {
		n, err := strconv.Atoi(string(raw))
		if err != nil || n < 0 {
			return 0, 0, fmt.Errorf("%s: expected snapshots per VM (a number) or {per_vm: N, per_host: N}", raw)
		}
		return n, DefaultPerHost, nil
	}
	var f struct {
		PerVM   *int `json:"per_vm"`
		PerHost *int `json:"per_host"`
	}
	if err := remote.Decode("", raw, &f); err != nil {
		return 0, 0, fmt.Errorf("%v (expected {per_vm: N, per_host: N})", err)
	}
	perVM, perHost = DefaultPerVM, DefaultPerHost
	if f.PerVM != nil {
		perVM = *f.PerVM
	}
	if f.PerHost != nil {
		perHost = *f.PerHost
	}
	if perVM < 0 || perHost < 0 || perVM > 100000 || perHost > 100000 {
		return 0, 0, fmt.Errorf("%s: counts are 0 (off) to 100000", raw)
	}
	return perVM, perHost, nil
}

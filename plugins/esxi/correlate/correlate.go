package correlate

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/plugins/esxi/activity"
)

// Detection kinds, the first word of a detection's process column.
const (
	KindSnapshotBurst  = "snapshot_burst"  // SnapshotFrequency reached on a VM or a host
	KindSessionStaging = "session_staging" // a shell or SSH login, then snapshots or copies from the CLI
	KindCLIStaging     = "cli_staging"     // snapshots or copies from the CLI (CLIContext)
	KindAccessUser     = "access_user"     // snapshots or copies by an AccessUserList account
	KindSensitiveVM    = "sensitive_vm"    // snapshots or copies of a VM marked sensitive
	KindDiskCopy       = "disk_copy"       // a VM's disk copied, exported or downloaded
)

// evidenceMax bounds the events a detection carries; its counts go on.
const evidenceMax = 20

// mergeGap is how far apart a shell or SSH vim-cmd line and the hostd
// task it starts may be and still be one action.
const mergeGap = 10 * time.Second

const sweepEvery = 4096

// Stats are what the correlator saw and why it let events go.
type Stats struct {
	Seen, Late, Failed, Merged, Backup, Detections, Updates uint64
	Groups                                                  int
}

// Correlator turns events into detections. Not safe for concurrent use.
type Correlator struct {
	cfg       Config
	watermark time.Time
	perVM     map[string][]snap // host|vm
	perHost   map[string][]snap // host
	logins    map[string][]*activity.Event
	agents    map[string]string // host|user -> user agent of the last API login
	recent    map[string][]mergeable
	open      map[string]*open
	stats     Stats
	since     int
}

type snap struct {
	t  time.Time
	vm string
	e  *activity.Event
}

type mergeable struct {
	t      time.Time
	source string
	paired bool
}

type open struct {
	d       event.Detection
	kind    string
	actions map[activity.Action]int64
	vms     map[string]bool
	until   time.Time
	base    int
	flags   map[string]bool // access, cli, sensitive, session, disk
	login   *activity.Event
	host    string
	vm      string
	user    string
	cli     string
}

// New returns a correlator; cfg is checked by the analytic's Configure.
func New(cfg Config) *Correlator {
	if cfg.Lateness <= 0 {
		cfg.Lateness = DefaultLateness
	}
	if cfg.Window <= 0 {
		cfg.Window = 15 * time.Minute
	}
	return &Correlator{cfg: cfg, perVM: map[string][]snap{}, perHost: map[string][]snap{}, logins: map[string][]*activity.Event{},
		agents: map[string]string{}, recent: map[string][]mergeable{}, open: map[string]*open{}}
}

// Stats returns the counters.
func (c *Correlator) Stats() Stats {
	s := c.stats
	s.Groups = len(c.perVM) + len(c.perHost) + len(c.logins) + len(c.open)
	return s
}

// Add correlates one event and returns the detections it raised or
// updated, each a copy the caller may keep.
func (c *Correlator) Add(e *activity.Event) []event.Detection {
	c.stats.Seen++
	if e.Time.After(c.watermark) {
		c.watermark = e.Time
	}
	if c.since++; c.since >= sweepEvery {
		c.since = 0
		c.sweep()
	}
	switch {
	case e.Time.Before(c.watermark.Add(-c.cfg.Lateness - c.cfg.Window)):
		c.stats.Late++
		return nil
	case e.Failed:
		c.stats.Failed++
		return nil
	case e.Action == activity.Login:
		c.login(e)
		return nil
	case !e.Action.Staging():
		return nil
	case e.Action == activity.FileUpload && !activity.VMDiskFile(e.Dest) && !activity.VMDiskFile(e.Path):
		// Files brought onto a host (patch depots over scp -t, ISOs) are
		// not data gathered from it.
		return nil
	case c.merged(e):
		c.stats.Merged++
		return nil
	}
	var out []*open
	access := anyGlob(c.cfg.AccessUsers, e.User)
	backup := !access && anyGlob(c.cfg.BackupUsers, e.User)
	cli := c.cliContext(e)
	sensitive := c.sensitive(e)
	if e.Action == activity.SnapshotCreate {
		burst, perVM := c.snapshot(e, backup && cli == "")
		out = append(out, burst...)
		if backup && cli == "" && perVM < 2 {
			// One snapshot per VM per window by backup software: its
			// schedule. Its burst on one VM is still counted above.
			c.stats.Backup++
			return c.render(out)
		}
	} else if backup && cli == "" && e.Action != activity.FileDownload {
		c.stats.Backup++
		return c.render(out)
	}
	diskData := e.Action == activity.DiskCopy || e.Action == activity.VMExport || (e.Action.CopyLike() && (activity.VMDiskFile(e.Path) || activity.VMDiskFile(e.Dest)))
	login := c.sessionBefore(e)
	var kind string
	switch {
	case cli != "" && login != nil:
		kind = KindSessionStaging
	case cli != "":
		kind = KindCLIStaging
	case access:
		kind = KindAccessUser
	case sensitive:
		kind = KindSensitiveVM
	case diskData && e.Action != activity.VMClone:
		kind = KindDiskCopy
	default:
		return c.render(out)
	}
	key := kind + "|" + e.Host + "|" + e.User
	if kind == KindSensitiveVM || kind == KindDiskCopy {
		key += "|" + e.VM
	}
	o := c.open[key]
	if o == nil || e.Time.After(o.until) {
		o = c.newOpen(kind, key, e)
		o.login = login
		if login != nil {
			c.join(o, login, false)
		}
		o.base = map[string]int{KindSessionStaging: 70, KindCLIStaging: 55, KindAccessUser: 60, KindSensitiveVM: 55, KindDiskCopy: 45}[kind]
	} else {
		c.stats.Updates++
	}
	o.flags["access"] = o.flags["access"] || access
	o.flags["sensitive"] = o.flags["sensitive"] || sensitive
	o.flags["disk"] = o.flags["disk"] || diskData
	if cli != "" {
		o.flags["cli"] = true
		o.cli = cli
	}
	c.count(o, e)
	return c.render(append(out, o))
}

// login remembers shell and SSH sessions per host, and the user agent
// each API user logged in with.
func (c *Correlator) login(e *activity.Event) {
	if e.UserAgent != "" {
		c.agents[e.Host+"|"+strings.ToLower(e.User)] = e.UserAgent
	}
	if e.Source == activity.SourceShell || e.Source == activity.SourceSSH || c.agentCLI(e.UserAgent) != "" {
		l := append(c.logins[e.Host], e)
		if len(l) > 64 {
			l = l[len(l)-64:]
		}
		c.logins[e.Host] = l
	}
}

// sessionBefore is the latest shell, SSH or CLI-agent login on the host
// within TimeWindow before e (by the same user where both are known).
func (c *Correlator) sessionBefore(e *activity.Event) *activity.Event {
	// The latest that says where it came from (an SSH or API login
	// before the shell session it opened), else the latest.
	var latest *activity.Event
	l := c.logins[e.Host]
	for i := len(l) - 1; i >= 0; i-- {
		x := l[i]
		if x.Time.After(e.Time) || e.Time.Sub(x.Time) > c.cfg.Window {
			continue
		}
		if x.User != "" && e.User != "" && !strings.EqualFold(x.User, e.User) {
			continue
		}
		if x.Peer != "" {
			return x
		}
		if latest == nil {
			latest = x
		}
	}
	return latest
}

// merged reports whether e is the other half of an action already
// counted: a vim-cmd command (shell.log or auth.log) and the hostd task
// it starts, in either order.
func (c *Correlator) merged(e *activity.Event) bool {
	var mine string
	switch {
	case (e.Source == activity.SourceShell || e.Source == activity.SourceSSH) && e.Tool == "vim-cmd":
		mine = "cli"
	case e.Source == activity.SourceHostd && e.Tool == "vim-cmd":
		mine = "hostd"
	default:
		return false
	}
	key := e.Host + "|" + string(e.Action) + "|" + e.VM
	list := c.recent[key]
	for i := range list {
		m := &list[i]
		d := e.Time.Sub(m.t)
		if !m.paired && m.source != mine && d <= mergeGap && d >= -mergeGap {
			m.paired = true
			return true
		}
	}
	list = append(list, mergeable{t: e.Time, source: mine})
	if len(list) > 32 {
		list = list[len(list)-32:]
	}
	c.recent[key] = list
	return false
}

// cliContext says how e came from the command line, "" when it did not.
func (c *Correlator) cliContext(e *activity.Event) string {
	cli := c.cfg.CLI
	switch {
	case e.Source == activity.SourceShell && cli.Shell:
		return "ESXi Shell (" + orWord(e.Tool, "shell") + ")"
	case e.Source == activity.SourceSSH && cli.SSH:
		return "SSH command (" + orWord(e.Tool, "ssh") + ")"
	case e.Tool != "" && cli.Tools[e.Tool]:
		return e.Tool
	}
	ua := e.UserAgent
	if ua == "" {
		ua = c.agents[e.Host+"|"+strings.ToLower(e.User)]
	}
	if a := c.agentCLI(ua); a != "" {
		return "API client " + a
	}
	return ""
}

func (c *Correlator) agentCLI(ua string) string {
	if anyGlob(c.cfg.CLI.Agents, ua) {
		return ua
	}
	return ""
}

func orWord(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (c *Correlator) sensitive(e *activity.Event) bool {
	for _, r := range c.cfg.Sensitive {
		switch r.Kind {
		case "name":
			if Glob(r.Glob, e.VM) || (e.VM == "" && (pathHasVM(r.Glob, e.Path) || pathHasVM(r.Glob, e.Dest))) {
				return true
			}
		case "folder":
			if Glob(r.Glob, e.Folder) {
				return true
			}
		case "tag":
			if slices.ContainsFunc(e.Tags, func(t string) bool { return Glob(r.Glob, t) }) {
				return true
			}
		}
	}
	return false
}

// pathHasVM: a VM's files sit in a directory of its name
// (/vmfs/volumes/ds/NAME/NAME.vmdk, [ds] NAME/NAME.vmdk).
func pathHasVM(glob, p string) bool {
	for _, part := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == ' ' || r == ']' }) {
		if Glob(glob, part) {
			return true
		}
	}
	return false
}

// snapshot counts a snapshot per VM and, unless it is a backup's, per
// host, and raises the bursts; perVM is the VM's count in the window.
func (c *Correlator) snapshot(e *activity.Event, backup bool) (out []*open, perVM int) {
	vmKey := e.Host + "|" + e.VM
	s := snap{t: e.Time, vm: e.VM, e: e}
	c.perVM[vmKey] = c.within(append(c.perVM[vmKey], s), e.Time)
	perVM = len(c.perVM[vmKey])
	if c.cfg.PerVM > 0 && perVM >= c.cfg.PerVM {
		out = append(out, c.burst("vm", vmKey, c.perVM[vmKey], e))
	}
	if backup && perVM < 2 {
		return out, perVM
	}
	c.perHost[e.Host] = c.within(append(c.perHost[e.Host], s), e.Time)
	if c.cfg.PerHost > 0 && len(c.perHost[e.Host]) >= c.cfg.PerHost {
		out = append(out, c.burst("host", e.Host, c.perHost[e.Host], e))
	}
	return out, perVM
}

// within keeps the snapshots of the window ending at t (a bounded list).
func (c *Correlator) within(l []snap, t time.Time) []snap {
	from := t.Add(-c.cfg.Window)
	i := 0
	for i < len(l) && l[i].t.Before(from) {
		i++
	}
	l = l[i:]
	if len(l) > 4096 {
		l = l[len(l)-4096:]
	}
	return l
}

func (c *Correlator) burst(scope, key string, snaps []snap, e *activity.Event) *open {
	okey := KindSnapshotBurst + "|" + scope + "|" + key
	if o := c.open[okey]; o != nil && !e.Time.After(o.until) {
		c.count(o, e)
		c.stats.Updates++
		return o
	}
	o := c.newOpen(KindSnapshotBurst, okey, snaps[0].e)
	o.base = 55
	if scope == "host" {
		o.base = 60
		o.vm = ""
	}
	o.flags[scope] = true
	for _, s := range snaps {
		c.count(o, s.e)
	}
	return o
}

// count adds an event to a detection.
func (c *Correlator) count(o *open, e *activity.Event) {
	o.actions[e.Action]++
	if e.VM != "" {
		o.vms[e.VM] = true
	}
	o.d.FileCount++
	o.until = maxTime(o.until, e.Time.Add(c.cfg.Window))
	c.join(o, e, true)
	if o.d.Time.Before(e.Time) {
		o.d.Time = e.Time
	}
	if e.Dest != "" && e.Action.CopyLike() {
		o.d.ArchivePath = e.Dest
	}
	if o.d.StagingPath == "" || e.Action.CopyLike() {
		o.d.StagingPath = stagingPath(e)
	}
}

// stagingPath is where the data was put: a copy's destination, the
// datastore written, or the snapshotted VM.
func stagingPath(e *activity.Event) string {
	switch {
	case e.Dest != "":
		return e.Dest
	case e.Action == activity.FileDownload && e.Path != "":
		return e.Path
	case e.Action == activity.DiskCreate && e.Path != "":
		return e.Path
	case e.VM != "":
		return "vm:" + e.VM + " (snapshots)"
	case e.Datastore != "":
		return "[" + e.Datastore + "]"
	}
	return e.Path
}

func (c *Correlator) newOpen(kind, key string, first *activity.Event) *open {
	sum := sha256.Sum256([]byte(c.cfg.AnalyticID + "|" + kind + "|" + key + "|" + first.Key + "|" + first.Time.UTC().Format(time.RFC3339Nano)))
	o := &open{
		kind: kind, actions: map[activity.Action]int64{}, vms: map[string]bool{}, flags: map[string]bool{},
		host: first.Host, vm: first.VM, user: first.User,
		d: event.Detection{
			Time: first.Time, DetectionID: c.cfg.DetectionID, AnalyticID: c.cfg.AnalyticID, TechniqueID: c.cfg.TechniqueID,
			Platform: c.cfg.Platform, Host: first.Host, FirstSeen: first.Time, LastSeen: first.Time, UID: hex.EncodeToString(sum[:16]),
		},
	}
	c.open[key] = o
	c.stats.Detections++
	return o
}

// join adds an event to a detection's evidence and time span.
func (c *Correlator) join(o *open, e *activity.Event, _ bool) {
	if e.Time.Before(o.d.FirstSeen) {
		o.d.FirstSeen = e.Time
	}
	if e.Time.After(o.d.LastSeen) {
		o.d.LastSeen = e.Time
	}
	if len(o.d.Evidence) >= evidenceMax {
		return
	}
	for _, ev := range o.d.Evidence {
		if strings.HasSuffix(ev.Note, "; key "+e.Key) {
			return
		}
	}
	o.d.Evidence = append(o.d.Evidence, Evidence(e))
	o.d.AddTechnique(relatedTechnique(e))
}

// Evidence is an event as a detection's evidence shows it.
func Evidence(e *activity.Event) event.Evidence {
	var note strings.Builder
	fmt.Fprintf(&note, "%s %s", e.Source, e.Action)
	for _, kv := range [][2]string{{"vm", e.VM}, {"datastore", e.Datastore}, {"to", e.Dest}, {"snapshot", e.Snapshot}, {"task", e.TaskID},
		{"opID", e.OpID}, {"from", e.Peer}, {"user agent", e.UserAgent}} {
		if kv[1] != "" {
			fmt.Fprintf(&note, "; %s %s", kv[0], kv[1])
		}
	}
	if t := relatedTechnique(e); t != "" {
		note.WriteString("; ATT&CK " + t)
	}
	note.WriteString("; key " + e.Key)
	return event.Evidence{Time: e.Time, Kind: string(e.Action), Path: firstOf(e.Path, e.Dest), Process: firstOf(e.Details, e.Tool), Actor: e.User, Note: note.String()}
}

// relatedTechnique names the ATT&CK technique an event is evidence of
// besides the staging itself (T1074.002).
func relatedTechnique(e *activity.Event) string {
	switch {
	case e.Action == activity.Login && e.Source == activity.SourceSSH:
		return "T1021.004" // Remote Services: SSH
	case e.Source == activity.SourceShell || e.Source == activity.SourceSSH || e.Tool == "vim-cmd":
		return "T1059.012" // Command and Scripting Interpreter: Hypervisor CLI
	case e.Action == activity.FileDownload || e.Action == activity.VMExport:
		return "T1005" // Data from Local System (the datastore's files)
	}
	return ""
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// render fills each detection's columns and returns copies.
func (c *Correlator) render(list []*open) []event.Detection {
	out := make([]event.Detection, 0, len(list))
	for _, o := range list {
		c.fill(o)
		d := o.d
		d.Evidence = slices.Clone(o.d.Evidence)
		out = append(out, d)
	}
	return out
}

func (c *Correlator) fill(o *open) {
	d := &o.d
	acts := slices.Sorted(maps.Keys(o.actions))
	parts := make([]string, len(acts))
	for i, a := range acts {
		parts[i] = fmt.Sprintf("%s×%d", a, o.actions[a])
	}
	d.Process = o.kind + ": " + strings.Join(parts, " ")
	if o.cli != "" {
		d.Process += " via " + o.cli
	}
	who := orWord(o.user, "an unknown user")
	d.Actor = o.user
	if o.login != nil {
		d.Actor = fmt.Sprintf("%s (%s", who, loginText(o.login))
		if o.login.Peer != "" {
			d.Actor += " from " + o.login.Peer
		}
		d.Actor += ")"
	}
	host := orWord(o.host, "the host")
	vms := slices.Sorted(maps.Keys(o.vms))
	vmText := strings.Join(vms, ", ")
	window := c.cfg.Window.String()
	score := o.base
	extra := []string{}
	if o.flags["access"] && o.kind != KindAccessUser {
		score += 15
		extra = append(extra, "the account is in AccessUserList")
	}
	if o.flags["cli"] && o.kind != KindCLIStaging && o.kind != KindSessionStaging {
		score += 15
		extra = append(extra, "from the command line ("+o.cli+")")
	}
	if o.flags["sensitive"] && o.kind != KindSensitiveVM {
		score += 15
		extra = append(extra, "a VM marked sensitive")
	}
	if o.flags["disk"] && o.kind != KindDiskCopy {
		score += 10
		extra = append(extra, "VM disk data copied")
	}
	if d.FileCount >= 10 {
		score += 5
	}
	also := ""
	if len(extra) > 0 {
		also = " (" + strings.Join(extra, "; ") + ")"
	}
	switch o.kind {
	case KindSnapshotBurst:
		if o.flags["host"] {
			d.Reason = fmt.Sprintf("%d snapshots of %d VMs (%s) on %s within %s reach SnapshotFrequency's per-host count%s: VM data staged in snapshots for copying; check who took them and whether their files were copied or downloaded.",
				d.FileCount, len(vms), vmText, host, window, also)
		} else {
			d.Reason = fmt.Sprintf("%d snapshots of VM %s on %s by %s within %s reach SnapshotFrequency's per-VM count%s: repeated snapshots stage the VM's data; check the snapshot files and where they went.",
				d.FileCount, vmText, host, who, window, also)
		}
	case KindSessionStaging:
		d.Reason = fmt.Sprintf("%s to %s by %s was followed within %s by %d snapshot or copy actions from the command line (%s)%s: the hypervisor's root CLI or a remote agent used to stage VM data; check the session's commands and the files written.",
			capitalize(loginText(o.login)), host, who, window, d.FileCount, strings.Join(parts, " "), also)
	case KindCLIStaging:
		d.Reason = fmt.Sprintf("%s ran %d snapshot or copy actions on %s from the command line (%s: %s)%s: VM data staged from the hypervisor's CLI rather than the usual management path; check the commands and the files written.",
			who, d.FileCount, host, o.cli, strings.Join(parts, " "), also)
	case KindAccessUser:
		d.Reason = fmt.Sprintf("%s, an account in AccessUserList that should not snapshot or copy VM data, made %d such actions on %s (%s)%s; check whether its credentials are misused.",
			who, d.FileCount, host, strings.Join(parts, " "), also)
	case KindSensitiveVM:
		d.Reason = fmt.Sprintf("VM %s, marked sensitive (SensitiveVMList), had %d snapshot or disk actions on %s by %s (%s)%s; confirm they were expected and where the data went.",
			vmText, d.FileCount, host, who, strings.Join(parts, " "), also)
	case KindDiskCopy:
		d.Reason = fmt.Sprintf("%s copied, exported or downloaded VM disk data on %s (%s, to %s)%s: a VM's disks copied outside its own files; check where the copy went and whether it left the datastore.",
			who, host, strings.Join(parts, " "), orWord(d.ArchivePath, d.StagingPath), also)
	}
	d.Score = min(score, 100)
	switch {
	case d.Score >= 75:
		d.Severity = "high"
	case d.Score >= 45:
		d.Severity = "medium"
	default:
		d.Severity = "low"
	}
}

// loginText says what kind of session a login opened.
func loginText(l *activity.Event) string {
	switch {
	case l.Source == activity.SourceSSH:
		return "an SSH login"
	case l.Source == activity.SourceShell:
		return "an ESXi Shell session"
	case l.UserAgent != "":
		return "an API login (" + l.UserAgent + ")"
	}
	return "an API login"
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// sweep drops windows, sessions and detections no event can reach.
func (c *Correlator) sweep() {
	h := c.watermark.Add(-c.cfg.Lateness - c.cfg.Window)
	for _, m := range []map[string][]snap{c.perVM, c.perHost} {
		for k, l := range m {
			if len(l) == 0 || l[len(l)-1].t.Before(h) {
				delete(m, k)
			}
		}
	}
	for k, l := range c.logins {
		if len(l) == 0 || l[len(l)-1].Time.Before(h) {
			delete(c.logins, k)
		}
	}
	for k, l := range c.recent {
		if len(l) == 0 || l[len(l)-1].t.Before(h) {
			delete(c.recent, k)
		}
	}
	for k, o := range c.open {
		if o.until.Before(h) {
			delete(c.open, k)
		}
	}
	if len(c.agents) > 10000 {
		clear(c.agents)
	}
}

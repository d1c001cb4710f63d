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
	"github.com/stagewatch/stagewatch/plugins/aws/cloudtrail"
)

// Detection kinds, the first word of a detection's process column.
const (
	KindObjectBurst       = "object_burst"
	KindCredentialOutside = "credential_outside"
	KindVolumeExpansion   = "volume_expansion"
	KindNewVolume         = "new_volume"
	KindSnapshotBurst     = "snapshot_burst"
	KindShare             = "share"
)

// evidenceMax bounds the events a detection carries; its counts go on.
const evidenceMax = 20

// sweepEvery is how many events pass between sweeps of expired state.
const sweepEvery = 4096

// Stats are what the correlator saw and why it let events go.
type Stats struct {
	Seen, Late, Failed, Service, Allowed, OutOfScope, Steady, WarmUp, Detections, Updates uint64
	Groups                                                                                int
}

// Correlator turns events into detections. It is not safe for concurrent
// use: one collector pipeline feeds it.
type Correlator struct {
	cfg       Config
	half      int64 // half of TimeWindow in ns: windows hop by it
	watermark time.Time
	first     time.Time         // the oldest event seen
	objects   map[string]*group // account|principal|bucket
	snapshots map[string]*group // account|principal
	writes    map[string]*slots // account|instance: object writes per half window
	volumes   map[string]*volume
	homes     map[string]*home
	open      map[string]*open
	byInst    map[string][]*open // volume detections a later write raises
	stats     Stats
	since     int
	// dirty are the detections raised or changed since the last Flush,
	// rendered then: a burst of thousands of writes renders once a batch.
	dirty []*open
}

type win struct {
	objects, bytes int64
	names          map[string]int64
	evidence       []*cloudtrail.Event
}

type group struct {
	wins map[int64]*win
	det  *open
	last time.Time
}

type slots struct {
	n    map[int64]int64
	b    map[int64]int64
	last time.Time
}

type volume struct {
	created    time.Time
	createdBy  *cloudtrail.Event
	instance   string
	attachedAt time.Time
	attachedBy *cloudtrail.Event
	last       time.Time
	// expansions are the volume's growth detections, for an attachment
	// read after them (delivery files are unsorted) to name the instance.
	expansions []*open
}

type home struct {
	ips, vpces map[string]bool
	resolved   bool
	last       time.Time
}

type open struct {
	d         event.Detection
	kind      string
	key       string
	principal string
	instance  string
	bucket    string
	region    string
	tags      string
	names     map[string]int64
	objects   int64
	// writesAfter: object writes by the instance after a volume event.
	writesAfter, bytesAfter int64
	until                   time.Time // events up to this time join it
	dirty                   bool      // waiting in Correlator.dirty
	detail                  string    // what the reason says of the resource
	base                    int       // score before what follows
}

// New returns a correlator; cfg is checked by the analytic's Configure.
func New(cfg Config) *Correlator {
	if cfg.Lateness <= 0 {
		cfg.Lateness = DefaultLateness
	}
	if cfg.Window <= 0 {
		cfg.Window = 15 * time.Minute
	}
	return &Correlator{
		cfg: cfg, half: int64(cfg.Window / 2),
		objects: map[string]*group{}, snapshots: map[string]*group{}, writes: map[string]*slots{},
		volumes: map[string]*volume{}, homes: map[string]*home{}, open: map[string]*open{}, byInst: map[string][]*open{},
	}
}

// Stats returns the counters.
func (c *Correlator) Stats() Stats {
	s := c.stats
	s.Groups = len(c.objects) + len(c.snapshots) + len(c.volumes) + len(c.homes)
	return s
}

// Add correlates one event; Flush returns what it raised or changed.
func (c *Correlator) Add(e *cloudtrail.Event) {
	c.stats.Seen++
	if e.Time.After(c.watermark) {
		c.watermark = e.Time
	}
	if c.first.IsZero() || e.Time.Before(c.first) {
		c.first = e.Time
	}
	if c.since++; c.since >= sweepEvery {
		c.since = 0
		c.sweep()
	}
	switch {
	case e.Time.Before(c.horizon()):
		c.stats.Late++
		return
	case e.ErrorCode != "":
		c.stats.Failed++
		return
	case e.ServiceActing():
		c.stats.Service++
		return
	case c.allowed(e.Principal):
		c.stats.Allowed++
		return
	}
	var out []*open
	if e.Instance != "" && (e.Kind == cloudtrail.KindObjectWrite || e.Kind == cloudtrail.KindObjectPart || e.Kind == cloudtrail.KindObjectRead) {
		out = append(out, c.outside(e)...)
	}
	switch e.Kind {
	case cloudtrail.KindObjectWrite, cloudtrail.KindObjectPart:
		out = append(out, c.objectWrite(e)...)
	case cloudtrail.KindVolumeCreate, cloudtrail.KindVolumeAttach, cloudtrail.KindVolumeModify:
		out = append(out, c.volumeEvent(e)...)
	case cloudtrail.KindSnapshotCreate:
		out = append(out, c.snapshotCreate(e)...)
	case cloudtrail.KindShare:
		out = append(out, c.share(e)...)
	}
	for _, o := range out {
		if !o.dirty {
			o.dirty = true
			c.dirty = append(c.dirty, o)
		}
	}
}

// Flush returns the detections raised or changed since the last Flush,
// each rendered once, a copy the caller may keep.
func (c *Correlator) Flush() []event.Detection {
	if len(c.dirty) == 0 {
		return nil
	}
	dets := make([]event.Detection, 0, len(c.dirty))
	for _, o := range c.dirty {
		o.dirty = false
		c.render(o)
		d := o.d
		d.Evidence = slices.Clone(o.d.Evidence)
		dets = append(dets, d)
	}
	c.dirty = c.dirty[:0]
	return dets
}

// horizon is the oldest event time still correlated.
func (c *Correlator) horizon() time.Time {
	return c.watermark.Add(-c.cfg.Lateness - c.cfg.Window)
}

func (c *Correlator) allowed(principal string) bool {
	for _, p := range c.cfg.AllowedPrincipals {
		if Glob(p, principal) {
			return true
		}
	}
	return false
}

// inScope says whether an instance is one InstanceTag selects; with
// tags not known it is in scope, and tags says "" (not resolved).
func (c *Correlator) inScope(e *cloudtrail.Event, instance string) (in bool, tags string) {
	if instance == "" {
		return len(c.cfg.InstanceTags) == 0, ""
	}
	var inst Instance
	known := false
	if c.cfg.Resolver != nil {
		inst, known = c.cfg.Resolver.Instance(e.Account, e.Region, instance)
	}
	if !known {
		return true, ""
	}
	tags = renderTags(inst.Tags)
	if len(c.cfg.InstanceTags) == 0 {
		return true, tags
	}
	for _, r := range c.cfg.InstanceTags {
		for k, v := range inst.Tags {
			if Glob(r.Key, k) && Glob(r.Value, v) {
				return true, tags
			}
		}
	}
	return false, tags
}

func renderTags(tags map[string]string) string {
	keys := slices.Sorted(maps.Keys(tags))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + tags[k]
	}
	return strings.Join(parts, ",")
}

// destination classifies a bucket and key by CloudBucketList: the class
// of the first rule matching ("" for none), and whether usual rules exist.
func (c *Correlator) destination(bucket, key string) (class string, haveUsual bool) {
	for _, r := range c.cfg.Buckets {
		if r.Class == BucketUsual {
			haveUsual = true
		}
		if class == "" && r.matches(bucket, key) {
			class = r.Class
		}
	}
	return class, haveUsual
}

func (c *Correlator) slot(t time.Time) int64 { return t.UnixNano() / c.half }

// windows adds one event to the two hopping windows (each TimeWindow
// long, starting every half window) that hold its time and returns them.
func (g *group) add(c *Correlator, e *cloudtrail.Event, objects int64) [2]int64 {
	s := c.slot(e.Time)
	ws := [2]int64{s - 1, s}
	for _, w := range ws {
		x := g.wins[w]
		if x == nil {
			x = &win{names: map[string]int64{}}
			g.wins[w] = x
		}
		x.objects += objects
		x.bytes += e.Bytes
		x.names[e.Name]++
		if len(x.evidence) < evidenceMax {
			x.evidence = append(x.evidence, e)
		}
	}
	if e.Time.After(g.last) {
		g.last = e.Time
	}
	return ws
}

func newGroup() *group { return &group{wins: map[int64]*win{}} }

func (c *Correlator) burst(w *win) bool {
	return (c.cfg.ObjectThreshold > 0 && w.objects >= c.cfg.ObjectThreshold) ||
		(c.cfg.ByteThreshold > 0 && w.bytes >= c.cfg.ByteThreshold)
}

// steady says whether the window before w already carried half a burst:
// a backup agent, log shipper or CI job writing at its usual rate.
func (c *Correlator) steady(g *group, w int64) bool {
	prev := g.wins[w-2]
	if prev == nil {
		return false
	}
	return (c.cfg.ObjectThreshold > 0 && 2*prev.objects >= c.cfg.ObjectThreshold) ||
		(c.cfg.ByteThreshold > 0 && 2*prev.bytes >= c.cfg.ByteThreshold)
}

func (c *Correlator) objectWrite(e *cloudtrail.Event) []*open {
	class, haveUsual := c.destination(e.Bucket, e.Key)
	cross := e.BucketOwner != "" && e.Account != "" && e.BucketOwner != e.Account
	if e.Instance == "" && class != BucketStaging && class != BucketWatched && !cross {
		return nil
	}
	in, tags := c.inScope(e, e.Instance)
	if !in {
		c.stats.OutOfScope++
		return nil
	}
	objects := int64(0)
	if e.Kind == cloudtrail.KindObjectWrite {
		objects = 1
	}
	var out []*open
	if e.Instance != "" {
		out = c.instanceWrite(e, objects)
	}
	key := e.Account + "|" + e.Principal + "|" + e.Bucket
	g := c.objects[key]
	if g == nil {
		g = newGroup()
		c.objects[key] = g
	}
	ws := g.add(c, e, objects)
	if o := g.det; o != nil && !e.Time.After(o.until) && !e.Time.Before(o.d.FirstSeen.Add(-c.cfg.Window)) {
		o.objects += objects
		o.d.Bytes += e.Bytes
		c.join(o, e, true)
		o.until = maxTime(o.until, e.Time.Add(c.cfg.Window))
		c.stats.Updates++
		return append(out, o)
	}
	for _, w := range ws {
		x := g.wins[w]
		if !c.burst(x) {
			continue
		}
		if class != BucketStaging && !cross && c.steady(g, w) {
			c.stats.Steady++
			return out
		}
		if c.cfg.WarmUp > 0 && time.Unix(0, w*c.half).Before(c.first.Add(c.cfg.WarmUp)) {
			c.stats.WarmUp++
			return out
		}
		score := 50
		var why []string
		if e.Instance != "" {
			score += 10
		}
		switch {
		case class == BucketStaging:
			score += 25
			why = append(why, "a staging destination in CloudBucketList")
		case haveUsual && class != BucketUsual:
			score += 15
			why = append(why, "outside the buckets it usually writes to")
		}
		if cross {
			score += 25
			why = append(why, "owned by another account ("+e.BucketOwner+")")
		}
		if x.bytes >= 1<<30 {
			score += 5
		}
		o := c.newOpen(KindObjectBurst, key, x.evidence[0])
		o.instance, o.bucket, o.tags, o.base = e.Instance, e.Bucket, tags, score
		o.detail = strings.Join(why, ", ")
		o.objects, o.d.Bytes = x.objects, x.bytes
		for _, ev := range x.evidence {
			c.join(o, ev, false)
		}
		// Counts are the window's, beyond the evidence it keeps.
		o.names = maps.Clone(x.names)
		o.d.Time = e.Time
		o.until = g.last.Add(c.cfg.Window)
		g.det = o
		return append(out, o)
	}
	return out
}

// instanceWrite counts an instance's write for the volume detections it
// follows, and raises those it falls after.
func (c *Correlator) instanceWrite(e *cloudtrail.Event, objects int64) []*open {
	key := e.Account + "|" + e.Instance
	s := c.writes[key]
	if s == nil {
		s = &slots{n: map[int64]int64{}, b: map[int64]int64{}}
		c.writes[key] = s
	}
	sl := c.slot(e.Time)
	s.n[sl] += objects
	s.b[sl] += e.Bytes
	if e.Time.After(s.last) {
		s.last = e.Time
	}
	var out []*open
	for _, o := range c.byInst[key] {
		if e.Time.Before(o.d.Time) || e.Time.After(o.d.Time.Add(c.cfg.Window)) {
			continue
		}
		o.writesAfter += objects
		o.bytesAfter += e.Bytes
		if o.d.LastSeen.Before(e.Time) {
			o.d.LastSeen = e.Time
		}
		c.stats.Updates++
		out = append(out, o)
	}
	return out
}

// writesBetween sums an instance's writes in the half windows from..to.
func (c *Correlator) writesBetween(key string, from, to time.Time) (n, b int64) {
	s := c.writes[key]
	if s == nil {
		return 0, 0
	}
	for sl := c.slot(from); sl <= c.slot(to); sl++ {
		n += s.n[sl]
		b += s.b[sl]
	}
	return n, b
}

// outside checks an instance session's object call against the
// instance's own addresses and VPC endpoints: known from EC2, else
// learnt from the session's first calls.
func (c *Correlator) outside(e *cloudtrail.Event) []*open {
	if e.SourceIP == "" || e.SourceIP == "AWS Internal" || strings.HasSuffix(e.SourceIP, ".amazonaws.com") {
		return nil
	}
	key := e.Account + "|" + e.Instance
	h := c.homes[key]
	if h == nil {
		h = &home{ips: map[string]bool{}, vpces: map[string]bool{}}
		c.homes[key] = h
	}
	if e.Time.After(h.last) {
		h.last = e.Time
	}
	if !h.resolved && c.cfg.Resolver != nil {
		h.resolved = true
		if inst, ok := c.cfg.Resolver.Instance(e.Account, e.Region, e.Instance); ok {
			for _, a := range inst.Addresses {
				h.ips[a] = true
			}
		}
	}
	switch {
	case h.ips[e.SourceIP] || (e.VPCEndpoint != "" && h.vpces[e.VPCEndpoint]):
		return nil
	case len(h.ips) == 0 && len(h.vpces) == 0, e.VPCEndpoint != "" && len(h.vpces) == 0:
		h.ips[e.SourceIP] = true
		if e.VPCEndpoint != "" {
			h.vpces[e.VPCEndpoint] = true
		}
		return nil
	}
	if in, _ := c.inScope(e, e.Instance); !in {
		c.stats.OutOfScope++
		return nil
	}
	okey := KindCredentialOutside + "|" + key + "|" + e.SourceIP
	if o := c.open[okey]; o != nil && !e.Time.After(o.until) {
		if e.Kind == cloudtrail.KindObjectWrite || e.Kind == cloudtrail.KindObjectRead {
			o.objects++
		}
		o.d.Bytes += e.Bytes
		c.join(o, e, true)
		o.until = maxTime(o.until, e.Time.Add(c.cfg.Window))
		c.stats.Updates++
		return []*open{o}
	}
	_, tags := c.inScope(e, e.Instance)
	o := c.newOpen(KindCredentialOutside, okey, e)
	o.instance, o.bucket, o.tags, o.base = e.Instance, e.Bucket, tags, 85
	known := slices.Sorted(maps.Keys(h.ips))
	o.detail = "not the instance's (" + strings.Join(known, ", ") + ")"
	if e.Kind != cloudtrail.KindObjectPart {
		o.objects = 1
	}
	o.d.Bytes = e.Bytes
	c.join(o, e, true)
	o.until = e.Time.Add(c.cfg.Window)
	return []*open{o}
}

func (c *Correlator) volumeEvent(e *cloudtrail.Event) []*open {
	if e.Volume == "" {
		return nil
	}
	key := e.Account + "|" + e.Region + "|" + e.Volume
	v := c.volumes[key]
	if v == nil {
		v = &volume{}
		c.volumes[key] = v
	}
	if e.Time.After(v.last) {
		v.last = e.Time
	}
	switch e.Kind {
	case cloudtrail.KindVolumeCreate:
		v.created, v.createdBy = e.Time, e
		if v.attachedBy != nil {
			return c.newVolume(v, key)
		}
	case cloudtrail.KindVolumeAttach:
		v.instance, v.attachedAt, v.attachedBy = e.TargetInstance, e.Time, e
		var out []*open
		for _, o := range v.expansions {
			if o.instance != "" || e.TargetInstance == "" {
				continue
			}
			if in, tags := c.inScope(e, e.TargetInstance); in {
				o.instance, o.tags, o.base = e.TargetInstance, tags, 55
				c.join(o, e, true)
				c.follow(o, e.Account)
				c.stats.Updates++
				out = append(out, o)
			}
		}
		if v.createdBy != nil {
			out = append(out, c.newVolume(v, key)...)
		}
		return out
	case cloudtrail.KindVolumeModify:
		if e.OriginalSize <= 0 || e.Size <= e.OriginalSize {
			return nil
		}
		inst := v.instance
		if inst == "" && c.cfg.Resolver != nil {
			inst, _ = c.cfg.Resolver.VolumeInstance(e.Account, e.Region, e.Volume)
		}
		in, tags := c.inScope(e, inst)
		if !in && inst != "" {
			c.stats.OutOfScope++
			return nil
		}
		okey := KindVolumeExpansion + "|" + key + "|" + e.EventID
		if c.open[okey] != nil {
			return nil
		}
		o := c.newOpen(KindVolumeExpansion, okey, e)
		o.instance, o.tags = inst, tags
		o.base = 40
		if inst != "" {
			o.base = 55
		}
		o.detail = fmt.Sprintf("grown from %d to %d GiB", e.OriginalSize, e.Size)
		c.join(o, e, true)
		c.follow(o, e.Account)
		v.expansions = append(v.expansions, o)
		return []*open{o}
	}
	return nil
}

// newVolume raises a volume created and attached to an in-scope instance
// within TimeWindow.
func (c *Correlator) newVolume(v *volume, key string) []*open {
	gap := v.attachedAt.Sub(v.created)
	if gap < 0 || gap > c.cfg.Window || v.instance == "" {
		return nil
	}
	create := v.createdBy
	in, tags := c.inScope(create, v.instance)
	if !in {
		c.stats.OutOfScope++
		return nil
	}
	okey := KindNewVolume + "|" + key
	if c.open[okey] != nil {
		return nil
	}
	o := c.newOpen(KindNewVolume, okey, create)
	o.instance, o.tags, o.base = v.instance, tags, 55
	o.detail = fmt.Sprintf("a new %d GiB volume", create.Size)
	if create.FromSnapshot != "" {
		o.detail += " from snapshot " + create.FromSnapshot
		o.base += 5
	}
	c.join(o, create, true)
	c.join(o, v.attachedBy, true)
	c.follow(o, create.Account)
	return []*open{o}
}

// follow registers a volume detection for the instance's later writes
// and counts those already seen.
func (c *Correlator) follow(o *open, account string) {
	if o.instance == "" {
		return
	}
	key := account + "|" + o.instance
	c.byInst[key] = append(c.byInst[key], o)
	// Writes after the volume step: the detection's own time (the growth,
	// the creation), not its first evidence, which may be an older
	// attachment.
	o.writesAfter, o.bytesAfter = c.writesBetween(key, o.d.Time, o.d.Time.Add(c.cfg.Window))
	o.until = maxTime(o.until, o.d.Time.Add(c.cfg.Window))
}

func (c *Correlator) snapshotCreate(e *cloudtrail.Event) []*open {
	if c.cfg.SnapshotThreshold <= 0 {
		return nil
	}
	key := e.Account + "|" + e.Principal
	g := c.snapshots[key]
	if g == nil {
		g = newGroup()
		c.snapshots[key] = g
	}
	ws := g.add(c, e, 1)
	if o := g.det; o != nil && !e.Time.After(o.until) {
		o.objects++
		c.join(o, e, true)
		o.until = maxTime(o.until, e.Time.Add(c.cfg.Window))
		c.stats.Updates++
		return []*open{o}
	}
	for _, w := range ws {
		x := g.wins[w]
		if x.objects < c.cfg.SnapshotThreshold {
			continue
		}
		o := c.newOpen(KindSnapshotBurst, KindSnapshotBurst+"|"+key, x.evidence[0])
		o.base = 60
		o.objects = x.objects
		for _, ev := range x.evidence {
			c.join(o, ev, false)
		}
		o.names = maps.Clone(x.names)
		o.d.Time = e.Time
		o.until = g.last.Add(c.cfg.Window)
		g.det = o
		return []*open{o}
	}
	return nil
}

func (c *Correlator) share(e *cloudtrail.Event) []*open {
	var others []string
	for _, a := range e.SharedWith {
		if a != e.Account {
			others = append(others, a)
		}
	}
	if !e.Public && len(others) == 0 {
		return nil
	}
	res := e.Resource()
	okey := KindShare + "|" + e.Account + "|" + e.Region + "|" + res
	if o := c.open[okey]; o != nil && !e.Time.After(o.until) {
		c.join(o, e, true)
		o.until = maxTime(o.until, e.Time.Add(c.cfg.Window))
		c.stats.Updates++
		return []*open{o}
	}
	o := c.newOpen(KindShare, okey, e)
	o.base = 85
	switch {
	case e.Public:
		o.base = 95
		o.detail = "publicly (group all)"
		o.d.ArchivePath = "public"
	default:
		o.detail = "with account " + strings.Join(others, ", ")
		o.d.ArchivePath = "account " + strings.Join(others, ",")
	}
	c.join(o, e, true)
	o.until = e.Time.Add(c.cfg.Window)
	return []*open{o}
}

// newOpen starts a detection from its first event.
func (c *Correlator) newOpen(kind, key string, first *cloudtrail.Event) *open {
	sum := sha256.Sum256([]byte(c.cfg.AnalyticID + "|" + kind + "|" + key + "|" + first.EventID + "|" + first.Time.UTC().Format(time.RFC3339Nano)))
	o := &open{
		kind: kind, key: key, region: first.Region, names: map[string]int64{}, principal: first.Principal,
		d: event.Detection{
			Time: first.Time, DetectionID: c.cfg.DetectionID, AnalyticID: c.cfg.AnalyticID,
			TechniqueID: c.cfg.TechniqueID, Platform: c.cfg.Platform, Host: first.Account,
			FirstSeen: first.Time, LastSeen: first.Time, UID: hex.EncodeToString(sum[:16]),
		},
	}
	c.open[key] = o
	c.stats.Detections++
	return o
}

// join adds an event to a detection's evidence and time span.
func (c *Correlator) join(o *open, e *cloudtrail.Event, count bool) {
	if e == nil {
		return
	}
	if count {
		o.names[e.Name]++
	}
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
		if ev.Note != "" && strings.Contains(ev.Note, "event "+e.EventID+";") {
			return
		}
	}
	o.d.Evidence = append(o.d.Evidence, Evidence(e))
	o.d.AddTechnique(relatedTechnique(e))
}

// Evidence is an event as a detection's evidence shows it.
func Evidence(e *cloudtrail.Event) event.Evidence {
	var note strings.Builder
	fmt.Fprintf(&note, "%s %s; event %s; request %s; region %s; from %s", e.Source, e.Name, e.EventID, e.RequestID, e.Region, e.SourceIP)
	if e.VPCEndpoint != "" {
		note.WriteString(" via " + e.VPCEndpoint)
	}
	if e.CopySource != "" {
		note.WriteString("; copied from s3://" + e.CopySource)
	}
	if e.BucketOwner != "" && e.BucketOwner != e.Account {
		note.WriteString("; bucket owner " + e.BucketOwner)
	}
	if e.Public {
		note.WriteString("; shared publicly")
	} else if len(e.SharedWith) > 0 {
		note.WriteString("; shared with " + strings.Join(e.SharedWith, ","))
	}
	if t := relatedTechnique(e); t != "" {
		note.WriteString("; ATT&CK " + t)
	}
	return event.Evidence{Time: e.Time, Kind: e.Name, Path: e.Resource(), Size: e.Bytes, Process: e.UserAgent, Actor: e.Principal, Note: note.String()}
}

// relatedTechnique names the ATT&CK technique an event is evidence of
// besides the staging itself (T1074.002).
func relatedTechnique(e *cloudtrail.Event) string {
	switch e.Kind {
	case cloudtrail.KindShare:
		return "T1537" // Transfer Data to Cloud Account
	case cloudtrail.KindSnapshotCreate:
		return "T1578.001" // Modify Cloud Compute Infrastructure: Create Snapshot
	case cloudtrail.KindVolumeModify, cloudtrail.KindVolumeCreate, cloudtrail.KindVolumeAttach:
		return "T1578.005" // Modify Cloud Compute Configurations
	case cloudtrail.KindObjectRead:
		return "T1530" // Data from Cloud Storage
	}
	return ""
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// sweep drops windows, volumes, addresses and open detections that no
// event can reach any more.
func (c *Correlator) sweep() {
	h := c.horizon()
	oldest := c.slot(h) - 2
	for _, groups := range []map[string]*group{c.objects, c.snapshots} {
		for k, g := range groups {
			for w := range g.wins {
				if w < oldest {
					delete(g.wins, w)
				}
			}
			if g.det != nil && g.det.until.Before(h) {
				g.det = nil
			}
			if len(g.wins) == 0 && g.det == nil {
				delete(groups, k)
			}
		}
	}
	for k, s := range c.writes {
		if s.last.Before(h) {
			delete(c.writes, k)
			continue
		}
		for sl := range s.n {
			if sl < oldest {
				delete(s.n, sl)
				delete(s.b, sl)
			}
		}
	}
	for k, v := range c.volumes {
		if v.last.Before(h) {
			delete(c.volumes, k)
		}
	}
	for k, hm := range c.homes {
		// An instance's addresses are kept a day past its last call: its
		// next call from elsewhere is still told apart.
		if hm.last.Before(h.Add(-24 * time.Hour)) {
			delete(c.homes, k)
		}
	}
	for k, o := range c.open {
		if o.until.Before(h) {
			delete(c.open, k)
		}
	}
	for k, list := range c.byInst {
		list = slices.DeleteFunc(list, func(o *open) bool { return o.until.Before(h) })
		if len(list) == 0 {
			delete(c.byInst, k)
		} else {
			c.byInst[k] = list
		}
	}
}

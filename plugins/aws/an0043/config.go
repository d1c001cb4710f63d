package an0043

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/stagewatch/stagewatch/internal/elements"
	"github.com/stagewatch/stagewatch/internal/remote"
	"github.com/stagewatch/stagewatch/plugins/aws/correlate"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// Mutable element names (contract: exact DET0014 names, then AN0043's
// own).
const (
	CloudBucketList      = "CloudBucketList"
	InstanceTag          = "InstanceTag"
	ObjectWriteThreshold = "ObjectWriteThreshold"
	TimeWindow           = "TimeWindow"
	SnapshotThreshold    = "SnapshotThreshold"
	AllowedPrincipals    = "AllowedPrincipals"
)

// ConnectionKey is the connection block's key in the analytic's section.
const ConnectionKey = "aws"

// Defaults.
const (
	DefaultObjects           = 100
	DefaultSnapshotThreshold = 5
	DefaultTimeWindow        = 15 * time.Minute
	MinimumTimeWindow        = time.Minute
	MaximumTimeWindow        = 24 * time.Hour
	DefaultPollInterval      = 60 * time.Second
	MinimumPollInterval      = 5 * time.Second
	DefaultTrailStart        = 24 * time.Hour
	DefaultTrailPrefix       = "AWSLogs/"
	// DefaultRelistMargin is how far behind its cursor a trail listing
	// starts again: CloudTrail names a file by when it was written, and
	// files of the same minute land in any order.
	DefaultRelistMargin      = 15 * time.Minute
	DefaultQueueWait         = 20 * time.Second
	DefaultQueueVisibility   = 5 * time.Minute
	DefaultInstanceCacheTTL  = 15 * time.Minute
	DefaultInstanceCacheSize = 10000
)

// DefaultAllowedPrincipals are AWS Backup's and Data Lifecycle Manager's
// default roles: they snapshot and copy on a schedule.
var DefaultAllowedPrincipals = []string{
	"arn:aws:sts::*:assumed-role/AWSBackupDefaultServiceRole/*",
	"arn:aws:sts::*:assumed-role/AWSDataLifecycleManagerDefaultRole/*",
}

func jsonOf(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// Elements are AN0043's mutable elements with their defaults.
func Elements() []sdk.MutableElement {
	return []sdk.MutableElement{
		{Name: CloudBucketList, Type: sdk.ElementStringList, Default: jsonOf([]string{}),
			Description: "Buckets (globs) or bucket/prefix to watch: writes there count toward bursts from any principal, not only instance sessions. " +
				"\"staging:bucket[/prefix]\" marks a staging destination (a burst there is high severity, never taken for a steady writer); " +
				"\"usual:bucket[/prefix]\" lists where instances normally write, and a burst anywhere else scores higher. Empty: every instance session's writes are watched."},
		{Name: InstanceTag, Type: sdk.ElementStringList, Default: jsonOf([]string{}),
			Description: "Tags marking the instances in scope (isolated, ephemeral…): \"key\" or \"key=value\" (globs), or a map key: value. " +
				"Empty: every instance. An instance whose tags cannot be resolved (offline, another account) stays in scope."},
		{Name: ObjectWriteThreshold, Type: sdk.ElementString, Default: jsonOf(map[string]int64{"objects": DefaultObjects, "bytes": 0}),
			Description: "What makes a burst within TimeWindow: {objects: N, bytes: N} (bytes as a number or \"10GB\"; 0 turns that half off), or a bare number of objects. " +
				"Objects are PutObject, CopyObject and CompleteMultipartUpload (a multipart upload is one object; its UploadParts carry the bytes)."},
		{Name: TimeWindow, Type: sdk.ElementDuration, Default: jsonOf(DefaultTimeWindow.String()),
			Description: "The window bursts are counted in and within which a volume or snapshot step and the writes after it belong together (1m to 24h)."},
		{Name: SnapshotThreshold, Type: sdk.ElementInteger, Default: jsonOf(DefaultSnapshotThreshold),
			Description: "Snapshots or images (CreateSnapshot(s), CopySnapshot, CreateImage, CopyImage) one principal makes within TimeWindow that are a snapshot burst; 0 turns the rule off."},
		{Name: AllowedPrincipals, Type: sdk.ElementStringList, Default: jsonOf(DefaultAllowedPrincipals),
			Description: "Principal ARN globs (* crosses / and :) whose calls are never staging: backup and lifecycle roles. AWS services acting for themselves (invokedBy, service-linked roles) are always quiet."},
	}
}

// Connection is the aws block (contract keys first).
type Connection struct {
	Region        string          `json:"region"`
	AssumeRoleARN string          `json:"assume_role_arn"`
	ExternalID    string          `json:"external_id"`
	Profile       string          `json:"profile"`
	Endpoints     Endpoints       `json:"endpoints"`
	S3PathStyle   bool            `json:"s3_path_style"`
	Trail         Trail           `json:"trail"`
	Queue         Queue           `json:"queue"`
	LookupEvents  Lookup          `json:"lookup_events"`
	PollInterval  remote.Duration `json:"poll_interval"`
	Instances     Instances       `json:"instances"`
}

// Endpoints are per-service URLs (S3-compatible stores, tests).
type Endpoints struct {
	S3         string `json:"s3"`
	SQS        string `json:"sqs"`
	CloudTrail string `json:"cloudtrail"`
	EC2        string `json:"ec2"`
	STS        string `json:"sts"`
}

// Trail is polling mode: the trail's bucket, listed incrementally.
type Trail struct {
	Bucket string          `json:"bucket"`
	Prefix string          `json:"prefix"`
	Start  remote.Start    `json:"start"`
	Margin remote.Duration `json:"relist_margin"`
	// Accounts and Regions narrow the prefixes read (empty: all found).
	Accounts []string `json:"accounts"`
	Regions  []string `json:"regions"`
}

// Queue is queue mode: S3 event notifications on SQS.
type Queue struct {
	URL        string          `json:"url"`
	Wait       remote.Duration `json:"wait"`
	Visibility remote.Duration `json:"visibility_timeout"`
}

// Lookup is CloudTrail LookupEvents for management events.
type Lookup struct {
	Regions []string     `json:"regions"`
	Start   remote.Start `json:"start"`
}

// Instances is the EC2 tag and address cache.
type Instances struct {
	Resolve *bool           `json:"resolve"`
	TTL     remote.Duration `json:"ttl"`
	Max     int             `json:"max"`
}

func (c *Connection) defaults() {
	if c.PollInterval == 0 {
		c.PollInterval = remote.Duration(DefaultPollInterval)
	}
	if c.Trail.Prefix == "" {
		c.Trail.Prefix = DefaultTrailPrefix
	}
	if c.Trail.Start == (remote.Start{}) {
		c.Trail.Start = remote.Start{Back: DefaultTrailStart}
	}
	if c.Trail.Margin == 0 {
		c.Trail.Margin = remote.Duration(DefaultRelistMargin)
	}
	if c.LookupEvents.Start == (remote.Start{}) {
		c.LookupEvents.Start = remote.Start{Back: DefaultTrailStart}
	}
	if c.Queue.Wait == 0 {
		c.Queue.Wait = remote.Duration(DefaultQueueWait)
	}
	if c.Queue.Visibility == 0 {
		c.Queue.Visibility = remote.Duration(DefaultQueueVisibility)
	}
	if c.Instances.TTL == 0 {
		c.Instances.TTL = remote.Duration(DefaultInstanceCacheTTL)
	}
	if c.Instances.Max == 0 {
		c.Instances.Max = DefaultInstanceCacheSize
	}
	if c.Instances.Resolve == nil {
		t := true
		c.Instances.Resolve = &t
	}
}

func (c *Connection) check(live bool) error {
	key := func(k string) string { return ConnectionKey + "." + k }
	if c.Trail.Prefix != "" && !strings.HasSuffix(c.Trail.Prefix, "/") {
		return &sdk.ConfigError{Key: key("trail.prefix"), Reason: fmt.Sprintf("%q must end with / (the default is %s)", c.Trail.Prefix, DefaultTrailPrefix)}
	}
	if d := time.Duration(c.PollInterval); d < MinimumPollInterval {
		return &sdk.ConfigError{Key: key("poll_interval"), Reason: fmt.Sprintf("%v is too short: at least %v", d, MinimumPollInterval)}
	}
	if w := time.Duration(c.Queue.Wait); w < 0 || w > 20*time.Second {
		return &sdk.ConfigError{Key: key("queue.wait"), Reason: fmt.Sprintf("%v: SQS long polling waits 0 to 20s", w)}
	}
	if v := time.Duration(c.Queue.Visibility); v < 30*time.Second || v > 12*time.Hour {
		return &sdk.ConfigError{Key: key("queue.visibility_timeout"), Reason: fmt.Sprintf("%v: expected 30s to 12h", v)}
	}
	if c.Queue.URL != "" && !strings.HasPrefix(c.Queue.URL, "https://") && !strings.HasPrefix(c.Queue.URL, "http://") {
		return &sdk.ConfigError{Key: key("queue.url"), Reason: fmt.Sprintf("%q is not a queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)", c.Queue.URL)}
	}
	for name, u := range map[string]string{"s3": c.Endpoints.S3, "sqs": c.Endpoints.SQS, "cloudtrail": c.Endpoints.CloudTrail, "ec2": c.Endpoints.EC2, "sts": c.Endpoints.STS} {
		if u != "" && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
			return &sdk.ConfigError{Key: key("endpoints." + name), Reason: fmt.Sprintf("%q is not an http(s) URL", u)}
		}
	}
	if c.AssumeRoleARN != "" && !strings.HasPrefix(c.AssumeRoleARN, "arn:") {
		return &sdk.ConfigError{Key: key("assume_role_arn"), Reason: fmt.Sprintf("%q is not a role ARN", c.AssumeRoleARN)}
	}
	if live && c.Trail.Bucket == "" && c.Queue.URL == "" && len(c.LookupEvents.Regions) == 0 {
		return &sdk.ConfigError{Key: ConnectionKey, Reason: "no source to read: set trail.bucket (polling), queue.url (queue mode) or lookup_events.regions"}
	}
	if c.Trail.Bucket != "" && c.Queue.URL != "" {
		return &sdk.ConfigError{Key: key("queue.url"), Reason: "polling (trail.bucket) and queue mode (queue.url) read the same files: choose one"}
	}
	return nil
}

// settings are the section decoded and checked.
type settings struct {
	corr   correlate.Config
	conn   Connection
	values *elements.Values
	effect json.RawMessage
}

// decode splits the analytic's section into its connection block, the
// two elements with shapes of their own (ObjectWriteThreshold,
// InstanceTag) and the rest, which the shared element decoder checks.
func decode(raw json.RawMessage, live bool) (settings, error) {
	var st settings
	obj := map[string]json.RawMessage{}
	if t := bytes.TrimSpace(raw); len(t) > 0 && string(t) != "null" {
		if err := json.Unmarshal(t, &obj); err != nil {
			return st, &sdk.ConfigError{Key: elements.ConfigKey, Reason: "the AN0043 section must be a mapping of element names to values"}
		}
	}
	connRaw, thrRaw, tagRaw := obj[ConnectionKey], obj[ObjectWriteThreshold], obj[InstanceTag]
	delete(obj, ConnectionKey)
	delete(obj, ObjectWriteThreshold)
	delete(obj, InstanceTag)
	var descs []sdk.MutableElement
	for _, d := range Elements() {
		if d.Name != ObjectWriteThreshold && d.Name != InstanceTag {
			descs = append(descs, d)
		}
	}
	rest, _ := json.Marshal(obj)
	values, err := elements.Decode(descs, rest)
	if err != nil {
		var ce *sdk.ConfigError
		if asConfigError(err, &ce) && strings.Contains(ce.Reason, "unknown") {
			ce.Reason += ", " + ConnectionKey + ", " + ObjectWriteThreshold + ", " + InstanceTag
		}
		return st, err
	}
	st.values = values
	objects, byteCount, err := decodeThreshold(thrRaw)
	if err != nil {
		return st, &sdk.ConfigError{Key: ObjectWriteThreshold, Reason: err.Error()}
	}
	tags, tagList, err := decodeTags(tagRaw)
	if err != nil {
		return st, &sdk.ConfigError{Key: InstanceTag, Reason: err.Error()}
	}
	var buckets []correlate.BucketRule
	for _, b := range values.Strings(CloudBucketList) {
		r, err := correlate.ParseBucketRule(b)
		if err != nil {
			return st, &sdk.ConfigError{Key: CloudBucketList, Reason: err.Error()}
		}
		buckets = append(buckets, r)
	}
	window := values.Duration(TimeWindow)
	if window < MinimumTimeWindow || window > MaximumTimeWindow {
		return st, &sdk.ConfigError{Key: TimeWindow, Reason: fmt.Sprintf("%v: expected %v to %v (the default is %v)", window, MinimumTimeWindow, MaximumTimeWindow, DefaultTimeWindow)}
	}
	snaps := values.Int(SnapshotThreshold)
	if snaps < 0 || snaps > 100000 {
		return st, &sdk.ConfigError{Key: SnapshotThreshold, Reason: fmt.Sprintf("%d: expected 0 (off) to 100000", snaps)}
	}
	if err := remote.Decode(ConnectionKey, connRaw, &st.conn); err != nil {
		return st, err
	}
	st.conn.defaults()
	if err := st.conn.check(live); err != nil {
		return st, err
	}
	st.corr = correlate.Config{
		AnalyticID: AnalyticID, Platform: Platform, DetectionID: "DET0014", TechniqueID: TechniqueID,
		Buckets: buckets, InstanceTags: tags, ObjectThreshold: objects, ByteThreshold: byteCount,
		SnapshotThreshold: snaps, Window: window, AllowedPrincipals: values.Strings(AllowedPrincipals),
	}
	if live {
		// A collector meets writers mid-stream: its first window of
		// history cannot tell a steady one from a burst.
		st.corr.WarmUp = window
	}
	// What is in effect: the shared elements, then AN0043's own shapes,
	// and the connection block with its defaults.
	var eff map[string]json.RawMessage
	_ = json.Unmarshal(values.JSON(), &eff)
	eff[ObjectWriteThreshold] = jsonOf(map[string]int64{"objects": objects, "bytes": byteCount})
	eff[InstanceTag] = jsonOf(tagList)
	eff[ConnectionKey] = jsonOf(st.conn)
	st.effect = jsonOf(eff)
	return st, nil
}

func asConfigError(err error, ce **sdk.ConfigError) bool {
	e, ok := err.(*sdk.ConfigError)
	if ok {
		*ce = e
	}
	return ok
}

// decodeThreshold reads 100, {objects: 100}, {bytes: "10GB"} or both.
func decodeThreshold(raw json.RawMessage) (objects, byteCount int64, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return DefaultObjects, 0, nil
	}
	if raw[0] != '{' {
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil || n < 1 {
			return 0, 0, fmt.Errorf("%s: expected a number of objects (1 or more) or {objects: N, bytes: N}", raw)
		}
		return n, 0, nil
	}
	var t struct {
		Objects *int64          `json:"objects"`
		Bytes   json.RawMessage `json:"bytes"`
	}
	if err := remote.Decode("", raw, &t); err != nil {
		return 0, 0, fmt.Errorf("%v (expected {objects: N, bytes: N})", err)
	}
	if t.Objects != nil {
		objects = *t.Objects
	}
	if len(t.Bytes) > 0 {
		if byteCount, err = parseBytes(t.Bytes); err != nil {
			return 0, 0, err
		}
	}
	if t.Objects == nil && len(t.Bytes) == 0 {
		objects = DefaultObjects
	}
	if objects < 0 || byteCount < 0 || (objects == 0 && byteCount == 0) {
		return 0, 0, fmt.Errorf("%s: objects or bytes must be above 0", raw)
	}
	return objects, byteCount, nil
}

var byteUnits = map[string]int64{"": 1, "b": 1, "kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30, "tb": 1 << 40, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}

func parseBytes(raw json.RawMessage) (int64, error) {
	s := strings.TrimSpace(strings.Trim(string(raw), `"`))
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	unit, ok := byteUnits[strings.ToLower(strings.TrimSpace(s[i:]))]
	if err != nil || !ok {
		return 0, fmt.Errorf("bytes: %s is not a size (a number of bytes, or 500MB, 10GB)", raw)
	}
	return n * unit, nil
}

// decodeTags reads ["key", "key=value"] or {key: value}.
func decodeTags(raw json.RawMessage) ([]correlate.TagRule, []string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, []string{}, nil
	}
	var list []string
	if raw[0] == '{' {
		var m map[string]string
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, nil, fmt.Errorf("%s: expected a map of tag keys to values or a list of key or key=value", raw)
		}
		for k, v := range m {
			list = append(list, k+"="+v)
		}
		sort.Strings(list)
	} else if err := json.Unmarshal(raw, &list); err != nil {
		return nil, nil, fmt.Errorf("%s: expected a list of key or key=value, or a map of keys to values", raw)
	}
	rules := make([]correlate.TagRule, 0, len(list))
	for _, s := range list {
		r, err := correlate.ParseTagRule(s)
		if err != nil {
			return nil, nil, err
		}
		rules = append(rules, r)
	}
	if list == nil {
		list = []string{}
	}
	return rules, list, nil
}

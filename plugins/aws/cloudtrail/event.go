package cloudtrail

import (
	"encoding/json"
	"regexp"
	"strings"
	"time"
)

// Kind is what an event does for data staging.
type Kind uint8

const (
	KindOther          Kind = iota
	KindObjectWrite         // an object written: PutObject, CopyObject, CompleteMultipartUpload
	KindObjectPart          // a part of a multipart upload: bytes, not an object
	KindObjectRead          // GetObject
	KindVolumeModify        // ModifyVolume
	KindVolumeCreate        // CreateVolume
	KindVolumeAttach        // AttachVolume
	KindSnapshotCreate      // CreateSnapshot(s), CopySnapshot, CreateImage, CopyImage
	KindShare               // snapshot, image or DB snapshot permission change
)

var kindNames = [...]string{"other", "object_write", "object_part", "object_read", "volume_modify", "volume_create", "volume_attach", "snapshot_create", "share"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "other"
}

// Event is one normalized CloudTrail event of interest to data staging:
// a row of staging_cloud_events and what the correlator reads.
type Event struct {
	Time      time.Time
	EventID   string
	RequestID string
	Account   string // the caller's account (userIdentity.accountId, else the recipient's)
	Region    string
	Source    string // eventSource: s3.amazonaws.com, ec2.amazonaws.com, rds.amazonaws.com
	Name      string // eventName
	Kind      Kind

	Principal     string // userIdentity.arn
	PrincipalType string // IAMUser, AssumedRole, AWSService, Root…
	Role          string // the role an assumed-role session is of
	Instance      string // i-… when the credentials are an EC2 instance role's
	AccessKey     string
	SourceIP      string
	VPCEndpoint   string
	UserAgent     string // brackets S3 adds removed
	InvokedBy     string // an AWS service acting for the principal
	ErrorCode     string

	Bucket      string
	Key         string
	BucketOwner string // the bucket's account when the record says it
	CopySource  string // CopyObject/UploadPartCopy: x-amz-copy-source, bucket/key
	Bytes       int64  // bytes transferred in (writes) or out (reads)

	Volume, Snapshot, Image string
	TargetInstance          string // the instance a volume is attached to, or an image/snapshots made from
	Size, OriginalSize      int64  // GiB: a volume's (target) size and, for ModifyVolume, what it was
	FromSnapshot            string // CreateVolume from a snapshot
	SharedWith              []string
	Public                  bool // shared with group "all"
}

// Resource is the event's resource as one string: s3://bucket/key, or the
// volume, snapshot or image id.
func (e *Event) Resource() string {
	switch {
	case e.Bucket != "":
		return "s3://" + e.Bucket + "/" + e.Key
	case e.Kind == KindVolumeModify || e.Kind == KindVolumeCreate || e.Kind == KindVolumeAttach:
		return e.Volume
	case e.Snapshot != "":
		return e.Snapshot
	case e.Image != "":
		return e.Image
	}
	return e.Volume
}

// ServiceActing reports whether an AWS service made the call for itself
// or on the principal's behalf: invokedBy, an AWSService identity, or a
// service-linked role.
func (e *Event) ServiceActing() bool {
	return e.InvokedBy != "" || e.PrincipalType == "AWSService" ||
		strings.Contains(e.Principal, ":role/aws-service-role/") ||
		strings.HasPrefix(e.Role, "AWSServiceRoleFor")
}

// instanceID is an EC2 instance id as it names a session.
var instanceID = regexp.MustCompile(`^i-[0-9a-zA-Z]{8,17}$`)

// Interesting reports whether a record's event name is one Normalize
// turns into an event; the others are skipped before their parameters
// are read.
func Interesting(name string) bool { _, ok := kinds[name]; return ok }

var kinds = map[string]Kind{
	"PutObject": KindObjectWrite, "CopyObject": KindObjectWrite, "CompleteMultipartUpload": KindObjectWrite,
	"UploadPart": KindObjectPart, "UploadPartCopy": KindObjectPart,
	"GetObject":    KindObjectRead,
	"ModifyVolume": KindVolumeModify, "CreateVolume": KindVolumeCreate, "AttachVolume": KindVolumeAttach,
	"CreateSnapshot": KindSnapshotCreate, "CreateSnapshots": KindSnapshotCreate, "CopySnapshot": KindSnapshotCreate,
	"CreateImage": KindSnapshotCreate, "CopyImage": KindSnapshotCreate,
	"ModifySnapshotAttribute": KindShare, "ModifyImageAttribute": KindShare,
	"ModifyDBSnapshotAttribute": KindShare, "ModifyDBClusterSnapshotAttribute": KindShare,
}

// Normalize turns a record into an Event; ok is false for a record of no
// interest to staging or one without a usable time.
func Normalize(r *Record) (*Event, bool) {
	kind, ok := kinds[r.EventName]
	if !ok {
		return nil, false
	}
	t, ok := r.Time()
	if !ok {
		return nil, false
	}
	id := &r.UserIdentity
	e := &Event{
		Time: t, EventID: r.EventID, RequestID: r.RequestID, Region: r.AWSRegion,
		Source: r.EventSource, Name: r.EventName, Kind: kind,
		Principal: id.ARN, PrincipalType: id.Type, AccessKey: id.AccessKeyID,
		SourceIP: r.SourceIPAddress, VPCEndpoint: r.VPCEndpointID, InvokedBy: id.InvokedBy,
		ErrorCode: r.ErrorCode, UserAgent: strings.TrimSuffix(strings.TrimPrefix(r.UserAgent, "["), "]"),
		Account: id.AccountID,
	}
	if e.Account == "" {
		e.Account = r.RecipientAccountID
	}
	if id.Type == "AssumedRole" {
		if i := strings.Index(id.ARN, ":assumed-role/"); i >= 0 {
			rest := id.ARN[i+len(":assumed-role/"):]
			if j := strings.LastIndexByte(rest, '/'); j >= 0 {
				e.Role = rest[:j]
				if s := rest[j+1:]; instanceID.MatchString(s) {
					e.Instance = s
				}
			}
		}
		if e.Role == "" {
			e.Role = id.SessionContext.SessionIssuer.UserName
		}
	}
	switch kind {
	case KindObjectWrite, KindObjectPart, KindObjectRead:
		normalizeObject(r, e)
	default:
		normalizeEC2(r, e)
	}
	return e, true
}

type s3Params struct {
	BucketName string `json:"bucketName"`
	Key        string `json:"key"`
	CopySource string `json:"x-amz-copy-source"`
}

type s3Data struct {
	In  flexInt `json:"bytesTransferredIn"`
	Out flexInt `json:"bytesTransferredOut"`
}

func normalizeObject(r *Record, e *Event) {
	if f := r.s3; f != nil {
		e.Bucket, e.Key, e.CopySource = f.bucket, f.key, strings.TrimPrefix(f.copySource, "/")
		e.Bytes = f.in
		if e.Kind == KindObjectRead {
			e.Bytes = f.out
		}
		objectResources(r, e)
		return
	}
	var p s3Params
	_ = json.Unmarshal(r.RequestParameters, &p)
	e.Bucket, e.Key = p.BucketName, p.Key
	e.CopySource = strings.TrimPrefix(p.CopySource, "/")
	var d s3Data
	_ = json.Unmarshal(r.AdditionalEventData, &d)
	if e.Kind == KindObjectRead {
		e.Bytes = int64(d.Out)
	} else {
		e.Bytes = int64(d.In)
	}
	objectResources(r, e)
}

// objectResources reads the bucket's owner (and the object, when the
// parameters did not name it) from a data event's resources.
func objectResources(r *Record, e *Event) {
	for _, res := range r.Resources {
		if res.Type == "AWS::S3::Bucket" && res.AccountID != "" {
			e.BucketOwner = res.AccountID
		}
		if e.Bucket == "" && res.Type == "AWS::S3::Object" {
			if b, k, ok := strings.Cut(strings.TrimPrefix(res.ARN, "arn:aws:s3:::"), "/"); ok {
				e.Bucket, e.Key = b, k
			}
		}
	}
}

// ec2Params holds every EC2 and RDS request field the staging calls use.
type ec2Params struct {
	VolumeID              string        `json:"volumeId"`
	InstanceID            string        `json:"instanceId"`
	SnapshotID            string        `json:"snapshotId"`
	SourceSnapshotID      string        `json:"sourceSnapshotId"`
	ImageID               string        `json:"imageId"`
	SourceImageID         string        `json:"sourceImageId"`
	Size                  flexInt       `json:"size"`
	ModifyVolumeRequest   *modifyVolume `json:"ModifyVolumeRequest"`
	CreateVolumePerm      *permission   `json:"createVolumePermission"`
	LaunchPermission      *permission   `json:"launchPermission"`
	InstanceSpecification struct {
		InstanceID string `json:"instanceId"`
	} `json:"instanceSpecification"`
	DBSnapshot        string   `json:"dBSnapshotIdentifier"`
	DBClusterSnapshot string   `json:"dBClusterSnapshotIdentifier"`
	AttributeName     string   `json:"attributeName"`
	ValuesToAdd       []string `json:"valuesToAdd"`
}

type modifyVolume struct {
	VolumeID string  `json:"VolumeId"`
	Size     flexInt `json:"Size"`
}

type permission struct {
	Add *struct {
		Items []struct {
			UserID string `json:"userId"`
			Group  string `json:"group"`
		} `json:"items"`
	} `json:"add"`
}

type ec2Response struct {
	VolumeID             string  `json:"volumeId"`
	SnapshotID           string  `json:"snapshotId"`
	ImageID              string  `json:"imageId"`
	InstanceID           string  `json:"instanceId"`
	Size                 flexInt `json:"size"`
	ModifyVolumeResponse *struct {
		VolumeModification struct {
			VolumeID     string  `json:"volumeId"`
			TargetSize   flexInt `json:"targetSize"`
			OriginalSize flexInt `json:"originalSize"`
		} `json:"volumeModification"`
	} `json:"ModifyVolumeResponse"`
	VolumeModification *struct {
		VolumeID     string  `json:"volumeId"`
		TargetSize   flexInt `json:"targetSize"`
		OriginalSize flexInt `json:"originalSize"`
	} `json:"volumeModification"`
	SnapshotSet struct {
		Items []struct {
			SnapshotID string `json:"snapshotId"`
		} `json:"items"`
	} `json:"snapshotSet"`
}

func normalizeEC2(r *Record, e *Event) {
	var p ec2Params
	_ = json.Unmarshal(r.RequestParameters, &p)
	var resp ec2Response
	_ = json.Unmarshal(r.ResponseElements, &resp)
	switch r.EventName {
	case "ModifyVolume":
		e.Volume, e.Size = p.VolumeID, int64(p.Size)
		if m := p.ModifyVolumeRequest; m != nil {
			e.Volume, e.Size = m.VolumeID, int64(m.Size)
		}
		mod := resp.VolumeModification
		if resp.ModifyVolumeResponse != nil {
			mod = &resp.ModifyVolumeResponse.VolumeModification
		}
		if mod != nil {
			if mod.TargetSize > 0 {
				e.Size = int64(mod.TargetSize)
			}
			e.OriginalSize = int64(mod.OriginalSize)
			if e.Volume == "" {
				e.Volume = mod.VolumeID
			}
		}
	case "CreateVolume":
		e.Volume, e.Size, e.FromSnapshot = resp.VolumeID, int64(resp.Size), p.SnapshotID
		if e.Size == 0 {
			e.Size = int64(p.Size)
		}
	case "AttachVolume":
		e.Volume, e.TargetInstance = p.VolumeID, p.InstanceID
	case "CreateSnapshot":
		e.Volume, e.Snapshot = p.VolumeID, resp.SnapshotID
	case "CreateSnapshots":
		e.TargetInstance = p.InstanceSpecification.InstanceID
		if len(resp.SnapshotSet.Items) > 0 {
			e.Snapshot = resp.SnapshotSet.Items[0].SnapshotID
		}
	case "CopySnapshot":
		e.Snapshot = resp.SnapshotID
		if e.Snapshot == "" {
			e.Snapshot = p.SourceSnapshotID
		}
	case "CreateImage", "CopyImage":
		e.Image, e.TargetInstance = resp.ImageID, p.InstanceID
		if e.Image == "" {
			e.Image = p.SourceImageID
		}
	case "ModifySnapshotAttribute":
		e.Snapshot = p.SnapshotID
		sharedWith(e, p.CreateVolumePerm)
	case "ModifyImageAttribute":
		e.Image = p.ImageID
		sharedWith(e, p.LaunchPermission)
	case "ModifyDBSnapshotAttribute", "ModifyDBClusterSnapshotAttribute":
		e.Snapshot = p.DBSnapshot
		if e.Snapshot == "" {
			e.Snapshot = p.DBClusterSnapshot
		}
		if p.AttributeName == "restore" {
			for _, v := range p.ValuesToAdd {
				if v == "all" {
					e.Public = true
				} else {
					e.SharedWith = append(e.SharedWith, v)
				}
			}
		}
	}
}

// sharedWith reads a permission's additions; a removal adds nothing.
func sharedWith(e *Event, p *permission) {
	if p == nil || p.Add == nil {
		return
	}
	for _, it := range p.Add.Items {
		switch {
		case it.Group == "all":
			e.Public = true
		case it.UserID != "":
			e.SharedWith = append(e.SharedWith, it.UserID)
		}
	}
}

// Package cloudtrail reads AWS CloudTrail records as they really arrive —
// delivery files ({"Records":[…]}, gzip-compressed or not), JSON arrays of
// events (event-history exports, detonation logs), JSON lines, and
// LookupEvents answers, whose records are escaped JSON strings — and
// normalizes the ones data staging is made of (object writes and reads,
// volume, snapshot and image calls, sharing) into Events. It is pure:
// bytes in, events out; collection is elsewhere.
package cloudtrail

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Record is one CloudTrail record, the fields staging needs. Parameters
// and responses stay raw until the event's name says they matter.
type Record struct {
	EventVersion        string          `json:"eventVersion"`
	UserIdentity        Identity        `json:"userIdentity"`
	EventTime           string          `json:"eventTime"`
	EventSource         string          `json:"eventSource"`
	EventName           string          `json:"eventName"`
	AWSRegion           string          `json:"awsRegion"`
	SourceIPAddress     string          `json:"sourceIPAddress"`
	UserAgent           string          `json:"userAgent"`
	ErrorCode           string          `json:"errorCode"`
	RequestParameters   json.RawMessage `json:"requestParameters"`
	ResponseElements    json.RawMessage `json:"responseElements"`
	AdditionalEventData json.RawMessage `json:"additionalEventData"`
	RequestID           string          `json:"requestID"`
	EventID             string          `json:"eventID"`
	ReadOnly            flexBool        `json:"readOnly"`
	Resources           []Resource      `json:"resources"`
	EventType           string          `json:"eventType"`
	RecipientAccountID  string          `json:"recipientAccountId"`
	SharedEventID       string          `json:"sharedEventID"`
	VPCEndpointID       string          `json:"vpcEndpointId"`
	EventCategory       string          `json:"eventCategory"`

	// s3 holds an S3 object call's fields, read while parsing.
	s3 *s3Fields
}

type s3Fields struct {
	bucket, key, copySource string
	in, out                 int64
}

// Identity is the record's userIdentity.
type Identity struct {
	Type           string         `json:"type"`
	PrincipalID    string         `json:"principalId"`
	ARN            string         `json:"arn"`
	AccountID      string         `json:"accountId"`
	AccessKeyID    string         `json:"accessKeyId"`
	UserName       string         `json:"userName"`
	InvokedBy      string         `json:"invokedBy"`
	SessionContext SessionContext `json:"sessionContext"`
}

// SessionContext is a temporary session's issuer and, for instance
// credentials, the delivery of the instance role.
type SessionContext struct {
	SessionIssuer struct {
		Type      string `json:"type"`
		ARN       string `json:"arn"`
		AccountID string `json:"accountId"`
		UserName  string `json:"userName"`
	} `json:"sessionIssuer"`
	EC2RoleDelivery string `json:"ec2RoleDelivery"`
	SourceIdentity  string `json:"sourceIdentity"`
}

// Resource is one entry of a data event's resources.
type Resource struct {
	Type      string `json:"type"`
	ARN       string `json:"ARN"`
	AccountID string `json:"accountId"`
}

// Time parses eventTime (RFC 3339, as CloudTrail writes it).
func (r *Record) Time() (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, r.EventTime)
	return t, err == nil
}

// flexBool reads true, false, "true" and "false": exports differ.
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	*b = flexBool(bytes.Equal(bytes.Trim(data, `"`), []byte("true")))
	return nil
}

// flexInt reads a number written as a JSON number or as a string (EC2
// writes CreateVolume's size as "1", ModifyVolume's as 200).
type flexInt int64

func (n *flexInt) UnmarshalJSON(data []byte) error {
	s := strings.Trim(string(data), `"`)
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		*n = flexInt(v)
		return nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		*n = flexInt(int64(f))
	}
	return nil
}

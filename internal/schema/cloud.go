package schema

import "github.com/stagewatch/stagewatch/plugins/sdk"

// CloudEvents is the table of the cloud analytics' normalized API events.
const CloudEvents = "staging_cloud_events"

// CloudEventsTable is staging_cloud_events: the CloudTrail events an
// analytic correlated (object writes and reads, volume, snapshot, image
// and sharing calls), normalized.
var CloudEventsTable = sdk.TableSpec{
	Name:        CloudEvents,
	Description: "Cloud API events of interest to data staging (object writes and reads, volume, snapshot, image and sharing calls), normalized from CloudTrail.",
	Columns: []sdk.ColumnSpec{
		bigint("time", "Event time (eventTime), unix seconds"),
		text("analytic_id", "Analytic that collected the event (AN0043)"),
		text("platform", "aws"),
		text("account", "Account of the caller (userIdentity.accountId, else recipientAccountId)"),
		text("region", "awsRegion"),
		text("principal", "Caller's ARN (userIdentity.arn)"),
		text("principal_type", "IAMUser, AssumedRole, Root, AWSService, …"),
		text("instance_id", "EC2 instance whose role credentials made the call (assumed-role/ROLE/i-…), or empty"),
		text("source_ip", "sourceIPAddress"),
		text("vpc_endpoint", "vpcEndpointId, or empty"),
		text("user_agent", "userAgent, the brackets S3 adds removed"),
		text("event_source", "eventSource: s3.amazonaws.com, ec2.amazonaws.com, rds.amazonaws.com"),
		text("event_name", "eventName"),
		text("category", "object_write, object_part, object_read, volume_modify, volume_create, volume_attach, snapshot_create, share"),
		text("resource", "s3://bucket/key, or the volume, snapshot or image id"),
		text("copy_source", "CopyObject/UploadPartCopy source (x-amz-copy-source), or empty"),
		text("target", "Instance attached to or imaged, account(s) shared with or \"public\", or empty"),
		bigint("bytes", "Bytes transferred in (writes) or out (reads), 0 when not said"),
		bigint("size_gib", "Volume size (target size for ModifyVolume), GiB, 0 when not said"),
		text("error_code", "errorCode of a failed call, or empty"),
		text("invoked_by", "AWS service that made the call on the principal's behalf, or empty"),
		text("request_id", "requestID"),
		text("event_id", "eventID, the dedupe key"),
	},
}

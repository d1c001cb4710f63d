#!/usr/bin/env python3
"""Writes AN0043's replay fixtures: labelled true-positive and benign
scenarios in the shapes CloudTrail really delivers (record layouts as AWS
documents them and as the shared corpus shows: S3 data events with
bracketed user agents, bytesTransferredIn and resources with the bucket
owner; ModifyVolume's ModifyVolumeRequest/ModifyVolumeResponse; sharing
calls with add and remove; LookupEvents answers with CloudTrailEvent as an
escaped string). Records are shuffled, as delivery files are unsorted.
Deterministic: run it again and nothing changes.

    python3 plugins/aws/testdata/gen_fixtures.py
"""
import gzip, json, os, random, uuid
from datetime import datetime, timedelta, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
ACCT, OTHER = "111122223333", "444455556666"
T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=timezone.utc)
rng = random.Random(43)


def uid():
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def instance_identity(role, inst):
    return {"type": "AssumedRole", "principalId": "AROAQXAMPLEROLEID:" + inst,
            "arn": f"arn:aws:sts::{ACCT}:assumed-role/{role}/{inst}", "accountId": ACCT,
            "accessKeyId": "ASIAQXAMPLE" + inst[-6:].upper(),
            "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAQXAMPLEROLEID",
                                                 "arn": f"arn:aws:iam::{ACCT}:role/{role}", "accountId": ACCT, "userName": role},
                               "attributes": {"creationDate": ts(T0 - timedelta(hours=2)), "mfaAuthenticated": "false"},
                               "ec2RoleDelivery": "2.0"}}


def user_identity(name):
    return {"type": "IAMUser", "principalId": "AIDAQXAMPLE" + name.upper()[:6], "arn": f"arn:aws:iam::{ACCT}:user/{name}",
            "accountId": ACCT, "accessKeyId": "AKIAQXAMPLE" + name.upper()[:6], "userName": name}


def base(t, ident, source, name, ip, ua, region="us-east-1"):
    return {"eventVersion": "1.09", "userIdentity": ident, "eventTime": ts(t), "eventSource": source, "eventName": name,
            "awsRegion": region, "sourceIPAddress": ip, "userAgent": ua, "requestID": uid().replace("-", "")[:16].upper(),
            "eventID": uid(), "eventType": "AwsApiCall", "recipientAccountId": ACCT}


def s3(t, ident, name, bucket, key, ip, owner=ACCT, size=0, copy_source=None, vpce=None,
       ua="[aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79-99.167.amzn2023.x86_64 exe/x86_64.amzn.2023 prompt/off command/s3.cp]"):
    r = base(t, ident, "s3.amazonaws.com", name, ip, ua)
    r["requestParameters"] = {"bucketName": bucket, "Host": f"{bucket}.s3.us-east-1.amazonaws.com", "key": key}
    if copy_source:
        r["requestParameters"]["x-amz-copy-source"] = copy_source
    if name == "UploadPart":
        r["requestParameters"].update({"partNumber": "1", "uploadId": "upl-" + key[-4:]})
    r["responseElements"] = None if name == "GetObject" else {"x-amz-server-side-encryption": "AES256"}
    r["additionalEventData"] = {"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256",
                                "bytesTransferredIn": 0 if name == "GetObject" else size,
                                "bytesTransferredOut": size if name == "GetObject" else 0,
                                "AuthenticationMethod": "AuthHeader", "x-amz-id-2": "EXAMPLEid2" + key[-4:]}
    r["readOnly"] = name == "GetObject"
    r["resources"] = [{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
                      {"accountId": owner, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}]
    r["managementEvent"], r["eventCategory"] = False, "Data"
    if vpce:
        r["vpcEndpointId"] = vpce
    if owner != ACCT:
        r["sharedEventID"] = uid()
    return r


def ec2(t, ident, name, params, resp, ip="203.0.113.10", ua="aws-cli/2.15.30 md/command#ec2.x", source="ec2.amazonaws.com"):
    r = base(t, ident, source, name, ip, ua)
    r["requestParameters"], r["responseElements"] = params, resp
    r["readOnly"], r["managementEvent"], r["eventCategory"] = False, True, "Management"
    return r


def write(name, records, shape="records"):
    recs = list(records)
    rng.shuffle(recs)
    path = os.path.join(HERE, name)
    if shape == "records":
        data = json.dumps({"Records": recs}, separators=(",", ":"))
    elif shape == "array":
        data = json.dumps(recs, indent=1)
    elif shape == "lines":
        data = "\n".join(json.dumps(r, separators=(",", ":")) for r in recs) + "\n"
    elif shape == "lookup":
        data = json.dumps({"Events": [{"EventId": r["eventID"], "EventName": r["eventName"], "ReadOnly": "false",
                                       "EventTime": r["eventTime"], "EventSource": r["eventSource"],
                                       "Username": r["userIdentity"].get("userName", ""),
                                       "Resources": [], "CloudTrailEvent": json.dumps(r)} for r in recs]}, indent=1)
    if name.endswith(".gz"):
        with gzip.GzipFile(path, "wb", mtime=0) as f:
            f.write(data.encode())
    else:
        with open(path, "w") as f:
            f.write(data)


INST, ROLE, IP = "i-0a1b2c3d4e5f67890", "app-server-role", "203.0.113.10"
web = instance_identity(ROLE, INST)

# TP: an instance role copies 120 objects (plus a multipart upload of
# five parts) within six minutes to a bucket owned by another account.
recs = []
for i in range(120):
    t = T0 + timedelta(seconds=3 * i)
    if i % 4 == 0:
        recs.append(s3(t, web, "CopyObject", "partner-dropbox-7731", f"export/hr/{i:04d}.csv", IP, owner=OTHER,
                       copy_source=f"corp-hr-records/2026/{i:04d}.csv"))
    else:
        recs.append(s3(t, web, "PutObject", "partner-dropbox-7731", f"export/db/{i:04d}.parquet", IP, owner=OTHER, size=8 << 20))
for p in range(5):
    recs.append(s3(T0 + timedelta(seconds=370 + p), web, "UploadPart", "partner-dropbox-7731", "export/dump.tar.zst", IP, owner=OTHER, size=64 << 20))
recs.append(s3(T0 + timedelta(seconds=380), web, "CompleteMultipartUpload", "partner-dropbox-7731", "export/dump.tar.zst", IP, owner=OTHER))
write("tp-instance-burst-cross-account.json.gz", recs)

# TP: the instance's credentials, used on the instance through its VPC
# endpoint, are then used from an address outside AWS to read objects.
recs = []
for i in range(5):
    recs.append(s3(T0 + timedelta(seconds=10 * i), web, "GetObject", "corp-app-config", f"conf/{i}.yaml", "10.0.12.34", vpce="vpce-0abc1234def567890", size=2048))
for i in range(3):
    recs.append(s3(T0 + timedelta(minutes=30, seconds=i), web, "GetObject", "corp-app-config", f"secrets/{i}.env", "198.51.100.77", size=4096,
                   ua="[Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.5.0 md/arch#x86_64 lang/python#3.12.2]"))
write("tp-credentials-outside.jsonl", recs, "lines")

# TP: a volume attached to the instance is grown from 8 to 500 GiB, then
# the instance writes 40 objects: room made, then data moved.
admin = user_identity("ops-admin")
VOL = "vol-0123456789abcdef0"
recs = [ec2(T0 - timedelta(hours=1), admin, "AttachVolume", {"volumeId": VOL, "instanceId": INST, "device": "/dev/sdf"},
            {"requestId": uid(), "volumeId": VOL, "instanceId": INST, "device": "/dev/sdf", "status": "attaching", "attachTime": 1772437200000, "deleteOnTermination": False}),
        ec2(T0, admin, "ModifyVolume", {"ModifyVolumeRequest": {"VolumeId": VOL, "Size": 500}},
            {"ModifyVolumeResponse": {"xmlns": "http://ec2.amazonaws.com/doc/2016-11-15/", "requestId": uid(),
                                      "volumeModification": {"modificationState": "modifying", "volumeId": VOL, "targetVolumeType": "gp3",
                                                             "originalVolumeType": "gp3", "targetSize": 500, "originalSize": 8,
                                                             "targetIops": 3000, "originalIops": 3000, "progress": 0, "startTime": ts(T0)}}})]
for i in range(40):
    recs.append(s3(T0 + timedelta(minutes=5, seconds=5 * i), web, "PutObject", "corp-app-artifacts", f"tmp/blob-{i:03d}", IP, size=50 << 20))
write("tp-volume-expansion-then-writes.json", recs, "array")

# TP: a new volume from another instance's snapshot, attached to the
# instance minutes later.
recs = [ec2(T0, admin, "CreateVolume", {"size": "200", "zone": "us-east-1a", "snapshotId": "snap-0fedcba9876543210", "volumeType": "gp3"},
            {"requestId": uid(), "volumeId": "vol-0aaaabbbbccccdddd", "size": "200", "zone": "us-east-1a", "status": "creating",
             "createTime": 1772442000000, "volumeType": "gp3", "snapshotId": "snap-0fedcba9876543210", "encrypted": False}),
        ec2(T0 + timedelta(minutes=3), admin, "AttachVolume", {"volumeId": "vol-0aaaabbbbccccdddd", "instanceId": INST, "device": "/dev/sdg"},
            {"requestId": uid(), "volumeId": "vol-0aaaabbbbccccdddd", "instanceId": INST, "device": "/dev/sdg", "status": "attaching",
             "attachTime": 1772442180000, "deleteOnTermination": False})]
write("tp-new-volume-attached.json", recs)

# TP: seven snapshots by one user in ten minutes, then one shared
# publicly.
snapper = user_identity("contractor-7")
recs = []
for i in range(7):
    v, s = f"vol-0{i:016x}", f"snap-0{i + 10:016x}"
    recs.append(ec2(T0 + timedelta(minutes=i * 1.5), snapper, "CreateSnapshot", {"volumeId": v},
                    {"requestId": uid(), "snapshotId": s, "volumeId": v, "status": "pending", "startTime": 1772442000000, "ownerId": ACCT, "volumeSize": 100}))
recs.append(ec2(T0 + timedelta(minutes=12), snapper, "ModifySnapshotAttribute",
                {"snapshotId": "snap-0000000000000000a", "createVolumePermission": {"add": {"items": [{"group": "all"}]}}, "attributeType": "CREATE_VOLUME_PERMISSION"},
                {"requestId": uid(), "_return": True}))
write("tp-snapshot-burst-public-share.json", recs, "array")

# TP, as LookupEvents answers: an image shared with another account.
recs = [ec2(T0, snapper, "ModifyImageAttribute",
            {"imageId": "ami-0123456789abcdef0", "launchPermission": {"add": {"items": [{"userId": OTHER}]}}, "attributeType": "launchPermission"},
            {"requestId": uid(), "_return": True})]
write("tp-lookup-events-image-share.json", recs, "lookup")

# Benign: a log shipper on an instance writes about 60 objects per 15
# minutes for two hours to its own bucket; one window reaches 110: a
# steady writer, not a burst.
shipper = instance_identity("log-shipper-role", "i-0ffffeeeeddddcccc")
recs = []
for w in range(8):
    n = 110 if w == 5 else 60
    for i in range(n):
        recs.append(s3(T0 + timedelta(minutes=15 * w, seconds=i * (890 // n)), shipper, "PutObject", "corp-logs-archive",
                       f"fluent-bit/{w}/{i:04d}.gz", "203.0.113.50", size=256 << 10, ua="[fluent-bit/2.2.2]"))
# CI, an IAM user, publishes 300 artifacts to its own bucket.
ci = user_identity("ci-publisher")
for i in range(300):
    recs.append(s3(T0 + timedelta(seconds=i), ci, "PutObject", "corp-build-artifacts", f"releases/1.4.2/{i:04d}.whl", "198.51.100.5", size=1 << 20,
                   ua="[aws-sdk-go-v2/1.30.0 os/linux lang/go#1.22 md/GOOS#linux md/GOARCH#amd64 api/s3#1.58.0]"))
# CloudTrail itself delivering files (an AWS service acting for itself).
svc = {"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"}
for i in range(200):
    r = s3(T0 + timedelta(seconds=i), svc, "PutObject", "corp-trail-bucket", f"AWSLogs/{ACCT}/CloudTrail/us-east-1/2026/03/02/{i}.json.gz", "cloudtrail.amazonaws.com", ua="cloudtrail.amazonaws.com")
    recs.append(r)
# AWS Backup's role snapshots twenty volumes; a denied snapshot burst.
backup = {"type": "AssumedRole", "principalId": "AROAQXAMPLEBACKUP:AWSBackup-AWSBackupDefaultServiceRole",
          "arn": f"arn:aws:sts::{ACCT}:assumed-role/AWSBackupDefaultServiceRole/AWSBackup-AWSBackupDefaultServiceRole", "accountId": ACCT,
          "invokedBy": "backup.amazonaws.com"}
for i in range(20):
    recs.append(ec2(T0 + timedelta(seconds=20 * i), backup, "CreateSnapshot", {"volumeId": f"vol-0b{i:015x}"},
                    {"requestId": uid(), "snapshotId": f"snap-0b{i:015x}", "volumeId": f"vol-0b{i:015x}", "status": "pending"}, ip="backup.amazonaws.com", ua="backup.amazonaws.com"))
for i in range(10):
    r = ec2(T0 + timedelta(seconds=5 * i), snapper, "CreateSnapshot", {"volumeId": f"vol-0d{i:015x}"}, None)
    r["errorCode"], r["errorMessage"] = "Client.UnauthorizedOperation", "You are not authorized to perform this operation."
    recs.append(r)
# A volume changed in type but not size; a share removed; a share with
# the account itself.
recs.append(ec2(T0, admin, "ModifyVolume", {"ModifyVolumeRequest": {"VolumeId": VOL, "VolumeType": "gp3"}},
                {"ModifyVolumeResponse": {"volumeModification": {"volumeId": VOL, "targetSize": 8, "originalSize": 8, "targetVolumeType": "gp3", "originalVolumeType": "gp2"}}}))
recs.append(ec2(T0, admin, "ModifySnapshotAttribute",
                {"snapshotId": "snap-0c0c0c0c0c0c0c0c0", "createVolumePermission": {"remove": {"items": [{"userId": OTHER}]}}, "attributeType": "CREATE_VOLUME_PERMISSION"},
                {"requestId": uid(), "_return": True}))
recs.append(ec2(T0, admin, "ModifyImageAttribute",
                {"imageId": "ami-0c0c0c0c0c0c0c0c0", "launchPermission": {"add": {"items": [{"userId": ACCT}]}}, "attributeType": "launchPermission"},
                {"requestId": uid(), "_return": True}))
write("benign-steady-ci-service-backup.json.gz", recs)

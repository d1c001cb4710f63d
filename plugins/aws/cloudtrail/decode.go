package cloudtrail

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/valyala/fastjson"
)

// Stats are what one Decode read.
type Stats struct {
	Records     uint64 // records read, those of no interest included
	Skipped     uint64 // records of no interest to staging, counted, not parsed
	ParseErrors uint64
	FirstError  string
}

func (s *Stats) fail(format string, args ...any) {
	s.ParseErrors++
	if s.FirstError == "" {
		s.FirstError = fmt.Sprintf(format, args...)
	}
}

// LooksLike reports whether head (the start of an input, decompressed)
// is CloudTrail JSON in one of the shapes Decode reads.
func LooksLike(head []byte) bool {
	head = bytes.TrimLeft(head, " \t\r\n\ufeff")
	if len(head) == 0 || (head[0] != '{' && head[0] != '[') {
		return false
	}
	for _, k := range [][]byte{[]byte(`"Records"`), []byte(`"eventName"`), []byte(`"eventSource"`), []byte(`"CloudTrailEvent"`), []byte(`"eventVersion"`)} {
		if bytes.Contains(head, k) {
			return true
		}
	}
	return false
}

// Gzip's magic number.
var gzipMagic = []byte{0x1f, 0x8b}

// Decode reads CloudTrail JSON from r, gzip-compressed or not, in the
// shape its content shows: a delivery file ({"Records":[…]}), a
// LookupEvents answer ({"Events":[…]}, each record the escaped string
// CloudTrailEvent), a JSON array of records or events, or one per line.
// fn gets each record of interest to staging (Interesting); it may keep
// it. The others are counted, not parsed: a trail with data events is
// mostly calls no staging is made of, and their names are found without
// parsing them. A malformed record is counted and skipped; a malformed
// file ends it.
func Decode(r io.Reader, fn func(*Record)) (Stats, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if magic, _ := br.Peek(2); bytes.Equal(magic, gzipMagic) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return Stats{}, err
		}
		defer zr.Close()
		return decodeJSON(zr, fn)
	}
	return decodeJSON(br, fn)
}

func decodeJSON(r io.Reader, fn func(*Record)) (Stats, error) {
	d := &decoder{s: scanner{r: r, buf: make([]byte, 0, 256<<10)}, fn: fn}
	err := d.run()
	return d.st, err
}

type decoder struct {
	s  scanner
	p  fastjson.Parser
	st Stats
	fn func(*Record)
	// events is whether elements are LookupEvents events (their record
	// the string CloudTrailEvent) rather than records: said by the
	// wrapper's key, else by the first element.
	events, known bool
}

func (d *decoder) run() error {
	c, ok := d.s.skipWS()
	if !ok {
		return d.s.readErr()
	}
	if c == 0xef { // a UTF-8 byte-order mark
		d.s.pos += 3
		if c, ok = d.s.skipWS(); !ok {
			return d.s.readErr()
		}
	}
	switch c {
	case '[':
		d.s.pos++
		return d.elements()
	case '{':
		key, err := d.s.firstKey()
		if err != nil {
			return err
		}
		if recordKeys[key] {
			return d.values()
		}
		return d.wrapper()
	}
	return fmt.Errorf("not CloudTrail JSON: starts with %q", c)
}

// elements reads an array's elements, its '[' read, through its ']'.
func (d *decoder) elements() error {
	for {
		c, ok := d.s.skipWS()
		if !ok {
			return io.ErrUnexpectedEOF
		}
		switch c {
		case ']':
			d.s.pos++
			return nil
		case ',':
			d.s.pos++
			continue
		}
		end, err := d.s.valueEnd()
		if err != nil {
			return err
		}
		d.element(d.s.buf[d.s.pos:end])
		d.s.pos = end
		d.s.compact()
	}
}

// wrapper reads {"Records":[…]} or {"Events":[…]}, other keys skipped.
func (d *decoder) wrapper() error {
	d.s.pos++ // '{'
	for {
		c, ok := d.s.skipWS()
		if !ok {
			return io.ErrUnexpectedEOF
		}
		switch c {
		case '}':
			d.s.pos++
			return nil
		case ',':
			d.s.pos++
			continue
		case '"':
		default:
			return fmt.Errorf("malformed object: %q where a key belongs", c)
		}
		end, err := d.s.valueEnd()
		if err != nil {
			return err
		}
		key := string(d.s.buf[d.s.pos+1 : end-1])
		d.s.pos = end
		if c, ok = d.s.skipWS(); !ok || c != ':' {
			return fmt.Errorf("malformed object: no ':' after %q", key)
		}
		d.s.pos++
		c, ok = d.s.skipWS()
		if !ok {
			return io.ErrUnexpectedEOF
		}
		if (key == "Records" || key == "Events") && c == '[' {
			d.events, d.known = key == "Events", true
			d.s.pos++
			if err := d.elements(); err != nil {
				return err
			}
			continue
		}
		if end, err = d.s.valueEnd(); err != nil {
			return err
		}
		d.s.pos = end
	}
}

// values reads JSON lines, or objects one after another however laid
// out. When the first record is one line, each line is a record of its
// own: one that is not JSON is counted and the next line read.
func (d *decoder) values() error {
	if d.s.pos < len(d.s.buf) {
		if end, err := d.s.valueEnd(); err == nil && bytes.IndexByte(d.s.buf[d.s.pos:end], '\n') < 0 {
			return d.lines()
		}
	}
	for {
		c, ok := d.s.skipWS()
		if !ok {
			return d.s.readErr()
		}
		if c != '{' {
			// Not a record: skip the line.
			d.st.fail("line of no record at byte %d", d.s.consumed+d.s.pos)
			if !d.s.skipLine() {
				return d.s.readErr()
			}
			continue
		}
		end, err := d.s.valueEnd()
		if err != nil {
			d.st.fail("truncated record: %v", err)
			return nil
		}
		d.element(d.s.buf[d.s.pos:end])
		d.s.pos = end
		d.s.compact()
	}
}

// lines reads one record or event per line.
func (d *decoder) lines() error {
	for {
		line, ok := d.s.line()
		if len(bytes.TrimSpace(line)) > 0 {
			d.element(bytes.TrimSpace(line))
		}
		d.s.compact()
		if !ok {
			return d.s.readErr()
		}
	}
}

// recordKeys are the keys a record or a LookupEvents event may start
// with: an object starting with another is a wrapper whose Records or
// Events key comes later.
var recordKeys = map[string]bool{}

func init() {
	for _, k := range []string{"eventVersion", "userIdentity", "eventTime", "eventSource", "eventName", "awsRegion", "sourceIPAddress",
		"userAgent", "errorCode", "errorMessage", "requestParameters", "responseElements", "additionalEventData", "requestID", "eventID",
		"readOnly", "resources", "eventType", "managementEvent", "recipientAccountId", "sharedEventID", "vpcEndpointId", "eventCategory",
		"tlsDetails", "sessionCredentialFromConsole", "apiVersion", "serviceEventDetails",
		"EventId", "EventName", "ReadOnly", "AccessKeyId", "EventTime", "EventSource", "Username", "Resources", "CloudTrailEvent"} {
		recordKeys[k] = true
	}
}

var cloudTrailEventKey = []byte(`"CloudTrailEvent"`)

// element handles one array element or line: a record, or a LookupEvents
// event carrying its record as a string.
func (d *decoder) element(b []byte) {
	if !d.known {
		d.events, d.known = bytes.Contains(b, cloudTrailEventKey), true
	}
	if d.events {
		v, err := d.p.ParseBytes(b)
		if err != nil {
			d.st.fail("event %d: %v", d.st.Records+d.st.ParseErrors+1, err)
			return
		}
		inner := v.GetStringBytes("CloudTrailEvent")
		if inner == nil {
			d.st.fail("event %d: CloudTrailEvent is not a string", d.st.Records+d.st.ParseErrors+1)
			return
		}
		b = append([]byte(nil), inner...)
	}
	d.record(b)
}

func (d *decoder) record(b []byte) {
	name, ok := eventName(b)
	if !ok {
		d.st.fail("record %d: no eventName", d.st.Records+d.st.ParseErrors+1)
		return
	}
	if !Interesting(name) {
		d.st.Records++
		d.st.Skipped++
		return
	}
	rec, err := parseRecord(&d.p, b)
	if err != nil {
		d.st.fail("record %d: %v", d.st.Records+d.st.ParseErrors+1, err)
		return
	}
	d.st.Records++
	d.fn(rec)
}

var eventNameKey = []byte(`"eventName"`)

// eventName finds a record's eventName without parsing it: the first
// "eventName" key. CloudTrail writes it before the parameters and
// responses where a nested key of that name could be (delivery files put
// it fourth, exports sort keys and additionalEventData, before it, holds
// none), so the first is the record's own.
func eventName(b []byte) (string, bool) {
	for i := 0; ; {
		j := bytes.Index(b[i:], eventNameKey)
		if j < 0 {
			return "", false
		}
		i += j + len(eventNameKey)
		k := i
		for k < len(b) && (b[k] == ' ' || b[k] == '\t' || b[k] == '\n' || b[k] == '\r') {
			k++
		}
		if k >= len(b) || b[k] != ':' {
			continue // the string "eventName" as a value
		}
		k++
		for k < len(b) && (b[k] == ' ' || b[k] == '\t' || b[k] == '\n' || b[k] == '\r') {
			k++
		}
		if k >= len(b) || b[k] != '"' {
			return "", false
		}
		end := bytes.IndexByte(b[k+1:], '"')
		if end < 0 {
			return "", false
		}
		return string(b[k+1 : k+1+end]), true
	}
}

// ParseRecord parses one record (a LookupEvents CloudTrailEvent string,
// a line).
func ParseRecord(b []byte) (*Record, error) {
	var p fastjson.Parser
	return parseRecord(&p, b)
}

func parseRecord(p *fastjson.Parser, b []byte) (*Record, error) {
	v, err := p.ParseBytes(b)
	if err != nil {
		return nil, err
	}
	if v.Type() != fastjson.TypeObject {
		return nil, errors.New("not an object")
	}
	r := recordOf(v)
	if r.EventName == "" || r.EventTime == "" {
		return nil, errors.New("no eventName or eventTime")
	}
	return r, nil
}

func str(v *fastjson.Value, keys ...string) string {
	if b := v.GetStringBytes(keys...); b != nil {
		return string(b)
	}
	return ""
}

func rawOf(v *fastjson.Value, key string) json.RawMessage {
	x := v.Get(key)
	if x == nil || x.Type() == fastjson.TypeNull {
		return nil
	}
	return x.MarshalTo(nil)
}

// intOf reads a number written as a number or a string.
func intOf(v *fastjson.Value, keys ...string) int64 {
	x := v.Get(keys...)
	if x == nil {
		return 0
	}
	if x.Type() == fastjson.TypeString {
		var n flexInt
		_ = n.UnmarshalJSON(x.GetStringBytes())
		return int64(n)
	}
	return int64(x.GetFloat64())
}

// recordOf fills a Record from a parsed record; S3 object calls' few
// fields are read here at once, the rest kept raw for Normalize.
func recordOf(v *fastjson.Value) *Record {
	r := &Record{
		EventVersion: str(v, "eventVersion"), EventTime: str(v, "eventTime"), EventSource: str(v, "eventSource"),
		EventName: str(v, "eventName"), AWSRegion: str(v, "awsRegion"), SourceIPAddress: str(v, "sourceIPAddress"),
		UserAgent: str(v, "userAgent"), ErrorCode: str(v, "errorCode"), RequestID: str(v, "requestID"), EventID: str(v, "eventID"),
		EventType: str(v, "eventType"), RecipientAccountID: str(v, "recipientAccountId"), SharedEventID: str(v, "sharedEventID"),
		VPCEndpointID: str(v, "vpcEndpointId"), EventCategory: str(v, "eventCategory"),
	}
	if ro := v.Get("readOnly"); ro != nil {
		r.ReadOnly = flexBool(ro.Type() == fastjson.TypeTrue || string(ro.GetStringBytes()) == "true")
	}
	if id := v.Get("userIdentity"); id != nil {
		u := &r.UserIdentity
		u.Type, u.PrincipalID, u.ARN, u.AccountID = str(id, "type"), str(id, "principalId"), str(id, "arn"), str(id, "accountId")
		u.AccessKeyID, u.UserName, u.InvokedBy = str(id, "accessKeyId"), str(id, "userName"), str(id, "invokedBy")
		if sc := id.Get("sessionContext"); sc != nil {
			si := &u.SessionContext.SessionIssuer
			si.Type, si.ARN, si.AccountID, si.UserName = str(sc, "sessionIssuer", "type"), str(sc, "sessionIssuer", "arn"), str(sc, "sessionIssuer", "accountId"), str(sc, "sessionIssuer", "userName")
			u.SessionContext.EC2RoleDelivery, u.SessionContext.SourceIdentity = str(sc, "ec2RoleDelivery"), str(sc, "sourceIdentity")
		}
	}
	for _, x := range v.GetArray("resources") {
		r.Resources = append(r.Resources, Resource{Type: str(x, "type"), ARN: str(x, "ARN"), AccountID: str(x, "accountId")})
	}
	if k := kinds[r.EventName]; (k == KindObjectWrite || k == KindObjectPart || k == KindObjectRead) && r.EventSource == "s3.amazonaws.com" {
		r.s3 = &s3Fields{
			bucket: str(v, "requestParameters", "bucketName"), key: str(v, "requestParameters", "key"),
			copySource: str(v, "requestParameters", "x-amz-copy-source"),
			in:         intOf(v, "additionalEventData", "bytesTransferredIn"), out: intOf(v, "additionalEventData", "bytesTransferredOut"),
		}
		return r
	}
	r.RequestParameters, r.ResponseElements, r.AdditionalEventData = rawOf(v, "requestParameters"), rawOf(v, "responseElements"), rawOf(v, "additionalEventData")
	return r
}

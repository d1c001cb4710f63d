package awstest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Instance is one EC2 instance the API server knows.
type Instance struct {
	ID, PrivateIP, PublicIP string
	Tags                    map[string]string
}

// API serves CloudTrail LookupEvents (awsJson1_1) and EC2
// DescribeInstances, DescribeVolumes and DescribeTags and STS
// GetCallerIdentity (query protocol, XML answers) from one URL.
type API struct {
	URL     string
	Account string

	mu        sync.Mutex
	events    []map[string]any // CloudTrail records LookupEvents serves
	instances map[string]Instance
	volumes   map[string]string // volume -> instance
	// Fail lists the answers of the next LookupEvents calls that fail:
	// "throttle" (400 ThrottlingException) or "5xx" (500).
	Fail     []string
	requests []Request
}

// NewAPI starts the server.
func NewAPI(t testing.TB, account string) *API {
	a := &API{Account: account, instances: map[string]Instance{}, volumes: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(srv.Close)
	a.URL = srv.URL
	return a
}

// AddEvents adds CloudTrail records for LookupEvents.
func (a *API) AddEvents(recs ...map[string]any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, recs...)
}

// AddInstance and AttachVolume describe EC2.
func (a *API) AddInstance(i Instance) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.instances[i.ID] = i
}

func (a *API) AttachVolume(volume, instance string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.volumes[volume] = instance
}

// SetFail sets the failures of the next LookupEvents calls.
func (a *API) SetFail(f ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.Fail = f
}

// Requests returns the calls received: Target is the X-Amz-Target or the
// query Action; Body the JSON body or the form.
func (a *API) Requests() []Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Request(nil), a.requests...)
}

func (a *API) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		a.cloudTrail(w, r, target, b)
		return
	}
	form, err := url.ParseQuery(string(b))
	if err != nil || r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		ec2Error(w, 400, "InvalidRequest", "expected a form-encoded query-protocol POST")
		return
	}
	body := map[string]any{}
	for k, v := range form {
		body[k] = v[0]
	}
	a.mu.Lock()
	a.requests = append(a.requests, Request{Target: form.Get("Action"), Header: r.Header.Clone(), Body: body})
	a.mu.Unlock()
	switch form.Get("Action") {
	case "GetCallerIdentity":
		writeXML(w, fmt.Sprintf(`<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::%s:user/stagewatch-collector</Arn><UserId>AIDAQXAMPLECOLLECTOR</UserId><Account>%s</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId></ResponseMetadata></GetCallerIdentityResponse>`, a.Account, a.Account))
	case "DescribeInstances":
		a.describeInstances(w, form)
	case "DescribeVolumes":
		a.describeVolumes(w, form)
	case "DescribeTags":
		a.describeTags(w, form)
	default:
		ec2Error(w, 400, "InvalidAction", "The action "+form.Get("Action")+" is not valid for this web service.")
	}
}

func listed(form url.Values, name string) []string {
	var out []string
	for i := 1; ; i++ {
		v := form.Get(name + "." + strconv.Itoa(i))
		if v == "" {
			return out
		}
		out = append(out, v)
	}
}

func tagSet(tags map[string]string, resource string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		if resource != "" {
			fmt.Fprintf(&b, "<item><resourceId>%s</resourceId><resourceType>instance</resourceType><key>%s</key><value>%s</value></item>", resource, k, tags[k])
		} else {
			fmt.Fprintf(&b, "<item><key>%s</key><value>%s</value></item>", k, tags[k])
		}
	}
	return b.String()
}

func (a *API) describeInstances(w http.ResponseWriter, form url.Values) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var items strings.Builder
	for _, id := range listed(form, "InstanceId") {
		i, ok := a.instances[id]
		if !ok {
			ec2Error(w, 400, "InvalidInstanceID.NotFound", fmt.Sprintf("The instance ID '%s' does not exist", id))
			return
		}
		fmt.Fprintf(&items, `<item><reservationId>r-0%s</reservationId><ownerId>%s</ownerId><instancesSet><item><instanceId>%s</instanceId><instanceType>m5.large</instanceType><privateIpAddress>%s</privateIpAddress><ipAddress>%s</ipAddress><tagSet>%s</tagSet><networkInterfaceSet><item><networkInterfaceId>eni-0%s</networkInterfaceId><privateIpAddress>%s</privateIpAddress><privateIpAddressesSet><item><privateIpAddress>%s</privateIpAddress><primary>true</primary></item></privateIpAddressesSet></item></networkInterfaceSet></item></instancesSet></item>`,
			i.ID[2:], a.Account, i.ID, i.PrivateIP, i.PublicIP, tagSet(i.Tags, ""), i.ID[2:], i.PrivateIP, i.PrivateIP)
	}
	writeXML(w, `<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>8f7724cf-496f-496e-8fe3-example</requestId><reservationSet>`+items.String()+`</reservationSet></DescribeInstancesResponse>`)
}

func (a *API) describeVolumes(w http.ResponseWriter, form url.Values) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var items strings.Builder
	for _, id := range listed(form, "VolumeId") {
		inst := a.volumes[id]
		att := ""
		if inst != "" {
			att = fmt.Sprintf(`<item><volumeId>%s</volumeId><instanceId>%s</instanceId><device>/dev/sdf</device><status>attached</status><attachTime>2026-03-01T08:00:00.000Z</attachTime><deleteOnTermination>false</deleteOnTermination></item>`, id, inst)
		}
		fmt.Fprintf(&items, `<item><volumeId>%s</volumeId><size>500</size><availabilityZone>us-east-1a</availabilityZone><status>in-use</status><volumeType>gp3</volumeType><attachmentSet>%s</attachmentSet></item>`, id, att)
	}
	writeXML(w, `<DescribeVolumesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>5d7b1e2a-example</requestId><volumeSet>`+items.String()+`</volumeSet></DescribeVolumesResponse>`)
}

func (a *API) describeTags(w http.ResponseWriter, form url.Values) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var items strings.Builder
	if form.Get("Filter.1.Name") == "resource-id" {
		for _, id := range listed(form, "Filter.1.Value") {
			items.WriteString(tagSet(a.instances[id].Tags, id))
		}
	}
	writeXML(w, `<DescribeTagsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>7a62c49f-example</requestId><tagSet>`+items.String()+`</tagSet></DescribeTagsResponse>`)
}

func writeXML(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+body)
}

func ec2Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>`, code, msg)
}

// lookupTarget is the X-Amz-Target of LookupEvents; older SDKs prefix
// it with com.amazonaws.cloudtrail.v20131101.
const lookupTarget = "CloudTrail_20131101.LookupEvents"

func (a *API) cloudTrail(w http.ResponseWriter, r *http.Request, target string, b []byte) {
	var in map[string]any
	if json.Unmarshal(b, &in) != nil || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json-1.1") {
		jsonError11(w, 400, "InvalidParameterException", "malformed request")
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.requests = append(a.requests, Request{Target: target, Header: r.Header.Clone(), Body: in})
	if strings.TrimPrefix(target, "com.amazonaws.cloudtrail.v20131101.") != lookupTarget {
		jsonError11(w, 400, "UnknownOperationException", target)
		return
	}
	if len(a.Fail) > 0 {
		f := a.Fail[0]
		a.Fail = a.Fail[1:]
		if f == "throttle" {
			jsonError11(w, 400, "ThrottlingException", "Rate exceeded")
		} else {
			jsonError11(w, 500, "InternalServerError", "We encountered an internal error. Please try again.")
		}
		return
	}
	source := ""
	if attrs, _ := in["LookupAttributes"].([]any); len(attrs) == 1 {
		at, _ := attrs[0].(map[string]any)
		if at["AttributeKey"] != "EventSource" {
			jsonError11(w, 400, "InvalidLookupAttributesException", "only EventSource here")
			return
		}
		source = str(at["AttributeValue"])
	}
	start, end := num(in["StartTime"]), num(in["EndTime"])
	var match []map[string]any
	for _, e := range a.events {
		at, _ := time.Parse(time.RFC3339, str(e["eventTime"]))
		s := float64(at.Unix())
		if (source == "" || e["eventSource"] == source) && s >= start && s <= end {
			match = append(match, e)
		}
	}
	// Newest first, as LookupEvents pages.
	sort.SliceStable(match, func(i, j int) bool { return str(match[i]["eventTime"]) > str(match[j]["eventTime"]) })
	max := int(num(in["MaxResults"]))
	if max <= 0 || max > 50 {
		max = 50
	}
	offset, _ := strconv.Atoi(str(in["NextToken"]))
	out := map[string]any{}
	var page []map[string]any
	for i := offset; i < len(match) && len(page) < max; i++ {
		e := match[i]
		raw, _ := json.Marshal(e)
		at, _ := time.Parse(time.RFC3339, str(e["eventTime"]))
		ident, _ := e["userIdentity"].(map[string]any)
		page = append(page, map[string]any{
			"EventId": e["eventID"], "EventName": e["eventName"], "ReadOnly": "false", "AccessKeyId": ident["accessKeyId"],
			"EventTime": at.Unix(), "EventSource": e["eventSource"], "Username": ident["userName"], "Resources": []any{},
			"CloudTrailEvent": string(raw),
		})
	}
	out["Events"] = page
	if offset+len(page) < len(match) {
		out["NextToken"] = strconv.Itoa(offset + len(page))
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(out)
}

func jsonError11(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
}

package eslogger

import (
	"bytes"

	"github.com/stagewatch/stagewatch/internal/endpoint"
	"github.com/stagewatch/stagewatch/internal/event"
)

// Formats are the recorded logs AN0042 replays: eslogger's JSON lines,
// plain or gzipped (the replay layer opens gzip and zip).
func Formats() []endpoint.Format {
	return []endpoint.Format{
		endpoint.LineFormat("eslogger", []string{"json", "jsonl", "ndjson", "endpointsecurity"}, LooksLikeESLogger,
			func(emit func(*event.Event)) endpoint.LineParser { return New(emit) }),
	}
}

// LooksLikeESLogger recognises eslogger output: a JSON object whose head
// names an Endpoint Security message's members.
func LooksLikeESLogger(head []byte) bool {
	head = bytes.TrimLeft(head, " \t\r\n")
	if len(head) == 0 || head[0] != '{' {
		return false
	}
	if i := bytes.IndexByte(head, '\n'); i > 0 {
		head = head[:i]
	}
	return bytes.Contains(head, []byte(`"event"`)) ||
		bytes.Contains(head, []byte(`"global_seq_num"`)) || bytes.Contains(head, []byte(`"mach_time"`))
}

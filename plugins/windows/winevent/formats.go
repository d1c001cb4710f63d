package winevent

import (
	"bytes"
	"context"
	"io"

	"github.com/stagewatch/stagewatch/internal/endpoint"
	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/plugins/windows/winlog"
)

// Formats are the shapes of recorded Windows events AN0040 replays, each
// recognised by its content: EVTX files, XML (wevtutil or one event a
// line), JSON lines (Winlogbeat, flat exports, EvtxECmd). Zip and gzip
// containers are opened by the replay layer.
func Formats() []endpoint.Format {
	return []endpoint.Format{
		{Name: "evtx", Sniff: winlog.LooksLikeEVTX, Decode: DecodeEVTX},
		{Name: "winxml", Aliases: []string{"xml", "wevtutil"}, Sniff: LooksLikeXML, Decode: DecodeXML},
		{Name: "winjson", Aliases: []string{"json", "jsonl", "ndjson", "winlogbeat", "evtxecmd"}, Sniff: LooksLikeJSON, Decode: DecodeJSON},
	}
}

func stats(s winlog.Stats) endpoint.DecodeStats {
	return endpoint.DecodeStats{Records: s.Records, ParseErrors: s.Errors, FirstError: s.FirstError}
}

// DecodeEVTX reads an EVTX stream into events.
func DecodeEVTX(ctx context.Context, r io.Reader, emit func(*event.Event)) (endpoint.DecodeStats, error) {
	n := New(emit)
	reader := winlog.EVTXReader{Keep: Wants}
	s, err := reader.Read(ctx, r, n.Record)
	n.Flush()
	return stats(s), err
}

// DecodeXML reads XML-rendered events into events.
func DecodeXML(ctx context.Context, r io.Reader, emit func(*event.Event)) (endpoint.DecodeStats, error) {
	n := New(emit)
	s, err := winlog.ReadXML(ctx, r, n.Record)
	n.Flush()
	return stats(s), err
}

// DecodeJSON reads JSON lines of any of the three shapes into events.
func DecodeJSON(ctx context.Context, r io.Reader, emit func(*event.Event)) (endpoint.DecodeStats, error) {
	return endpoint.LineFormat("winjson", nil, nil, func(emit func(*event.Event)) endpoint.LineParser {
		return &jsonLines{n: New(emit)}
	}).Decode(ctx, r, emit)
}

type jsonLines struct {
	n      *Normalizer
	parser winlog.JSONParser
	rec    winlog.Record
	errors uint64
}

func (j *jsonLines) Line(line []byte) error {
	if len(bytes.TrimSpace(line)) == 0 {
		return nil
	}
	if err := j.parser.Parse(line, &j.rec); err != nil {
		j.errors++
		return err
	}
	j.n.Record(&j.rec)
	return nil
}

func (j *jsonLines) Flush()              { j.n.Flush() }
func (j *jsonLines) ParseErrors() uint64 { return j.errors }

// trimHead drops a byte-order mark and leading white space.
func trimHead(head []byte) []byte {
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	return bytes.TrimLeft(head, " \t\r\n")
}

// LooksLikeXML reports XML events: an XML declaration, an <Events> root or
// an <Event> element first.
func LooksLikeXML(head []byte) bool {
	h := trimHead(head)
	return bytes.HasPrefix(h, []byte("<?xml")) || bytes.HasPrefix(h, []byte("<Events")) || bytes.HasPrefix(h, []byte("<Event ")) || bytes.HasPrefix(h, []byte("<Event>"))
}

// LooksLikeJSON reports JSON lines of Windows events: an object first,
// with a key one of the three shapes has.
func LooksLikeJSON(head []byte) bool {
	h := trimHead(head)
	if !bytes.HasPrefix(h, []byte("{")) {
		return false
	}
	for _, key := range []string{`"winlog"`, `"EventID"`, `"EventId"`, `"event_id"`, `"Channel"`} {
		if bytes.Contains(h, []byte(key)) {
			return true
		}
	}
	return false
}

package packs

import (
	"bytes"
	"crypto/sha1"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The result-log lines below reproduce osquery's serializers field for
// field and in order (osquery/core/query.cpp: addLegacyFieldsAndDecorations,
// serializeEvent, serializeQueryLogItem), with --logger_numerics=false so
// every column value is a string. Map keys come out sorted, as osquery's
// std::map rows and decorations do.

// eventLine is one differential row (osquery's event format, the default
// --logger_event_type=true).
type eventLine struct {
	Name           string            `json:"name"`
	HostIdentifier string            `json:"hostIdentifier"`
	CalendarTime   string            `json:"calendarTime"`
	UnixTime       int64             `json:"unixTime"`
	Epoch          uint64            `json:"epoch"`
	Counter        uint64            `json:"counter"`
	Numerics       bool              `json:"numerics"`
	Decorations    map[string]string `json:"decorations,omitempty"`
	Columns        map[string]string `json:"columns"`
	Action         string            `json:"action"`
}

// snapshotLine is a snapshot query's whole result in one line.
type snapshotLine struct {
	Snapshot       []map[string]string `json:"snapshot"`
	Action         string              `json:"action"`
	Name           string              `json:"name"`
	HostIdentifier string              `json:"hostIdentifier"`
	CalendarTime   string              `json:"calendarTime"`
	UnixTime       int64               `json:"unixTime"`
	Epoch          uint64              `json:"epoch"`
	Counter        uint64              `json:"counter"`
	Numerics       bool                `json:"numerics"`
	Decorations    map[string]string   `json:"decorations,omitempty"`
}

// logItem is what one run contributes to the result log.
type logItem struct {
	name        string
	host        string
	at          time.Time
	epoch       uint64
	counter     uint64
	decorations map[string]string
}

// calendarTime is osquery's getAsciiTime: asctime(3) in UTC plus " UTC",
// e.g. "Fri Nov  6 03:52:00 2026 UTC" (the day is space-padded).
func calendarTime(t time.Time) string {
	return t.UTC().Format(time.ANSIC) + " UTC"
}

// encoder writes JSON the way rapidjson does: no HTML escaping of <, >, &.
func encode(buf *bytes.Buffer, v any) error {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	return enc.Encode(v) // Encode ends each value with '\n': one line each
}

// appendEvents writes removed rows first, then added, as osquery's
// serializeDiffResults orders them.
func appendEvents(buf *bytes.Buffer, item logItem, removed, added []map[string]string) error {
	line := eventLine{
		Name:           item.name,
		HostIdentifier: item.host,
		CalendarTime:   calendarTime(item.at),
		UnixTime:       item.at.Unix(),
		Epoch:          item.epoch,
		Counter:        item.counter,
		Decorations:    item.decorations,
	}
	for _, set := range []struct {
		action string
		rows   []map[string]string
	}{{"removed", removed}, {"added", added}} {
		line.Action = set.action
		for _, row := range set.rows {
			line.Columns = row
			if err := encode(buf, line); err != nil {
				return err
			}
		}
	}
	return nil
}

func appendSnapshot(buf *bytes.Buffer, item logItem, rows []map[string]string) error {
	if rows == nil {
		rows = []map[string]string{} // osquery logs "snapshot":[] for no rows
	}
	return encode(buf, snapshotLine{
		Snapshot:       rows,
		Action:         "snapshot",
		Name:           item.name,
		HostIdentifier: item.host,
		CalendarTime:   calendarTime(item.at),
		UnixTime:       item.at.Unix(),
		Epoch:          item.epoch,
		Counter:        item.counter,
		Decorations:    item.decorations,
	})
}

// diff is osquery's multiset differential: a row present n times before and
// m times now is added m-n times or removed n-m times. Removed rows keep the
// previous order, added rows the current one.
func diff(previous, current []map[string]string) (removed, added []map[string]string) {
	counts := make(map[string]int, len(previous))
	for _, row := range previous {
		counts[rowKey(row)]++
	}
	for _, row := range current {
		k := rowKey(row)
		if counts[k] > 0 {
			counts[k]--
			continue
		}
		added = append(added, row)
	}
	for _, row := range previous {
		k := rowKey(row)
		if counts[k] > 0 {
			counts[k]--
			removed = append(removed, row)
		}
	}
	return removed, added
}

// rowKey is a canonical encoding of a row: sorted keys, length-prefixed so
// no value can imitate a separator.
func rowKey(row map[string]string) string {
	keys := make([]string, 0, len(row))
	for k := range row {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		v := row[k]
		b.WriteString(strconv.Itoa(len(k)))
		b.WriteByte(':')
		b.WriteString(k)
		b.WriteString(strconv.Itoa(len(v)))
		b.WriteByte(':')
		b.WriteString(v)
	}
	return b.String()
}

// MachineShard is osquery's getMachineShard: the first byte of the SHA-1 of
// the host's identifier, scaled to 0..100. A query with shard s runs on
// hosts whose shard is at most s.
func MachineShard(hostIdentifier string) int {
	sum := sha1.Sum([]byte(hostIdentifier))
	return int(sum[0]) * 100 / 255
}

func shardAllows(shard, machine int) bool {
	return shard <= 0 || shard >= machine
}

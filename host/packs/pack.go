// Package packs reads osquery query packs and schedules them the way osqueryd
// does, writing results in osquery's result-log format, so Fleet and log
// pipelines built for osquery read stagewatchd's output unchanged.
package packs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Limits osquery applies to a scheduled query.
const (
	DefaultInterval = 3600   // osquery's --schedule_default_interval
	MaxInterval     = 604800 // osquery's kMaxQueryInterval (one week)
	// Delimiter joins "pack", the pack name and the query name into the
	// scheduled query name (osquery's --pack_delimiter default).
	Delimiter = "_"
)

// Pack is one osquery pack file.
type Pack struct {
	Name      string // the file name without its extension, as osquery names globbed packs
	Path      string
	Platform  string   // pack-wide platform restriction, osquery syntax ("linux,darwin", "posix", "any")
	Version   string   // minimum osquery version, when set
	Shard     int      // 1..100: only hosts whose shard is at most this run the pack; 0 = all
	Discovery []string // queries that must all return rows for the pack to run
	Queries   []Query  // sorted by name
}

// Query is one entry of a pack's "queries".
type Query struct {
	Name        string
	SQL         string
	Interval    int // seconds, 1..MaxInterval
	Platform    string
	Version     string
	Snapshot    bool // log the full result each run instead of differences
	Removed     bool // log "removed" rows (osquery default true)
	Shard       int
	Description string
	Value       string
	// Denylist says whether osquery's watchdog may deny-list the query.
	// stagewatchd has no watchdog; it is parsed so packs round-trip.
	Denylist bool
}

// ScheduledName is the name results are logged under: pack_<pack>_<query>.
func (p *Pack) ScheduledName(q Query) string {
	return "pack" + Delimiter + p.Name + Delimiter + q.Name
}

// LoadPacks reads pack files. A directory stands for the *.conf files in
// it. Every problem in every file is reported, each naming its pack (and
// query), so one run of a pack check lists them all.
func LoadPacks(paths []string) ([]*Pack, error) {
	var files []string
	var errs []error
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !info.IsDir() {
			files = append(files, p)
			continue
		}
		matches, err := filepath.Glob(filepath.Join(p, "*.conf"))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		files = append(files, matches...)
	}
	var packs []*Pack
	byName := make(map[string]string)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		name := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
		if prev, dup := byName[name]; dup {
			errs = append(errs, fmt.Errorf("pack %q: defined by both %s and %s", name, prev, f))
			continue
		}
		byName[name] = f
		pack, err := ParsePack(name, data)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f, err))
			continue
		}
		pack.Path = f
		packs = append(packs, pack)
	}
	slices.SortFunc(packs, func(a, b *Pack) int { return strings.Compare(a.Name, b.Name) })
	return packs, errors.Join(errs...)
}

// ParsePack parses one pack's JSON. Like osquery, lines whose first
// non-blank characters are "//" or "#" are comments. Unlike osquery, an
// unknown key is an error rather than ignored: a misspelt "interval" would
// otherwise silently run the query hourly.
func ParsePack(name string, data []byte) (*Pack, error) {
	if err := checkName(name); err != nil {
		return nil, fmt.Errorf("pack %q: %w", name, err)
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("pack %q: %s", name, fmt.Sprintf(format, args...))
	}
	var raw map[string]json.RawMessage
	if err := decodeStrict(stripComments(data), &raw); err != nil {
		return nil, fail("%v", err)
	}
	if raw == nil {
		return nil, fail("not a JSON object")
	}
	p := &Pack{Name: name}
	var errs []error
	for key, val := range raw {
		var err error
		switch key {
		case "platform":
			p.Platform, err = platformValue(val)
		case "version":
			p.Version, err = versionValue(val)
		case "shard":
			p.Shard, err = shardValue(val)
		case "discovery":
			err = json.Unmarshal(val, &p.Discovery)
			if err == nil && slices.ContainsFunc(p.Discovery, func(q string) bool { return strings.TrimSpace(q) == "" }) {
				err = errors.New("empty discovery query")
			}
		case "queries":
			p.Queries, err = parseQueries(name, val)
			if err != nil {
				errs = append(errs, err)
				continue
			}
		default:
			err = errors.New("unknown key")
		}
		if err != nil {
			errs = append(errs, fail("%s: %v", key, err))
		}
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return nil, errors.Join(errs...)
	}
	return p, nil
}

func parseQueries(pack string, data []byte) ([]Query, error) {
	var raw map[string]map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("pack %q: queries: want an object of query objects: %v", pack, err)
	}
	var out []Query
	var errs []error
	for qname, fields := range raw {
		q, err := parseQuery(qname, fields)
		if err != nil {
			errs = append(errs, fmt.Errorf("pack %q: query %q: %w", pack, qname, err))
			continue
		}
		out = append(out, q)
	}
	slices.SortFunc(out, func(a, b Query) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return out, errors.Join(errs...)
}

func parseQuery(name string, fields map[string]json.RawMessage) (Query, error) {
	q := Query{Name: name, Interval: DefaultInterval, Removed: true, Denylist: true}
	if err := checkName(name); err != nil {
		return q, err
	}
	if fields == nil {
		return q, errors.New("not an object")
	}
	var errs []error
	for key, val := range fields {
		var err error
		switch key {
		case "query":
			err = json.Unmarshal(val, &q.SQL)
		case "interval":
			q.Interval, err = intValue(val)
			if err == nil && (q.Interval < 1 || q.Interval > MaxInterval) {
				err = fmt.Errorf("%d out of range 1..%d seconds", q.Interval, MaxInterval)
			}
		case "platform":
			q.Platform, err = platformValue(val)
		case "version":
			q.Version, err = versionValue(val)
		case "shard":
			q.Shard, err = shardValue(val)
		case "snapshot":
			q.Snapshot, err = boolValue(val)
		case "removed":
			q.Removed, err = boolValue(val)
		case "denylist", "blacklist": // osquery renamed blacklist in 4.x and reads both
			q.Denylist, err = boolValue(val)
		case "description":
			err = json.Unmarshal(val, &q.Description)
		case "value":
			err = json.Unmarshal(val, &q.Value)
		default:
			err = errors.New("unknown key")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", key, err))
		}
	}
	if strings.TrimSpace(q.SQL) == "" && len(errs) == 0 {
		errs = append(errs, errors.New("query: missing or empty"))
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return q, errors.Join(errs...)
}

// stripComments drops the comment lines osquery's config parser drops.
func stripComments(data []byte) []byte {
	var out bytes.Buffer
	for line := range bytes.Lines(data) {
		trimmed := bytes.TrimLeft(line, " \t")
		if bytes.HasPrefix(trimmed, []byte("//")) || bytes.HasPrefix(trimmed, []byte("#")) {
			continue
		}
		out.Write(line)
	}
	return out.Bytes()
}

func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

func checkName(name string) error {
	if strings.TrimSpace(name) == "" {
		return errors.New("empty name")
	}
	if strings.ContainsFunc(name, unicode.IsControl) {
		return errors.New("name contains control characters")
	}
	return nil
}

// intValue reads a number or a numeric string, as osquery's JSON::valueToSize does.
func intValue(raw json.RawMessage) (int, error) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0, fmt.Errorf("want a number, got %s", raw)
		}
		n = json.Number(strings.TrimSpace(s))
	}
	v, err := strconv.Atoi(n.String())
	if err != nil {
		return 0, fmt.Errorf("want a whole number, got %s", raw)
	}
	return v, nil
}

func boolValue(raw json.RawMessage) (bool, error) {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if v, err := strconv.ParseBool(s); err == nil {
			return v, nil
		}
	}
	return false, fmt.Errorf("want true or false, got %s", raw)
}

func shardValue(raw json.RawMessage) (int, error) {
	v, err := intValue(raw)
	if err == nil && (v < 0 || v > 100) {
		err = fmt.Errorf("%d out of range 0..100", v)
	}
	return v, err
}

// knownPlatforms are the words osquery's platform matching understands.
var knownPlatforms = []string{"any", "all", "linux", "ubuntu", "centos", "darwin", "windows", "freebsd", "posix"}

func platformValue(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("want a string, got %s", raw)
	}
	if s == "" || s == "null" {
		return s, nil
	}
	for _, word := range strings.Split(s, ",") {
		if !slices.Contains(knownPlatforms, strings.TrimSpace(word)) {
			return "", fmt.Errorf("unknown platform %q (want a comma list of %s)", word, strings.Join(knownPlatforms, ", "))
		}
	}
	return s, nil
}

func versionValue(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("want a string, got %s", raw)
	}
	if s == "" || s == "null" {
		return s, nil
	}
	if _, err := parseVersion(s); err != nil {
		return "", err
	}
	return s, nil
}

func parseVersion(s string) ([]int, error) {
	var out []int
	for part := range strings.SplitSeq(s, ".") {
		// osquery versions may carry a suffix ("5.12.1-14-g1234"): compare the numbers.
		digits := part
		if i := strings.IndexFunc(part, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
			digits = part[:i]
		}
		n, err := strconv.Atoi(digits)
		if err != nil {
			return nil, fmt.Errorf("bad version %q", s)
		}
		out = append(out, n)
		if digits != part {
			break
		}
	}
	return out, nil
}

// versionAtLeast reports whether have >= want, osquery's checkVersion.
func versionAtLeast(want, have string) bool {
	if want == "" || want == "null" {
		return true
	}
	w, err1 := parseVersion(want)
	h, err2 := parseVersion(have)
	if err1 != nil || err2 != nil {
		return false
	}
	return slices.Compare(h, w) >= 0
}

// PlatformMatches is osquery's Pack::checkPlatform: substring matching of
// the restriction against this host's platform (runtime.GOOS names).
func PlatformMatches(restriction, platform string) bool {
	if restriction == "" || restriction == "null" {
		return true
	}
	if strings.Contains(restriction, "any") || strings.Contains(restriction, "all") {
		return true
	}
	linuxType := strings.Contains(restriction, "linux") || strings.Contains(restriction, "ubuntu") || strings.Contains(restriction, "centos")
	if linuxType && platform == "linux" {
		return true
	}
	if strings.Contains(restriction, "posix") && platform != "windows" {
		return true
	}
	return platform != "" && strings.Contains(restriction, platform)
}

package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/plugins/sdk"
)

type block struct {
	Region string   `json:"region"`
	Poll   Duration `json:"poll_interval"`
	Trail  struct {
		Bucket string `json:"bucket"`
		Start  Start  `json:"start"`
	} `json:"trail"`
	Hosts []struct {
		URL string `json:"url"`
	} `json:"vsphere"`
}

func TestDecodeNamesTheKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, key, reason string }{
		{`{"regoin":"x"}`, "aws.regoin", "unknown key"},
		{`{"trail":{"bukket":"b"}}`, "aws.trail.bukket", "known here: bucket, start"},
		{`{"vsphere":[{"url":"u"},{"uri":"u"}]}`, "aws.vsphere[1].uri", "unknown key"},
		{`{"region":5}`, "aws.region", "expected a string"},
		{`{"poll_interval":"often"}`, "aws.poll_interval", "not a duration"},
		{`{"trail":{"start":"yesterday"}}`, "aws.trail.start", "RFC 3339"},
	} {
		var b block
		err := Decode("aws", json.RawMessage(tc.in), &b)
		var ce *sdk.ConfigError
		if !errors.As(err, &ce) || ce.Key != tc.key || !strings.Contains(ce.Reason, tc.reason) {
			t.Errorf("%s: %v (%#v), want key %s, reason with %q", tc.in, err, ce, tc.key, tc.reason)
		}
	}
	var b block
	if err := Decode("aws", json.RawMessage(`{"region":"eu-west-1","poll_interval":30,"trail":{"bucket":"t","start":"2026-01-02T03:04:05Z"}}`), &b); err != nil {
		t.Fatal(err)
	}
	if b.Region != "eu-west-1" || time.Duration(b.Poll) != 30*time.Second || b.Trail.Start.At.Year() != 2026 {
		t.Errorf("decoded %+v", b)
	}
	now := time.Now()
	if got := (Start{Back: time.Hour}).From(now); !got.Equal(now.Add(-time.Hour)) {
		t.Errorf("From %v", got)
	}
}

func TestSecretNeverShown(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pass")
	if err := os.WriteFile(file, []byte("hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := ReadSecret("password", file, "")
	if err != nil || s.Value() != "hunter2" || !s.IsSet() {
		t.Fatalf("%v %q", err, s.Value())
	}
	js, _ := json.Marshal(struct{ P Secret }{s})
	// Held in an unexported field, where fmt cannot call String.
	type holder struct {
		name   string
		secret Secret
	}
	held := []holder{{"x", s}}
	for _, shown := range []string{s.String(), fmt.Sprintf("%v %+v %#v %s", s, s, s, s), string(js), fmt.Sprintf("%v %+v %#v", held, held, held)} {
		if strings.Contains(shown, "hunter2") {
			t.Errorf("secret shown: %s", shown)
		}
	}
	if _, err := ReadSecret("password", file, "X"); err == nil {
		t.Error("file and env both accepted")
	}
	t.Setenv("STAGEWATCH_TEST_SECRET", "s3cret")
	if s, err := ReadSecret("password", "", "STAGEWATCH_TEST_SECRET"); err != nil || s.Value() != "s3cret" || strings.Contains(s.Source(), "s3cret") {
		t.Errorf("env: %v %q", err, s.Source())
	}
	var ce *sdk.ConfigError
	if _, err := ReadSecret("password", "", "STAGEWATCH_NOT_SET_ANYWHERE"); !errors.As(err, &ce) || ce.Key != "password_env" {
		t.Errorf("missing env: %v", err)
	}
	open := filepath.Join(dir, "open")
	os.WriteFile(open, []byte("x"), 0o644)
	if _, err := ReadSecret("password", open, ""); secretModeChecked && (!errors.As(err, &ce) || ce.Key != "password_file") {
		t.Errorf("world-readable secret file: %v", err)
	}
}

func TestBackoffBoundedAndJittered(t *testing.T) {
	t.Parallel()
	b := Backoff{Min: 100 * time.Millisecond, Max: 2 * time.Second}
	seen := map[time.Duration]bool{}
	for i := range 50 {
		d := b.Next()
		if d < 50*time.Millisecond || d > 2*time.Second {
			t.Fatalf("wait %d: %v outside bounds", i, d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Errorf("waits not jittered: %v", seen)
	}
	b.Reset()
	if b.Failures() != 0 {
		t.Error("reset kept failures")
	}
}

func TestPollerBacksOffAndRecovers(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var waits []time.Duration
	calls := 0
	var failed []string
	p := &Poller{
		Name: "test", Interval: time.Minute, Backoff: Backoff{Min: time.Second, Max: 8 * time.Second},
		Step: func(context.Context) (bool, error) {
			calls++
			switch {
			case calls <= 3:
				return false, errors.New("throttled")
			case calls == 4:
				return true, nil // a backlog: go on at once
			case calls == 6:
				cancel()
			}
			return false, nil
		},
		Failed: func(name string, err error, wait time.Duration) { failed = append(failed, err.Error()) },
		Sleep:  func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil },
	}
	if err := p.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if len(failed) != 3 || calls != 6 {
		t.Fatalf("calls %d failed %v", calls, failed)
	}
	// 3 back-offs, none after the backlog step, then the interval.
	if len(waits) != 4 || waits[3] < 54*time.Second || waits[0] > 8*time.Second {
		t.Errorf("waits %v", waits)
	}
}

func TestStateDedupesAndSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "AN0043")
	s, err := OpenState(dir, sdk.StateLimits{}, func(m string) { t.Log(m) })
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	fresh, err := s.Commit(Batch{
		Events:  []Item{{Key: "a", Time: now, Data: []byte("1")}, {Key: "b", Time: now, Data: []byte("2")}, {Key: "a", Time: now, Data: []byte("1")}},
		Cursors: map[string]string{"trail:x": "key-1"},
		Marks:   []Mark{{Scope: "f", Key: "bucket/key-1", Time: now}},
	})
	if err != nil || fmt.Sprint(fresh) != "[true true false]" {
		t.Fatalf("%v %v", fresh, err)
	}
	s.Close()
	s, err = OpenState(dir, sdk.StateLimits{}, func(m string) { t.Log(m) })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, ok := s.Cursor("trail:x"); !ok || v != "key-1" || !s.Marked("f", "bucket/key-1") || s.Marked("f", "other") {
		t.Errorf("cursor %q %v", v, ok)
	}
	fresh, _ = s.Commit(Batch{Events: []Item{{Key: "b", Time: now}, {Key: "c", Time: now, Data: []byte("3")}}})
	if fmt.Sprint(fresh) != "[false true]" {
		t.Errorf("after restart: %v", fresh)
	}
	var keys []string
	s.Events(context.Background(), func(it Item) error { keys = append(keys, it.Key); return nil })
	if strings.Join(keys, ",") != "a,b,c" {
		t.Errorf("events %v", keys)
	}
	s.Expire(now.Add(48 * time.Hour))
	keys = nil
	s.Events(context.Background(), func(it Item) error { keys = append(keys, it.Key); return nil })
	if len(keys) != 0 {
		t.Errorf("not expired: %v", keys)
	}
	x := map[string]uint64{}
	if p := s.Counters(x); p != "" || x["state_duplicates"] != 1 {
		t.Errorf("counters %v %q", x, p)
	}
	m := MemoryState(sdk.StateLimits{})
	fresh, _ = m.Commit(Batch{Events: []Item{{Key: "a"}, {Key: "a"}}})
	if fmt.Sprint(fresh) != "[true false]" {
		t.Errorf("memory %v", fresh)
	}
}

func TestCounters(t *testing.T) {
	t.Parallel()
	var c Counters
	c.Add("x", 2)
	c.Add("x", 3)
	m := map[string]uint64{}
	c.Into(m)
	if m["x"] != 5 || c.Get("y") != 0 {
		t.Errorf("%v", m)
	}
}

package an0041

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stagewatch/stagewatch/internal/elements"
	"github.com/stagewatch/stagewatch/plugins/sdk"
	"github.com/stagewatch/stagewatch/plugins/sdk/sdktest"
)

func TestConfigErrorsNameKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, config, key, reason string
	}{
		{"unknown key", `{"StagingDirs": ["/tmp/"]}`, "StagingDirs", "known: StagingDirectoryList, ArchivingCommandPatterns"},
		{"window too short", `{"TimeWindow": "30s"}`, TimeWindow, "at least 1m"},
		{"window in seconds too short", `{"TimeWindow": 59}`, TimeWindow, "got 59s"},
		{"window not a duration", `{"TimeWindow": "half an hour"}`, TimeWindow, `got string "half an hour"`},
		{"user context unknown", `{"UserContext": ["root"]}`, UserContext, "any|interactive|elevated"},
		{"user context empty", `{"UserContext": []}`, UserContext, "at least one"},
		{"relative dir", `{"StagingDirectoryList": ["tmp/"]}`, StagingDirectoryList, "absolute"},
		{"root dir", `{"StagingDirectoryList": ["/"]}`, StagingDirectoryList, "below /"},
		{"no dirs", `{"StagingDirectoryList": []}`, StagingDirectoryList, "at least one"},
		{"dirs not a list", `{"StagingDirectoryList": "/tmp/"}`, StagingDirectoryList, "list"},
		{"archiver path", `{"ArchivingCommandPatterns": ["/usr/bin/tar"]}`, ArchivingCommandPatterns, "not paths"},
		{"no archivers", `{"ArchivingCommandPatterns": []}`, ArchivingCommandPatterns, "got an empty list"},
		{"parent relative path", `{"AllowedParentProcesses": ["bin/dpkg"]}`, AllowedParentProcesses, "not paths"},
		{"empty path glob", `{"AllowedPaths": [""]}`, AllowedPaths, "empty string"},
		{"zero files", `{"MinimumFileCount": 0}`, MinimumFileCount, "from 1"},
		{"fractional files", `{"MinimumFileCount": 2.5}`, MinimumFileCount, "integer"},
		{"not an object", `["/tmp/"]`, elements.ConfigKey, "object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Both directly and across the gRPC converters, which must keep
			// the key.
			for _, a := range []sdk.Analytic{New(), sdktest.Connect(t, New())} {
				_, err := a.Configure(context.Background(), sdk.ConfigureRequest{Config: json.RawMessage(tt.config), Mode: sdk.ModeReplay})
				var ce *sdk.ConfigError
				if !errors.As(err, &ce) {
					t.Fatalf("error %v (%T) is not a ConfigError", err, err)
				}
				if ce.Key != tt.key || !strings.Contains(ce.Reason, tt.reason) {
					t.Fatalf("ConfigError{%q, %q}, want key %q with %q", ce.Key, ce.Reason, tt.key, tt.reason)
				}
			}
		})
	}
}

func TestConfigEffective(t *testing.T) {
	t.Parallel()
	a := sdktest.Connect(t, New())
	eff, err := a.Configure(context.Background(), sdk.ConfigureRequest{
		Config: json.RawMessage(`{"TimeWindow": 900, "UserContext": ["Interactive", "elevated"], "StagingDirectoryList": ["/tmp/", "/srv/drop/"]}`),
		Mode:   sdk.ModeReplay,
	})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(eff, &got); err != nil {
		t.Fatal(err)
	}
	if got[TimeWindow] != "15m" || len(got) != len(New().Describe().MutableElements) {
		t.Errorf("effective %s", eff)
	}
	if uc := got[UserContext].([]any); len(uc) != 2 || uc[0] != "interactive" {
		t.Errorf("UserContext %v", uc)
	}
	if mf, ok := got[MinimumFileCount].(float64); !ok || mf != 2 {
		t.Errorf("MinimumFileCount default %v", got[MinimumFileCount])
	}
	// Defaults as DET0014 asks for them.
	def, err := New().Configure(context.Background(), sdk.ConfigureRequest{Mode: sdk.ModeReplay})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"StagingDirectoryList":["/tmp/","/var/tmp/","/mnt/","/dev/shm/"]`, `"TimeWindow":"30m"`, `"UserContext":["any"]`, `"tar"`, `"7za"`, `"pigz"`, `"cpio"`} {
		if !strings.Contains(string(def), want) {
			t.Errorf("defaults %s lack %s", def, want)
		}
	}
}

func TestStartOutsideLiveModeCollectsNothing(t *testing.T) {
	t.Parallel()
	a := New()
	if err := a.Start(context.Background()); err == nil {
		t.Fatal("Start before Configure succeeded")
	}
	// Replay and one-shot query modes start without collecting: the tables
	// answer (empty, or from Ingest) and nothing touches the kernel.
	for _, mode := range []sdk.Mode{sdk.ModeReplay, sdk.ModeQuery} {
		a := New()
		if _, err := a.Configure(context.Background(), sdk.ConfigureRequest{Mode: mode}); err != nil {
			t.Fatal(err)
		}
		if err := a.Start(context.Background()); err != nil {
			t.Fatalf("Start in %s mode: %v", mode, err)
		}
		if h := a.Health(context.Background()); h.State != sdk.StateConfigured {
			t.Fatalf("%s mode: health %v %q", mode, h.State, h.Message)
		}
		a.Close()
	}
	if h := New().Health(context.Background()); h.State != sdk.StateFailed || h.Message != "not configured" {
		t.Fatalf("unconfigured health %v %q", h.State, h.Message)
	}
}

// A staging directory given as a link is judged by where it leads on this
// host: a link to / would stage every file on every mount. Replayed logs
// come from another machine, so the check is for live collection only.
func TestSymlinkedStagingDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	toRoot := filepath.Join(dir, "l")
	if err := os.Symlink("/", toRoot); err != nil {
		t.Fatal(err)
	}
	toTmp := filepath.Join(dir, "t")
	if err := os.Symlink("/tmp", toTmp); err != nil {
		t.Fatal(err)
	}
	config := func(dirs ...string) json.RawMessage {
		b, _ := json.Marshal(map[string][]string{StagingDirectoryList: dirs})
		return b
	}
	_, err := New().Configure(context.Background(), sdk.ConfigureRequest{Config: config("/var/tmp/", toRoot+"/"), Mode: sdk.ModeLive})
	var ce *sdk.ConfigError
	if !errors.As(err, &ce) || ce.Key != StagingDirectoryList || !strings.Contains(ce.Reason, `resolves to "/"`) || !strings.Contains(ce.Reason, "index 1") {
		t.Fatalf("a link to / in live mode: %v", err)
	}
	if _, err := New().Configure(context.Background(), sdk.ConfigureRequest{Config: config(toTmp + "/"), Mode: sdk.ModeLive}); err != nil {
		t.Fatalf("a link to /tmp in live mode: %v", err)
	}
	if _, err := New().Configure(context.Background(), sdk.ConfigureRequest{Config: config(toRoot + "/"), Mode: sdk.ModeReplay}); err != nil {
		t.Fatalf("replay judges the paths as written: %v", err)
	}
}

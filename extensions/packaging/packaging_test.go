package packaging

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/internal/config"
	"github.com/stagewatch/stagewatch/packs/fleetspec"
)

// TestPackage builds the real extension and Linux plugin, packages them and
// reads the archive back as tar would extract it.
func TestPackage(t *testing.T) {
	build := t.TempDir()
	goBuild := func(out, pkg string) {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, msg)
		}
	}
	goBuild(filepath.Join(build, "stagewatch.ext"), "github.com/stagewatch/stagewatch/extensions/stagewatch-ext")
	goBuild(filepath.Join(build, "plugins", "stagewatch-linux"), "github.com/stagewatch/stagewatch/plugins/linux")

	opts := Options{Version: "1.2.3", GOOS: "linux", GOARCH: "amd64", BuildDir: build,
		RepoDir: filepath.Join("..", ".."), OutDir: t.TempDir(), ModTime: time.Unix(1_700_000_000, 0)}
	out, err := Build(opts)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(out) != "stagewatch-1.2.3-linux-amd64.tar.gz" {
		t.Errorf("archive named %s", out)
	}
	files := readArchive(t, out)

	for _, want := range []string{ExtensionPath, PluginDir + "/stagewatch-linux", ExtensionsLoad, FlagsSnippet,
		SampleConfig, ShareDir + "/packs/det0014.conf", ShareDir + "/packs/fleet/det0014.reports.yml",
		ShareDir + "/packs/fleet/det0014.policies.yml", ShareDir + "/fleet/agent-options.yml", ShareDir + "/SHA256SUMS",
		"usr/local/share/doc/stagewatch/tables.md"} {
		if _, ok := files[want]; !ok {
			t.Errorf("archive lacks %s", want)
		}
	}
	for name, f := range files {
		if f.hdr.Uid != 0 || f.hdr.Gid != 0 || f.hdr.Uname != "root" || f.hdr.Gname != "root" {
			t.Errorf("%s owned by %d:%d (%s:%s), want root:root", name, f.hdr.Uid, f.hdr.Gid, f.hdr.Uname, f.hdr.Gname)
		}
		if f.hdr.Mode&0o022 != 0 {
			t.Errorf("%s mode %o is group- or other-writable: osquery refuses such extensions", name, f.hdr.Mode)
		}
	}
	if m := files[ExtensionPath].hdr.Mode; m != 0o755 || !strings.HasSuffix(ExtensionPath, ".ext") {
		t.Errorf("extension mode %o, want 0755 and the .ext suffix", m)
	}
	if got := string(files[ExtensionsLoad].data); got != "/"+ExtensionPath+"\n" {
		t.Errorf("extensions.load = %q", got)
	}
	flags := string(files[FlagsSnippet].data)
	for _, want := range []string{"--extensions_autoload=/etc/osquery/extensions.load", "--extensions_require=stagewatch", "--extensions_timeout=10\n", "--extensions_interval=3\n"} {
		if !strings.Contains(flags, want) {
			t.Errorf("flags snippet lacks %s:\n%s", want, flags)
		}
	}
	// Every Fleet file in the package is one Fleet accepts.
	for name, f := range files {
		var err error
		switch {
		case f.hdr.Typeflag != tar.TypeReg:
		case name == ShareDir+"/fleet/agent-options.yml" || (strings.HasPrefix(name, ShareDir+"/packs/fleet/") && path.Dir(name) == ShareDir+"/packs/fleet"):
			_, err = fleetspec.DecodeApply(f.data)
		case strings.HasSuffix(name, ".reports.yml"):
			_, err = fleetspec.DecodeGitOpsReports(f.data)
		case strings.HasSuffix(name, ".policies.yml"):
			_, err = fleetspec.DecodeGitOpsPolicies(f.data)
		}
		if err != nil {
			t.Errorf("%s: Fleet would refuse it: %v", name, err)
		}
	}

	// The sample configuration is valid and pins the packaged plugin.
	cfg, err := config.Parse(files[SampleConfig].data, SampleConfig)
	if err != nil {
		t.Fatalf("sample config: %v", err)
	}
	sum := sha256.Sum256(files[PluginDir+"/stagewatch-linux"].data)
	if got := cfg.Stagewatch.Checksums["stagewatch-linux"]; got != hex.EncodeToString(sum[:]) {
		t.Errorf("sample config pins %q, plugin sum is %x", got, sum)
	}
	if cfg.Stagewatch.PluginDir != "/"+PluginDir {
		t.Errorf("sample plugin_dir %q", cfg.Stagewatch.PluginDir)
	}

	// SHA256SUMS covers every file.
	sums := string(files[ShareDir+"/SHA256SUMS"].data)
	for name, f := range files {
		if f.hdr.Typeflag != tar.TypeReg || name == ShareDir+"/SHA256SUMS" {
			continue
		}
		s := sha256.Sum256(f.data)
		if !strings.Contains(sums, hex.EncodeToString(s[:])+"  "+name+"\n") {
			t.Errorf("SHA256SUMS lacks %s", name)
		}
	}

	// Same inputs, same bytes.
	again, err := Build(opts)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(out)
	b, _ := os.ReadFile(again)
	if !bytes.Equal(a, b) {
		t.Error("two builds of the same inputs differ")
	}
}

// The Fleet snippet carries every flag Fleet accepts from Flags, with the
// value and the JSON type osquery's flag type gives it, and Fleet's own
// strict decoding accepts it.
func TestFleetAgentOptionsTyped(t *testing.T) {
	t.Parallel()
	f, err := fleetspec.DecodeApply([]byte(FleetAgentOptions()))
	if err != nil {
		t.Fatalf("Fleet would refuse the snippet: %v\n%s", err, FleetAgentOptions())
	}
	if len(f.AgentOptions) != 1 {
		t.Fatalf("snippet holds %v, want one config document", f.Kinds)
	}
	var got map[string]any
	if err := json.Unmarshal(f.AgentOptions[0].CommandLineFlags, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{}
	for _, fl := range Flags() {
		if !fl.Fleet {
			continue
		}
		// The JSON value a flag of that Go type becomes.
		js, _ := json.Marshal(fl.Value)
		var v any
		_ = json.Unmarshal(js, &v)
		want[fl.Name] = v
	}
	if len(got) != len(want) {
		t.Errorf("command_line_flags %v, want %v", got, want)
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || g != w {
			t.Errorf("command_line_flags.%s = %#v, want %#v", name, g, w)
		}
	}
	if ext, ok := f.AgentOptions[0].Extensions["stagewatch"]; !ok || ext.Platform != "linux" {
		t.Errorf("extensions.stagewatch = %+v", ext)
	}
	// And osquery.flags has them all, the Fleet-refused ones included.
	text := FlagsText()
	for _, fl := range Flags() {
		if line := "--" + fl.Name + "=" + flagText(fl.Value) + "\n"; !strings.Contains(text, line) {
			t.Errorf("osquery.flags lacks %q", line)
		}
	}
}

func TestFlagsHaveOsqueryTypes(t *testing.T) {
	t.Parallel()
	for _, v := range []any{"x", true, int32(-1), uint32(1), uint64(1)} {
		_ = flagText(v) // every osquery flag type renders
	}
	defer func() {
		if recover() == nil {
			t.Error("an int (no osquery flag type) was rendered")
		}
	}()
	_ = flagText(10)
}

func TestArchiveRefusesWritableModes(t *testing.T) {
	t.Parallel()
	_, err := Archive([]Entry{{Name: "x.ext", Mode: 0o775, Data: []byte("x")}}, time.Unix(0, 0))
	if err == nil || !strings.Contains(err.Error(), "writable") {
		t.Fatalf("0775 accepted: %v", err)
	}
}

func TestMissingInputsNamed(t *testing.T) {
	t.Parallel()
	_, err := Build(Options{Version: "1", GOOS: "linux", GOARCH: "amd64", BuildDir: t.TempDir(), RepoDir: "../..", OutDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "stagewatch.ext") {
		t.Fatalf("error %v, want the missing extension named", err)
	}
}

type file struct {
	hdr  *tar.Header
	data []byte
}

func readArchive(t *testing.T, path string) map[string]file {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	out := map[string]file{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(hdr.Name, "./"), "/")
		out[name] = file{hdr: hdr, data: data}
	}
}

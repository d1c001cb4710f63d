// Package packaging lays out the tarball an osquery or Fleet admin deploys:
// the extension where osquery looks for it, the plugins where the host
// finds them, the osquery flags and extensions.load line, a sample
// configuration pinning the plugins' checksums, the packs and the docs.
// Ownership and modes are set in the archive itself (root:root, never
// group- or other-writable), since osquery refuses an extension that is
// writable by others or not owned by root.
package packaging

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Install paths inside the archive (relative to /).
const (
	ExtensionPath  = "usr/local/osquery/extensions/stagewatch.ext"
	PluginDir      = "usr/local/lib/stagewatch/plugins"
	ExtensionsLoad = "etc/osquery/extensions.load"
	FlagsSnippet   = "etc/osquery/stagewatch.flags"
	SampleConfig   = "etc/stagewatch/stagewatch.yaml"
	ShareDir       = "usr/local/share/stagewatch"
	DaemonPath     = "usr/local/bin/stagewatchd"
)

// ExtensionsTimeout is the --extensions_timeout the flags snippet sets:
// osqueryd waits this long for stagewatch to register, which includes
// starting and configuring the plugins.
const ExtensionsTimeout = 10

// ExtensionsInterval is the --extensions_interval the flags snippet sets:
// seconds between osqueryd's and the extension's health checks.
const ExtensionsInterval = 3

// Options say what to package.
type Options struct {
	Version string
	GOOS    string // target OS, linux for now
	GOARCH  string
	// BuildDir holds stagewatch.ext, plugins/ and optionally stagewatchd
	// (make build's output).
	BuildDir string
	// RepoDir is the module root: packs/ and docs/ are read from it.
	RepoDir string
	// OutDir receives stagewatch-<version>-<goos>-<goarch>.tar.gz.
	OutDir string
	// ModTime stamps every entry, so the same inputs give the same archive.
	ModTime time.Time
}

// Entry is one file of the archive.
type Entry struct {
	Name string // path inside the archive, no leading slash
	Mode int64  // permission bits
	Data []byte
	Dir  bool
}

// Name is the archive file name for opts.
func (o Options) Name() string {
	return fmt.Sprintf("stagewatch-%s-%s-%s.tar.gz", o.Version, o.GOOS, o.GOARCH)
}

// Build writes the archive and returns its path.
func Build(opts Options) (string, error) {
	if opts.Version == "" || opts.GOOS == "" || opts.GOARCH == "" {
		return "", fmt.Errorf("version, GOOS and GOARCH are required")
	}
	entries, err := Entries(opts)
	if err != nil {
		return "", err
	}
	data, err := Archive(entries, opts.ModTime)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(opts.OutDir, opts.Name())
	return out, os.WriteFile(out, data, 0o644)
}

// Entries collects the files of the package.
func Entries(opts Options) ([]Entry, error) {
	var entries []Entry
	add := func(name string, mode int64, data []byte) {
		entries = append(entries, Entry{Name: name, Mode: mode, Data: data})
	}
	readFile := func(p string) ([]byte, error) {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("package input: %w", err)
		}
		return data, nil
	}

	ext, err := readFile(filepath.Join(opts.BuildDir, "stagewatch.ext"))
	if err != nil {
		return nil, err
	}
	add(ExtensionPath, 0o755, ext)

	if daemon, err := os.ReadFile(filepath.Join(opts.BuildDir, "stagewatchd")); err == nil {
		add(DaemonPath, 0o755, daemon)
	}

	pluginFiles, err := os.ReadDir(filepath.Join(opts.BuildDir, "plugins"))
	if err != nil {
		return nil, fmt.Errorf("package input: %w", err)
	}
	checksums := map[string]string{}
	for _, f := range pluginFiles {
		if !f.Type().IsRegular() {
			continue
		}
		data, err := readFile(filepath.Join(opts.BuildDir, "plugins", f.Name()))
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		checksums[f.Name()] = hex.EncodeToString(sum[:])
		add(path.Join(PluginDir, f.Name()), 0o755, data)
	}
	if len(checksums) == 0 {
		return nil, fmt.Errorf("package input: no plugins in %s", filepath.Join(opts.BuildDir, "plugins"))
	}

	add(ExtensionsLoad, 0o644, []byte("/"+ExtensionPath+"\n"))
	add(FlagsSnippet, 0o644, []byte(FlagsText()))
	add(SampleConfig, 0o644, []byte(SampleConfigText(checksums)))
	add(path.Join(ShareDir, "fleet", "agent-options.yml"), 0o644, []byte(FleetAgentOptions()))

	// Packs and docs as they are in the tree (generated and checked in).
	copyTree := func(src, dst string, keep func(rel string) bool) error {
		return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(src, p)
			rel = filepath.ToSlash(rel)
			if !keep(rel) {
				return nil
			}
			data, err := readFile(p)
			if err != nil {
				return err
			}
			add(path.Join(dst, rel), 0o644, data)
			return nil
		})
	}
	packsDir := filepath.Join(opts.RepoDir, "packs")
	err = copyTree(packsDir, path.Join(ShareDir, "packs"), func(rel string) bool {
		return strings.HasSuffix(rel, ".conf") || (strings.HasPrefix(rel, "fleet/") && strings.HasSuffix(rel, ".yml"))
	})
	if err != nil {
		return nil, err
	}
	for _, doc := range []string{"deploy.md", "tables.md", "packs.md"} {
		if data, err := os.ReadFile(filepath.Join(opts.RepoDir, "docs", doc)); err == nil {
			add(path.Join("usr/local/share/doc/stagewatch", doc), 0o644, data)
		}
	}
	return withDirs(entries), nil
}

// withDirs adds a root-owned 0755 entry for every parent directory, so
// extracting the archive creates them with safe modes too.
func withDirs(files []Entry) []Entry {
	dirs := map[string]bool{}
	for _, f := range files {
		for d := path.Dir(f.Name); d != "." && d != "/"; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	out := make([]Entry, 0, len(files)+len(dirs))
	for d := range dirs {
		out = append(out, Entry{Name: d, Mode: 0o755, Dir: true})
	}
	out = append(out, files...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Archive writes entries as a gzipped tar owned by root.
func Archive(entries []Entry, modTime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	sums := &strings.Builder{}
	for _, e := range entries {
		if e.Mode&0o022 != 0 {
			return nil, fmt.Errorf("%s: mode %o is group- or other-writable", e.Name, e.Mode)
		}
		hdr := &tar.Header{
			Name: "./" + e.Name, Mode: e.Mode, Uid: 0, Gid: 0, Uname: "root", Gname: "root",
			ModTime: modTime, Format: tar.FormatPAX,
		}
		if e.Dir {
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
		} else {
			hdr.Typeflag = tar.TypeReg
			hdr.Size = int64(len(e.Data))
			sum := sha256.Sum256(e.Data)
			fmt.Fprintf(sums, "%s  %s\n", hex.EncodeToString(sum[:]), e.Name)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.Data); err != nil {
			return nil, err
		}
	}
	sumData := []byte(sums.String())
	hdr := &tar.Header{Name: "./" + path.Join(ShareDir, "SHA256SUMS"), Mode: 0o644, Uname: "root", Gname: "root",
		ModTime: modTime, Typeflag: tar.TypeReg, Size: int64(len(sumData)), Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(sumData); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// OsqueryFlag is one osquery flag stagewatch sets. Value has the Go type of
// the type osquery declares the flag with (FLAG(string, …) is a string,
// FLAG(bool, …) a bool, FLAG(uint64, …) a uint64 …), because Fleet decodes
// command_line_flags strictly into those types: a number for a string flag
// makes Fleet refuse the whole agent options.
type OsqueryFlag struct {
	Name  string
	Value any
	// Comment goes above the flag in osquery.flags, one line per element.
	Comment []string
	// Fleet is false for a flag fleetd sets itself and Fleet refuses in
	// command_line_flags.
	Fleet bool
}

// Flags are the osquery flags stagewatch needs, in the order they are
// written. osquery declares all four as strings in
// osquery/extensions/extensions.cpp (CLI_FLAG(string, extensions_autoload …),
// CLI_FLAG(string, extensions_require …), CLI_FLAG(string, extensions_timeout,
// "3" …), CLI_FLAG(string, extensions_interval, "3" …)) and reads the two
// durations with atoi.
func Flags() []OsqueryFlag {
	return []OsqueryFlag{
		{
			Name: "extensions_autoload", Value: "/" + ExtensionsLoad,
			Comment: []string{
				"osqueryd starts every extension listed in extensions.load, and refuses to",
				"run its schedule until stagewatch has registered.",
			},
			// fleetd writes its own extensions.load and passes this flag;
			// Fleet refuses it in command_line_flags.
			Fleet: false,
		},
		{Name: "extensions_require", Value: "stagewatch", Fleet: true},
		{
			Name: "extensions_timeout", Value: strconv.Itoa(ExtensionsTimeout),
			Comment: []string{
				"Seconds osqueryd waits for stagewatch to register (plugins start first);",
				"osqueryd passes it to the extension as --timeout, and table calls are cut",
				"at 80% of it.",
			},
			Fleet: true,
		},
		{
			Name: "extensions_interval", Value: strconv.Itoa(ExtensionsInterval),
			Comment: []string{"Seconds between osqueryd <-> extension health checks."},
			Fleet:   true,
		},
	}
}

// flagText is v as osquery reads it on a command line or in a flagfile.
func flagText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case int32:
		return strconv.FormatInt(int64(v), 10)
	case uint32:
		return strconv.FormatUint(uint64(v), 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	}
	panic(fmt.Sprintf("packaging: osquery has no flag type for %T", v))
}

// flagYAML is v as a YAML scalar of the same type: strings are always
// quoted, so "10" stays a string.
func flagYAML(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return flagText(v)
}

// FlagsText is what an admin appends to osquery.flags.
func FlagsText() string {
	var b strings.Builder
	b.WriteString("# stagewatch: append to /etc/osquery/osquery.flags (or your --flagfile).\n")
	for _, f := range Flags() {
		for _, c := range f.Comment {
			b.WriteString("# " + c + "\n")
		}
		fmt.Fprintf(&b, "--%s=%s\n", f.Name, flagText(f.Value))
	}
	return b.String()
}

// SampleConfigText is the sample /etc/stagewatch/stagewatch.yaml: the host
// section pins each plugin's SHA-256, so a modified plugin is refused.
func SampleConfigText(checksums map[string]string) string {
	names := make([]string, 0, len(checksums))
	for n := range checksums {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(`# stagewatch configuration, read by stagewatch.ext (osquery extension) and
# stagewatchd. Override the path with STAGEWATCH_CONFIG.
stagewatch:
  plugin_dir: /` + PluginDir + `
  # A plugin whose SHA-256 differs from the one pinned here is refused.
  checksums:
`)
	for _, n := range names {
		fmt.Fprintf(&b, "    %s: %s\n", n, checksums[n])
	}
	b.WriteString(`  # Remote analytics (AWS AN0043, ESXi AN0044) run only when listed.
  remote_analytics: []

# Linux endpoint analytic (auditd exec + fanotify file events). Every key is
# optional; see the analytic's documentation for the defaults.
AN0041: {}
`)
	return b.String()
}

// FleetAgentOptions is the agent_options snippet for delivering the
// extension through fleetd (orbit): a fleetctl apply `kind: config` document.
// command_line_flags is generated from Flags, each value with osquery's type.
func FleetAgentOptions() string {
	var b strings.Builder
	b.WriteString(`# Fleet agent options for stagewatch (requires fleetd/orbit and a TUF
# repository holding the extension as target "extensions/stagewatch",
# file name stagewatch.ext). Merge into your existing agent_options: applying
# this file as is replaces them. command_line_flags is not additive either.
# For a fleet (formerly team), put the same two keys in that fleet's
# agent_options; with GitOps, in agent_options of default.yml or the fleet's
# file.
apiVersion: v1
kind: config
spec:
  agent_options:
    extensions:
      stagewatch:
        channel: stable
        platform: linux
    command_line_flags:
      # osquery declares these flags as strings and Fleet refuses any other
      # type: keep the quotes. fleetd sets extensions_autoload itself.
`)
	for _, f := range Flags() {
		if f.Fleet {
			fmt.Fprintf(&b, "      %s: %s\n", f.Name, flagYAML(f.Value))
		}
	}
	return b.String()
}

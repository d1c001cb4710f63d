package staging

import (
	"fmt"
	"strings"
	"time"

	"github.com/stagewatch/stagewatch/internal/schema"
)

// Defaults for Config fields left zero.
const (
	DefaultTimeWindow       = 30 * time.Minute
	DefaultMinimumFileCount = 2
	DefaultMaxGroups        = 4096
	DefaultMaxFilesPerGroup = 10000
	DefaultMaxFiles         = 100000
	DefaultMaxEvidence      = 32
	DefaultMaxSteps         = 1024
)

// User contexts for Config.UserContext.
const (
	ContextAny         = "any"
	ContextInteractive = "interactive"
	ContextElevated    = "elevated"
)

// Config is one correlator's configuration. Nil lists take the platform's
// defaults; an empty non-nil list means "none".
type Config struct {
	AnalyticID  string // copied into detections
	Platform    string // linux, windows, darwin (selects defaults and PathAuto)
	TechniqueID string // default T1074.001
	DetectionID string // default DET0014
	Host        string // copied into detections

	// StagingDirectories are the staging roots. An element "*" matches any
	// one path element (C:\Users\*\AppData\Local\Temp\).
	StagingDirectories []string
	PathStyle          PathStyle
	// ArchiverPatterns are globs over the executable base name or the
	// canonical tool name (lower case, ".exe" dropped): "tar", "7z*",
	// "compress-archive". Only commands matching one count as archive steps.
	ArchiverPatterns []string
	TimeWindow       time.Duration // default 30m
	// UserContext gates detections on the archiving actor: any (default),
	// interactive, elevated. Interactive and elevated always raise the score.
	UserContext      []string
	MinimumFileCount int // staged files an archive step needs (default 2)
	// AllowedParents are executable base-name globs: an event whose process
	// or any ancestor matches is benign and counted as ignored.
	AllowedParents []string
	// AllowedPaths are path globs ('*' crosses separators) never counted as
	// staging.
	AllowedPaths []string

	// CopySteps makes a copy into a staging directory read from a command
	// line (xcopy, robocopy, cmd's copy, Copy-Item) a step of its own: a
	// batch copy or a copy of sensitive material is a detection by itself,
	// and an archive step of the same actor over it continues that
	// detection (copysteps.go). DET0014's Windows analytic.
	CopySteps bool
	// ArchiveAlone makes an archive step that names a staging directory as
	// its input or output, or collects a user profile's documents, a
	// detection even when it covers fewer than MinimumFileCount staged
	// files (logs of process creations without file creations). DET0014's
	// Windows analytic.
	ArchiveAlone bool
	// ScriptContexts are macOS's ScriptInvocationContext: executable-name
	// globs of the script launchers whose scripts collect files (osascript
	// itself, launchd for launch agents, cron, sshd for ssh sessions). With
	// any set, a write by Finder for an osascript is the osascript's, and a
	// sensitive file collected into a staging directory by such a script
	// is a detection by itself (scripts_mac.go). Nil takes the platform's
	// defaults (none off macOS); empty turns it off.
	ScriptContexts []string

	MaxGroups        int // staging groups tracked (default 4096)
	MaxFilesPerGroup int // file paths kept per group (default 10000)
	MaxFiles         int // file paths kept over all groups (default 100000)
	MaxEvidence      int // evidence events per detection (default 32)
	MaxSteps         int // recent archive/extract/encrypt steps kept (default 1024)
}

// ConfigError is a bad configuration value; Field names the Config field.
type ConfigError struct {
	Field   string
	Problem string
}

func (e *ConfigError) Error() string { return "staging: " + e.Field + ": " + e.Problem }

func fieldErr(field, format string, args ...any) error {
	return &ConfigError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// DefaultStagingDirectories returns the staging roots DET0014 names for a
// platform.
func DefaultStagingDirectories(platform string) []string {
	switch platform {
	case "windows":
		// C:\*\ is every directory directly under the drive (C:\temp,
		// C:\inetpub) but Windows' own (roots.go: windowsTopDirs).
		// The same places on any host's admin shares (\\host\C$\…, ADMIN$
		// being C:\Windows): copies onto them, a copy command's destination
		// here or 5145 on the host that serves them, are remote staging
		// (T1074.002).
		local := []string{`Users\*\AppData\Local\Temp\`, `Windows\Temp\`, `Users\Public\`, `ProgramData\`,
			`PerfLogs\`, `$Recycle.Bin\`, `*\`}
		var dirs []string
		for _, d := range local {
			dirs = append(dirs, `C:\`+d)
		}
		for _, d := range local {
			dirs = append(dirs, `\\*\C$\`+d)
		}
		return append(dirs, `\\*\ADMIN$\Temp\`)
	case "darwin":
		return []string{"/tmp/", "/private/tmp/", "/private/var/tmp/", "/var/folders/*/*/T/", "/private/var/folders/*/*/T/", "/Users/Shared/", "/Volumes/"}
	}
	return []string{"/tmp/", "/var/tmp/", "/mnt/", "/dev/shm/"}
}

// DefaultArchiverPatterns returns the archive and compression tools for a
// platform.
func DefaultArchiverPatterns(platform string) []string {
	common := []string{"tar", "bsdtar", "gtar", "zip", "7z", "7za", "7zr", "7zz", "rar", "gzip", "pigz",
		"bzip2", "pbzip2", "lbzip2", "xz", "pixz", "lzma", "zstd", "pzstd", "zstdmt", "lz4", "lzop", "lzip",
		"plzip", "compress", "brotli", "cpio", "zipfile", "tarfile"}
	switch platform {
	case "windows":
		return append(common, "7zg", "winrar", "makecab", "compress-archive", "wzzip", "winzip32", "winzip64")
	case "darwin":
		return append(common, "ditto", "aa", "hdiutil")
	}
	return common
}

// DefaultScriptContexts returns the script launchers whose scripts
// collect files: osascript, and shell automation under non-GUI parents
// (launchd's agents and daemons, cron and at jobs, ssh logins). None off
// macOS.
func DefaultScriptContexts(platform string) []string {
	if platform == "darwin" {
		return []string{"osascript", "launchd", "cron", "atrun", "periodic", "sshd", "sshd-session"}
	}
	return []string{}
}

// DefaultAllowedParents returns the package managers, build tools and
// system maintenance programs whose descendants legitimately fill temp
// directories and compress files.
func DefaultAllowedParents(platform string) []string {
	switch platform {
	case "windows":
		return []string{"msiexec", "trustedinstaller", "tiworker", "wuauclt", "mousocoreworker", "usoclient",
			"dism", "dismhost", "winget", "choco", "msbuild", "cl", "link", "devenv", "vctip", "cleanmgr",
			"compattelrunner", "searchindexer", "mpcmdrun", "msmpeng", "wermgr",
			// Cloud VM guest agents collecting their own logs: AWS's SSM
			// agent and EC2Launch; Azure's, which live under C:\WindowsAzure
			// (a directory under the drive root, so named by path).
			"amazon-ssm-agent", "ssm-agent-worker", "ssm-document-worker", "ec2launch",
			`C:\WindowsAzure\GuestAgent_*\WindowsAzureGuestAgent.exe`, `C:\WindowsAzure\GuestAgent_*\CollectGuestLogs.exe`,
			`C:\WindowsAzure\Packages\WaAppAgent.exe`}
	case "darwin":
		return []string{"installer", "installd", "system_installd", "softwareupdated", "softwareupdate",
			"brew", "xcodebuild", "clang", "clang++", "swift-frontend", "ld", "cc", "make", "go", "cargo",
			"rustc", "mdworker*", "mds*", "mobileassetd", "xcrun"}
	}
	return []string{"dpkg", "dpkg-deb", "apt", "apt-get", "aptitude", "unattended-upgr*", "yum", "dnf", "rpm",
		"zypper", "pacman", "apk", "snapd", "snap", "flatpak", "packagekitd", "pip", "pip3", "npm", "yarn",
		"cargo", "rustc", "go", "gcc", "g++", "cc", "c++", "cc1", "cc1plus", "clang", "clang++", "ld", "ld.*",
		"collect2", "as", "make", "gmake", "cmake", "ninja", "bazel", "gradle", "mvn", "logrotate",
		"systemd-tmpfiles", "updatedb", "mandb", "dracut", "mkinitramfs", "update-initramfs", "dkms",
		"needrestart", "sa1", "sa2", "sysstat", "man-db"}
}

// DefaultAllowedPaths returns build and package scratch paths that are
// never staging, each for the tools that write them ("GLOB by TOOL,…": the
// writer or its parent must be one of them).
func DefaultAllowedPaths(platform string) []string {
	switch platform {
	case "windows":
		return []string{`C:\Windows\Temp\MsiInstaller* by msiexec`, `C:\Users\*\AppData\Local\Temp\msi*.tmp by msiexec`,
			`C:\Windows\Temp\*.etl by svchost,wpr,xperf,logman`,
			// Chrome's installer unpacks setup.exe and chrome.7z into CR_*.tmp,
			// then setup.exe --install-archive unpacks chrome.7z.
			`C:\Users\*\AppData\Local\Temp\CR_*.tmp\* by *_chrome_installer,setup`,
			`C:\Users\*\AppData\Local\Temp\npm-* by npm,node`,
			// Explorer opens a file inside a zip by unpacking it into a
			// Temp<n>_<name>.zip folder of the user's temp.
			`C:\Users\*\AppData\Local\Temp\Temp*_*.zip\* by explorer`}
	case "darwin":
		return []string{"/private/var/folders/*/*/T/go-build* by go,compile,link,asm,cgo,vet",
			"/private/var/folders/*/*/T/com.apple.* by /System/*,/usr/libexec/*,/usr/sbin/*",
			"/private/var/folders/*/*/T/TemporaryItems/* by /System/*,/usr/libexec/*"}
	}
	cc := "gcc,g++,cc,c++,cc1,cc1plus,as,collect2,ld,ld.*,clang,clang++"
	return []string{"/tmp/go-build* by go,compile,link,asm,cgo,vet", "/tmp/cc*.s by " + cc, "/tmp/cc*.o by " + cc,
		"/tmp/cc*.res by " + cc, "/tmp/cc*.ld by " + cc, "/tmp/cc*.le by " + cc,
		"/var/tmp/*.dpkg-* by dpkg,apt,apt-get,unattended-upgr*", "/tmp/pip-* by pip,pip3", "/tmp/npm-* by npm,node",
		"/tmp/rustc* by rustc,cargo", "/tmp/systemd-private-* by systemd", "/var/tmp/systemd-private-* by systemd",
		"/tmp/.X11-unix/* by Xorg,Xwayland,Xvfb,X", "/tmp/.ICE-unix/* by gnome-session*,ksmserver,xfce4-session,startplasma*",
		"/tmp/tmux-* by tmux"}
}

// StyleFor is how paths are spelled on an osquery platform: Windows for
// windows, Mac for darwin, Posix otherwise.
func StyleFor(platform string) PathStyle {
	switch platform {
	case "windows":
		return Windows
	case "darwin":
		return Mac
	}
	return Posix
}

// withDefaults fills zero fields and checks every value.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.DetectionID == "" {
		cfg.DetectionID = schema.DetectionID
	}
	if cfg.TechniqueID == "" {
		cfg.TechniqueID = schema.TechniqueLocal
	}
	switch cfg.PathStyle {
	case PathAuto:
		cfg.PathStyle = StyleFor(cfg.Platform)
	case Posix, Windows, Mac:
	default:
		return cfg, fieldErr("PathStyle", "unknown style %d", cfg.PathStyle)
	}
	if cfg.StagingDirectories == nil {
		cfg.StagingDirectories = DefaultStagingDirectories(cfg.Platform)
	}
	if len(cfg.StagingDirectories) == 0 {
		return cfg, fieldErr("StagingDirectories", "at least one directory is needed")
	}
	if cfg.ArchiverPatterns == nil {
		cfg.ArchiverPatterns = DefaultArchiverPatterns(cfg.Platform)
	}
	if cfg.ScriptContexts == nil {
		cfg.ScriptContexts = DefaultScriptContexts(cfg.Platform)
	}
	if cfg.AllowedParents == nil {
		cfg.AllowedParents = DefaultAllowedParents(cfg.Platform)
	}
	if cfg.AllowedPaths == nil {
		cfg.AllowedPaths = DefaultAllowedPaths(cfg.Platform)
	}
	if cfg.UserContext == nil {
		cfg.UserContext = []string{ContextAny}
	}
	for _, u := range cfg.UserContext {
		switch strings.ToLower(u) {
		case ContextAny, ContextInteractive, ContextElevated:
		default:
			return cfg, fieldErr("UserContext", "unknown context %q (want any, interactive or elevated)", u)
		}
	}
	if cfg.TimeWindow == 0 {
		cfg.TimeWindow = DefaultTimeWindow
	}
	if cfg.TimeWindow < 0 {
		return cfg, fieldErr("TimeWindow", "must be positive, got %v", cfg.TimeWindow)
	}
	if cfg.MinimumFileCount == 0 {
		cfg.MinimumFileCount = DefaultMinimumFileCount
	}
	ints := []struct {
		name string
		v    *int
		def  int
	}{
		{"MinimumFileCount", &cfg.MinimumFileCount, DefaultMinimumFileCount},
		{"MaxGroups", &cfg.MaxGroups, DefaultMaxGroups},
		{"MaxFilesPerGroup", &cfg.MaxFilesPerGroup, DefaultMaxFilesPerGroup},
		{"MaxFiles", &cfg.MaxFiles, DefaultMaxFiles},
		{"MaxEvidence", &cfg.MaxEvidence, DefaultMaxEvidence},
		{"MaxSteps", &cfg.MaxSteps, DefaultMaxSteps},
	}
	for _, f := range ints {
		if *f.v == 0 {
			*f.v = f.def
		}
		if *f.v < 0 {
			return cfg, fieldErr(f.name, "must be positive, got %d", *f.v)
		}
	}
	if cfg.MaxEvidence < 3 {
		return cfg, fieldErr("MaxEvidence", "must be at least 3 (staged files, archive and encryption steps), got %d", cfg.MaxEvidence)
	}
	return cfg, nil
}

// patternSet matches executable base names against globs with no
// allocation: exact names through a map, the rest one by one.
type patternSet struct {
	exact map[string]bool
	globs []string
}

func newPatternSet(field string, patterns []string) (patternSet, error) {
	ps := patternSet{exact: map[string]bool{}}
	for _, p := range patterns {
		n := strings.ToLower(strings.TrimSpace(p))
		n = strings.TrimSuffix(n, ".exe")
		if n == "" {
			return ps, fieldErr(field, "empty pattern")
		}
		if strings.ContainsAny(n, `/\`) {
			return ps, fieldErr(field, "%q: patterns match executable names, not paths", p)
		}
		if strings.ContainsAny(n, "*?") {
			ps.globs = append(ps.globs, n)
		} else {
			ps.exact[n] = true
		}
	}
	return ps, nil
}

// match reports whether the base name (any case, ".exe" or not) matches.
func (ps *patternSet) match(base string) bool {
	if base == "" {
		return false
	}
	var buf [32]byte
	n := len(base)
	if n > 4 && strings.EqualFold(base[n-4:], ".exe") {
		base = base[:n-4]
	}
	if len(base) <= len(buf) {
		for i := 0; i < len(base); i++ {
			buf[i] = lowerASCII(base[i])
		}
		if ps.exact[string(buf[:len(base)])] {
			return true
		}
	} else if ps.exact[strings.ToLower(base)] {
		return true
	}
	for _, g := range ps.globs {
		if Windows.globMatch(g, base) {
			return true
		}
	}
	return false
}

func (ps *patternSet) empty() bool { return len(ps.exact) == 0 && len(ps.globs) == 0 }

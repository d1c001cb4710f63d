// Package registry is the one list of stagewatch's analytics: their ids,
// platforms, whether they collect locally or through remote APIs, the file
// name of their external plugin binary, and the constructor of those this
// build carries. The host's supervisor, the configuration, the docs
// generator and the binaries' built-in plugin mode all read it; which
// analytic is this platform's own is set per platform by build tag
// (local_*.go), as kolide/launcher lists its tables per platform.
package registry

import (
	"slices"

	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/plugins/aws/an0043"
	"github.com/stagewatch/stagewatch/plugins/esxi/an0044"
	"github.com/stagewatch/stagewatch/plugins/linux/an0041"
	"github.com/stagewatch/stagewatch/plugins/macos/an0042"
	"github.com/stagewatch/stagewatch/plugins/sdk"
	"github.com/stagewatch/stagewatch/plugins/windows/an0040"
)

// Analytic is one DET0014 analytic as the host knows it.
type Analytic struct {
	ID       string // AN0040…AN0044
	Platform string // osquery platform name: windows, linux, darwin; or aws, esxi
	// Remote analytics collect through remote APIs, from any host, and run
	// only when the configuration enables them.
	Remote bool
	// Plugin is the file name of its external plugin binary: one in
	// plugin_dir replaces the built-in analytic.
	Plugin string
	// New builds the analytic; nil when this build does not carry it.
	// Every build carries every analytic it has code for, so that replay
	// reads any platform's logs on any platform.
	New func() sdk.Analytic
}

// BuiltIn reports whether this build carries the analytic.
func (a Analytic) BuiltIn() bool { return a.New != nil }

var analytics = []Analytic{
	{ID: "AN0040", Platform: "windows", Plugin: "stagewatch-windows.exe", New: func() sdk.Analytic { return an0040.New() }},
	{ID: "AN0041", Platform: "linux", Plugin: "stagewatch-linux", New: func() sdk.Analytic { return an0041.New() }},
	{ID: "AN0042", Platform: "darwin", Plugin: "stagewatch-macos", New: func() sdk.Analytic { return an0042.New() }},
	{ID: "AN0043", Platform: "aws", Remote: true, Plugin: "stagewatch-aws", New: func() sdk.Analytic { return an0043.New() }},
	{ID: "AN0044", Platform: "esxi", Remote: true, Plugin: "stagewatch-esxi", New: func() sdk.Analytic { return an0044.New() }},
}

// All lists every analytic, by id.
func All() []Analytic { return slices.Clone(analytics) }

// Lookup returns the analytic with id.
func Lookup(id string) (Analytic, bool) {
	for _, a := range analytics {
		if a.ID == id {
			return a, true
		}
	}
	return Analytic{}, false
}

// IDs lists every analytic id.
func IDs() []string {
	ids := make([]string, len(analytics))
	for i, a := range analytics {
		ids[i] = a.ID
	}
	return ids
}

// RemoteIDs lists the ids of the remote analytics.
func RemoteIDs() []string {
	var ids []string
	for _, a := range analytics {
		if a.Remote {
			ids = append(ids, a.ID)
		}
	}
	return ids
}

// Local returns this platform's endpoint analytic, if it has one.
func Local() (Analytic, bool) { return LocalFor(localPlatform) }

// LocalFor returns the endpoint analytic of an osquery platform name.
func LocalFor(platform string) (Analytic, bool) {
	for _, a := range analytics {
		if !a.Remote && a.Platform == platform {
			return a, true
		}
	}
	return Analytic{}, false
}

// LocalPlatform is the platform whose endpoint analytic this build runs
// live; empty where none does.
func LocalPlatform() string { return localPlatform }

// Tables are every table this build serves: those of each analytic it
// carries, in registry order, then staging_analytics, which the host fills
// itself. The docs generator and the pack checker read them from here.
func Tables() []sdk.TableSpec {
	var out []sdk.TableSpec
	seen := map[string]bool{}
	for _, a := range analytics {
		if !a.BuiltIn() {
			continue
		}
		for _, t := range a.New().Describe().Tables {
			if !seen[t.Name] {
				seen[t.Name] = true
				out = append(out, t)
			}
		}
	}
	return append(out, schema.AnalyticsTable)
}

package endpoint

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stagewatch/stagewatch/internal/staging"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// An empty list that can never fire is refused, named as the analytic
// names it; the allowlists may be empty (they then allow nothing).
func TestDecodeEmptyLists(t *testing.T) {
	t.Parallel()
	// Names as AN0040 and AN0042 write them, to show the error follows the
	// analytic's own name.
	for _, names := range []Names{
		{StagingDirectories: "StagingDirectoryList", Archivers: "ArchivingCommandPatterns", UserContext: "UserContext"},
		{StagingDirectories: "StagingDirectoryList", Archivers: "CompressionToolList"},
		{StagingDirectories: "SharedDirectoryIndicators", Archivers: "CompressionUtilityList"},
	} {
		descs := names.Elements("linux")
		base := staging.Config{PathStyle: staging.Posix}
		_, err := names.decode(descs, json.RawMessage(`{"`+names.Archivers+`": []}`), base)
		var ce *sdk.ConfigError
		if !errors.As(err, &ce) || ce.Key != names.Archivers || !strings.Contains(ce.Reason, "empty list") {
			t.Errorf("%s: []: %v, want a ConfigError naming %s", names.Archivers, err, names.Archivers)
		}
		for _, raw := range []string{
			`{"AllowedPaths": []}`,
			`{"AllowedParentProcesses": []}`,
			`{"AllowedPaths": [], "AllowedParentProcesses": []}`,
			`{"` + names.Archivers + `": ["tar"]}`,
		} {
			s, err := names.decode(descs, json.RawMessage(raw), base)
			if err != nil {
				t.Errorf("%s: %s: %v", names.Archivers, raw, err)
				continue
			}
			if strings.Contains(raw, `"AllowedPaths": []`) && len(s.corr.AllowedPaths) != 0 {
				t.Errorf("%s: empty AllowedPaths became %v", raw, s.corr.AllowedPaths)
			}
		}
	}
}

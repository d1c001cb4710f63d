//go:build !windows

package an0040

import "github.com/stagewatch/stagewatch/internal/endpoint"

// liveCollection is nil off Windows: live collection reads the Windows
// Event Log; replay works everywhere.
var liveCollection *endpoint.Live

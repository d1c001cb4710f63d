//go:build !darwin

package an0042

import "github.com/stagewatch/stagewatch/internal/endpoint"

// liveCollection is nil off macOS: live collection runs eslogger; replay
// works everywhere.
var liveCollection *endpoint.Live

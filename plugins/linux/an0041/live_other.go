//go:build !linux

package an0041

import "github.com/stagewatch/stagewatch/internal/endpoint"

// liveCollection is nil off Linux: live collection uses Linux kernel
// interfaces; replay works everywhere.
var liveCollection *endpoint.Live

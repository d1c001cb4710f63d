// Package packs carries stagewatch's query packs inside its binaries: a
// stagewatchd copied alone onto a host schedules the DET0014 pack with no
// file beside it, as a single delivered stagewatch.ext serves its tables.
package packs

import _ "embed"

// DET0014 is packs/det0014.conf, the osquery pack generated from
// packs/source/det0014.yaml.
//
//go:embed det0014.conf
var DET0014 []byte

// DET0014Name is the pack's name, as osquery names a pack after its file.
const DET0014Name = "det0014"

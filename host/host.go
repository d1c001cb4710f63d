// Package host is the library behind stagewatchd and the osquery extension:
// it loads and supervises the analytic plugins for this platform and serves
// their tables. Both front ends program against TableSource only.
package host

import (
	"context"

	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// TableSource serves stagewatch's tables: every table the loaded plugins
// provide (rows of a table provided by several plugins are concatenated)
// plus staging_analytics, which the host fills itself.
type TableSource interface {
	// Tables lists the tables served, sorted by name.
	Tables() []sdk.TableSpec
	// Generate produces the rows of one table. Constraints are pushed down
	// to the plugins; emit is called once per batch. An unknown table is an
	// error. Generate returns when ctx ends, with ctx's error.
	Generate(ctx context.Context, table string, constraints []sdk.Constraint, emit func([]sdk.Row) error) error
}

// Command gendocs writes docs/tables.md from the table specs stagewatch.ext
// registers. Run it from the module root: go run ./extensions/cmd/gendocs
package main

import (
	"fmt"
	"os"

	"github.com/stagewatch/stagewatch/extensions/tabledocs"
)

func main() {
	if err := os.WriteFile(tabledocs.Path, tabledocs.Render(tabledocs.Tables()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}

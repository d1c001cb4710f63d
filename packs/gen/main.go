// Command gen regenerates the osquery pack and its Fleet twins from
// packs/source/*.yaml. Run it from the module root: go run ./packs/gen
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/stagewatch/stagewatch/packs/packdef"
)

func main() {
	dir := flag.String("dir", "packs", "packs directory (holds source/)")
	flag.Parse()
	written, err := packdef.Generate(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "packs/gen:", err)
		os.Exit(1)
	}
	for _, path := range written {
		fmt.Println(path)
	}
}

// Command package builds dist/stagewatch-<version>-<goos>-<goarch>.tar.gz
// from make build's output. Run from the module root:
//
//	go run ./extensions/cmd/package --version 0.1.0
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/stagewatch/stagewatch/extensions/packaging"
)

func main() {
	opts := packaging.Options{RepoDir: "."}
	flag.StringVar(&opts.Version, "version", "", "release version (required)")
	flag.StringVar(&opts.GOOS, "goos", "linux", "target OS of the binaries in --build")
	flag.StringVar(&opts.GOARCH, "goarch", "amd64", "target architecture of the binaries in --build")
	flag.StringVar(&opts.BuildDir, "build", "build", "directory holding stagewatch.ext and plugins/")
	flag.StringVar(&opts.OutDir, "out", "dist", "output directory")
	flag.Parse()
	// SOURCE_DATE_EPOCH makes the archive reproducible; otherwise now.
	opts.ModTime = time.Now().UTC().Truncate(time.Second)
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		sec, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "package: bad SOURCE_DATE_EPOCH:", v)
			os.Exit(2)
		}
		opts.ModTime = time.Unix(sec, 0).UTC()
	}
	out, err := packaging.Build(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "package:", err)
		os.Exit(1)
	}
	fmt.Println(out)
}

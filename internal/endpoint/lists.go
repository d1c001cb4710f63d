package endpoint

import (
	"bufio"
	"io"
	"os"
	"strings"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/internal/staging"
)

// Bounds on reading an archiver's list files: what a person or a script
// hands tar -T is names, not data.
const (
	maxListBytes = 1 << 20
	maxListNames = 10000
)

// readLists reads the files a live archiver exec was told to take its
// input names from (tar -T, 7z @list) into ev.Process.Listed: only regular
// files, at most maxListBytes and maxListNames in all.
func readLists(ev *event.Event, style staging.PathStyle) {
	p := &ev.Process
	if len(p.Listed) > 0 {
		return
	}
	cmd := staging.ClassifyProcess(p, style)
	for _, l := range cmd.Lists {
		path := l
		if p.Cwd != "" {
			path = staging.ResolvePath(p.Cwd, l, style)
		}
		p.Listed = appendListed(p.Listed, path)
		if len(p.Listed) >= maxListNames {
			p.Listed = p.Listed[:maxListNames]
			return
		}
	}
}

func appendListed(names []string, path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return names
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		return names
	}
	sc := bufio.NewScanner(io.LimitReader(f, maxListBytes))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() && len(names) < maxListNames {
		if name := strings.TrimRight(sc.Text(), "\r"); strings.TrimSpace(name) != "" {
			names = append(names, name)
		}
	}
	return names
}

package packdef

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Sources loads every pack source under dir/source.
func Sources(dir string) ([]*Source, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "source", "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no pack sources in %s", filepath.Join(dir, "source"))
	}
	sort.Strings(paths)
	var out []*Source
	for _, p := range paths {
		src, err := Load(p)
		if err != nil {
			return nil, err
		}
		out = append(out, src)
	}
	return out, nil
}

// Expected renders every pack source under dir, keyed by output path
// (relative to dir).
func Expected(dir string) (map[string][]byte, error) {
	srcs, err := Sources(dir)
	if err != nil {
		return nil, err
	}
	all := map[string][]byte{}
	for _, s := range srcs {
		files, err := s.Render()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
		for k, v := range files {
			if _, dup := all[k]; dup {
				return nil, fmt.Errorf("two packs render %s", k)
			}
			all[k] = v
		}
	}
	return all, nil
}

// Generate writes every rendered file under dir and returns the paths whose
// content changed.
func Generate(dir string) ([]string, error) {
	files, err := Expected(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for k := range files {
		names = append(names, k)
	}
	sort.Strings(names)
	var written []string
	for _, name := range names {
		path := filepath.Join(dir, name)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, files[name]) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return written, err
		}
		if err := os.WriteFile(path, files[name], 0o644); err != nil {
			return written, err
		}
		written = append(written, path)
	}
	return written, nil
}

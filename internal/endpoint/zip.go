package endpoint

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// MaxZipBytes bounds a zip archive replayed: a zip's directory is at its
// end, so the archive is spooled to a temporary file first (never held in
// memory), and no further than this.
const MaxZipBytes = 4 << 30

// isZip reports whether head starts a zip archive (a local file header,
// or the end record of an empty one).
func isZip(head []byte) bool {
	return bytes.HasPrefix(head, []byte("PK\x03\x04")) || bytes.HasPrefix(head, []byte("PK\x05\x06"))
}

// decodeZip spools the zip archive r to a temporary file and decodes each
// member (gzip-compressed members decompressed) with decode, which is
// given the member's head for choosing its format. The counts add up; a
// member that fails is named in the error, and the members after it are
// still read.
func decodeZip(ctx context.Context, r io.Reader, decode func(member io.Reader, head []byte) (DecodeStats, error)) (DecodeStats, error) {
	var total DecodeStats
	spool, err := os.CreateTemp("", "stagewatch-replay-*.zip")
	if err != nil {
		return total, fmt.Errorf("zip: spooling: %w", err)
	}
	defer func() {
		spool.Close()
		os.Remove(spool.Name())
	}()
	n, err := io.Copy(spool, io.LimitReader(r, MaxZipBytes+1))
	if err != nil {
		return total, fmt.Errorf("zip: spooling: %w", err)
	}
	if n > MaxZipBytes {
		return total, fmt.Errorf("zip: archive larger than %d bytes", int64(MaxZipBytes))
	}
	zr, err := zip.NewReader(spool, n)
	if err != nil {
		return total, fmt.Errorf("zip: %w", err)
	}
	var errs []error
	for _, f := range zr.File {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		if f.FileInfo().IsDir() || strings.HasSuffix(f.Name, "/") {
			continue
		}
		ds, err := decodeMember(f, decode)
		total.Records += ds.Records
		total.ParseErrors += ds.ParseErrors
		if total.FirstError == "" && ds.FirstError != "" {
			total.FirstError = f.Name + ": " + ds.FirstError
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("zip member %s: %w", f.Name, err))
		}
	}
	return total, errors.Join(errs...)
}

func decodeMember(f *zip.File, decode func(io.Reader, []byte) (DecodeStats, error)) (DecodeStats, error) {
	rc, err := f.Open()
	if err != nil {
		return DecodeStats{}, err
	}
	defer rc.Close()
	in, head, err := openInput(rc)
	if err != nil {
		return DecodeStats{}, err
	}
	return decode(in, head)
}

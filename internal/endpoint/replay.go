package endpoint

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/stagewatch/stagewatch/internal/event"
)

// MaxLineBytes bounds one line of a line-oriented log. Real records stay
// well below it (the kernel splits audit EXECVE records, eslogger writes an
// event per line); a longer line is garbage and is skipped, counted.
const MaxLineBytes = 1 << 20

// sniffBytes is how much of an input format detection looks at.
const sniffBytes = 4096

// Format is one shape of recorded log an analytic replays.
type Format struct {
	Name    string   // as --format names it: "auditd"
	Aliases []string // other names accepted for it
	// Sniff reports whether an input starting with head (decompressed) is
	// in this format; nil never matches, so the format is chosen only by
	// name or as the analytic's first.
	Sniff func(head []byte) bool
	// Decode reads one input to its end, calling emit for every event.
	Decode func(ctx context.Context, r io.Reader, emit func(*event.Event)) (DecodeStats, error)
}

// DecodeStats are what one input held.
type DecodeStats struct {
	Records     uint64
	ParseErrors uint64
	FirstError  string // the first parse error, with where it was
}

// LineParser parses a line-oriented log a line at a time.
type LineParser interface {
	// Line parses one line (without its newline); an error describes a
	// malformed line and is only reported, the parser counting its skips.
	Line(line []byte) error
	// Flush hands over what is still being assembled at the end of input.
	Flush()
	// ParseErrors counts the records skipped as malformed.
	ParseErrors() uint64
}

// LineFormat is a Format read line by line: the line reading, its bound
// and its error counting are shared, the parser is the analytic's.
func LineFormat(name string, aliases []string, sniff func([]byte) bool, parser func(emit func(*event.Event)) LineParser) Format {
	return Format{
		Name: name, Aliases: aliases, Sniff: sniff,
		Decode: func(ctx context.Context, r io.Reader, emit func(*event.Event)) (DecodeStats, error) {
			return readLines(ctx, r, parser(emit))
		},
	}
}

func readLines(ctx context.Context, r io.Reader, p LineParser) (DecodeStats, error) {
	var (
		stats   DecodeStats
		tooLong uint64
		readErr error
	)
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		if err := ctx.Err(); err != nil {
			readErr = err
			break
		}
		line, err := readLine(br)
		if len(line) > 0 {
			stats.Records++
			if len(line) > MaxLineBytes {
				tooLong++
				if stats.FirstError == "" {
					stats.FirstError = fmt.Sprintf("line %d: longer than %d bytes", stats.Records, MaxLineBytes)
				}
			} else if perr := p.Line(line); perr != nil && stats.FirstError == "" {
				stats.FirstError = fmt.Sprintf("line %d: %v", stats.Records, perr)
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
	}
	p.Flush()
	stats.ParseErrors = p.ParseErrors() + tooLong
	return stats, readErr
}

// readLine returns the next line without its newline, nil at the end. A
// line past MaxLineBytes is read to its end but only its first bytes are
// kept, enough to report it.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line) <= MaxLineBytes {
			line = append(line, chunk...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		line = trimNewline(line)
		if err != nil && len(line) == 0 {
			return nil, err
		}
		return line, err
	}
}

func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n uint64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += uint64(n)
	return n, err
}

// chooseFormat picks the format named (by name or alias, any case), or,
// with none named, the first whose Sniff matches the input's head, else
// the analytic's first format.
func chooseFormat(formats []Format, name string, head []byte) (*Format, error) {
	if name != "" {
		for i := range formats {
			f := &formats[i]
			if strings.EqualFold(f.Name, name) {
				return f, nil
			}
			for _, a := range f.Aliases {
				if strings.EqualFold(a, name) {
					return f, nil
				}
			}
		}
		return nil, errUnknownFormat
	}
	for i := range formats {
		if formats[i].Sniff != nil && formats[i].Sniff(head) {
			return &formats[i], nil
		}
	}
	return &formats[0], nil
}

var errUnknownFormat = errors.New("unknown input format")

// openInput wraps r so that gzip-compressed input (a rotated log) is read
// decompressed, and returns the head of what will be read, for sniffing.
func openInput(r io.Reader) (io.Reader, []byte, error) {
	// Peek errors are left to the reads that follow, which count what
	// came before them.
	br := bufio.NewReaderSize(r, sniffBytes)
	magic, _ := br.Peek(2)
	var in io.Reader = br
	if bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		in = zr
	}
	hr := bufio.NewReaderSize(in, sniffBytes)
	head, _ := hr.Peek(sniffBytes)
	return hr, head, nil
}

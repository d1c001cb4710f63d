package an0041

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/stagewatch/stagewatch/internal/auditlog"
	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// maxLineBytes bounds one audit.log line. The kernel splits EXECVE records
// well below this; a longer line is garbage and is skipped, counted.
const maxLineBytes = 1 << 20

// Ingest replays one auditd log (audit.log text, raw or enriched) through
// the same pipeline as live events, with no settle delay and the records'
// own clock.
func (a *Analytic) Ingest(ctx context.Context, source, format string, r io.Reader) (sdk.IngestStats, error) {
	var stats sdk.IngestStats
	switch strings.ToLower(format) {
	case "", "auditd", "audit", "audit.log":
	default:
		return stats, fmt.Errorf("an0041: %s: input format %q not understood; AN0041 reads auditd logs (format \"auditd\")", source, format)
	}
	a.mu.Lock()
	configured := a.configured
	a.mu.Unlock()
	if !configured {
		return stats, errors.New("an0041: Ingest before Configure")
	}

	before := a.pipeline.stats().detections
	asm := auditlog.NewAssembler(func(ev *event.Event) {
		stats.Events++
		a.pipeline.direct(ev)
	})
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		firstErr string
		tooLong  uint64
		readErr  error
	)
	for {
		if err := ctx.Err(); err != nil {
			readErr = err
			break
		}
		line, err := readLine(br, &stats.Bytes)
		if len(line) > 0 {
			stats.Records++
			if len(line) > maxLineBytes {
				tooLong++
				if firstErr == "" {
					firstErr = fmt.Sprintf("line %d: longer than %d bytes", stats.Records, maxLineBytes)
				}
			} else if perr := asm.Line(line); perr != nil && firstErr == "" {
				firstErr = fmt.Sprintf("line %d: %v", stats.Records, perr)
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
	}
	asm.Flush()
	stats.ParseErrors = asm.Stats().ParseErrors + tooLong
	stats.FirstError = firstErr
	stats.Detections = a.pipeline.stats().detections - before

	a.mu.Lock()
	a.ingests.parseErrors += stats.ParseErrors
	if a.ingests.firstError == "" && firstErr != "" {
		a.ingests.firstError = source + ": " + firstErr
	}
	a.mu.Unlock()
	if readErr != nil {
		return stats, fmt.Errorf("an0041: reading %s: %w", source, readErr)
	}
	return stats, nil
}

// readLine returns the next line without its newline, nil at the end. A
// line past maxLineBytes is read to its end but only its first bytes are
// kept, enough to report it.
func readLine(br *bufio.Reader, total *uint64) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		*total += uint64(len(chunk))
		if len(line) <= maxLineBytes {
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

package remote

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is exponential back-off with full jitter (the AWS
// architecture blog's "full jitter"): the n-th wait is uniform in
// [0, min(Max, Min·2^n)], never below Min/2, so many collectors failing
// at once do not retry in step.
type Backoff struct {
	Min, Max time.Duration
	n        int
}

// Next returns the wait before the next try and counts the failure.
func (b *Backoff) Next() time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = time.Second
	}
	if hi < lo {
		hi = lo
	}
	ceil := lo << min(b.n, 30)
	if ceil > hi || ceil <= 0 {
		ceil = hi
	}
	b.n++
	return max(lo/2, time.Duration(rand.Int64N(int64(ceil)+1)))
}

// Reset forgets the failures: the next wait is short again.
func (b *Backoff) Reset() { b.n = 0 }

// Failures is how many failures in a row Next has counted.
func (b *Backoff) Failures() int { return b.n }

// Jitter spreads d by ±fraction, so collectors started together do not
// poll together.
func Jitter(d time.Duration, fraction float64) time.Duration {
	if d <= 0 || fraction <= 0 {
		return d
	}
	spread := float64(d) * fraction
	return d + time.Duration((rand.Float64()*2-1)*spread)
}

// Poller runs one collection step every Interval (jittered by 10%)
// until its context ends; a failing step is retried after Backoff
// instead, and its error reported.
type Poller struct {
	Name     string
	Interval time.Duration
	Backoff  Backoff
	// Step does one poll. More true asks for the next step at once (a
	// backlog is being read), without waiting the interval.
	Step func(ctx context.Context) (more bool, err error)
	// Failed is told of each failed step and the wait before the next.
	Failed func(name string, err error, wait time.Duration)
	// Sleep waits (tests make it instant); nil is a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Run polls until ctx ends; it returns ctx's error.
func (p *Poller) Run(ctx context.Context) error {
	sleep := p.Sleep
	if sleep == nil {
		sleep = Sleep
	}
	for {
		more, err := p.Step(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := Jitter(p.Interval, 0.1)
		switch {
		case err != nil:
			wait = p.Backoff.Next()
			if p.Failed != nil {
				p.Failed(p.Name, err, wait)
			}
		case more:
			p.Backoff.Reset()
			continue
		default:
			p.Backoff.Reset()
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// Sleep waits d or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

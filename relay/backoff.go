package relay

import (
	"math/rand/v2"
	"time"
)

// Backoff spaces out attempts exponentially, with jitter so that a hundred
// cameras that failed together do not retry together. It applies to the
// first attempt's failure as much as to later ones.
type Backoff struct {
	Min, Max time.Duration
	// Stable is how long an attempt must have run for the next failure to
	// start again from Min. Zero means 10 s.
	Stable  time.Duration
	attempt int
}

// Next returns how long to wait after an attempt that ran for ran.
func (b *Backoff) Next(ran time.Duration) time.Duration {
	stable := b.Stable
	if stable == 0 {
		stable = 10 * time.Second
	}
	if ran >= stable {
		b.attempt = 0
	}
	d := b.Min
	for i := 0; i < b.attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	b.attempt++
	return jitter(d)
}

// jitter is equal jitter: between half and all of d.
func jitter(d time.Duration) time.Duration {
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(half+1)
}

// Reset forgets past failures.
func (b *Backoff) Reset() { b.attempt = 0 }

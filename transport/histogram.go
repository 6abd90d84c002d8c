package transport

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram counts durations in power-of-two buckets from 1 µs to about 67 s,
// without locks or allocation, so the packet path can record every frame.
// Quantiles are accurate to within a factor of two of the bucket bounds and
// interpolated inside a bucket.
type Histogram struct {
	buckets [27]atomic.Uint64 // bucket i holds [2^(i-1), 2^i) µs; bucket 0 is < 1 µs
	count   atomic.Uint64
	sum     atomic.Int64
}

// Observe records d.
func (h *Histogram) Observe(d time.Duration) {
	us := uint64(d / time.Microsecond)
	if d < 0 {
		us = 0
	}
	i := bits.Len64(us)
	if i >= len(h.buckets) {
		i = len(h.buckets) - 1
	}
	h.buckets[i].Add(1)
	h.count.Add(1)
	h.sum.Add(int64(d))
}

// Count is the number of observations.
func (h *Histogram) Count() uint64 { return h.count.Load() }

// Mean is the average observation.
func (h *Histogram) Mean() time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / int64(n))
}

// Quantile estimates the q-quantile (0 < q <= 1).
func (h *Histogram) Quantile(q float64) time.Duration {
	var counts [27]uint64
	var total uint64
	for i := range h.buckets {
		counts[i] = h.buckets[i].Load()
		total += counts[i]
	}
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var seen float64
	for i, c := range counts {
		if c == 0 {
			continue
		}
		if seen+float64(c) >= rank {
			lo, hi := 0.0, 1.0
			if i > 0 {
				lo, hi = float64(uint64(1)<<(i-1)), float64(uint64(1)<<i)
			}
			frac := (rank - seen) / float64(c)
			return time.Duration((lo + frac*(hi-lo)) * float64(time.Microsecond))
		}
		seen += float64(c)
	}
	return time.Duration(uint64(1)<<(len(counts)-1)) * time.Microsecond
}

package codec

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
func (h *Histogram) Quantile(q float64) time.Duration { return h.Snapshot().Quantile(q) }

// HistogramSnapshot is a histogram's counts at one moment; subtract two to
// look at an interval.
type HistogramSnapshot struct {
	Buckets [27]uint64
	Count   uint64
	Sum     int64
}

// Snapshot copies the counts.
func (h *Histogram) Snapshot() HistogramSnapshot {
	var s HistogramSnapshot
	for i := range h.buckets {
		s.Buckets[i] = h.buckets[i].Load()
	}
	s.Count = h.count.Load()
	s.Sum = h.sum.Load()
	return s
}

// Sub returns the observations made between prev and s.
func (s HistogramSnapshot) Sub(prev HistogramSnapshot) HistogramSnapshot {
	for i := range s.Buckets {
		s.Buckets[i] -= prev.Buckets[i]
	}
	s.Count -= prev.Count
	s.Sum -= prev.Sum
	return s
}

// Quantile estimates the q-quantile (0 < q <= 1).
func (s HistogramSnapshot) Quantile(q float64) time.Duration {
	var total uint64
	for _, c := range s.Buckets {
		total += c
	}
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var seen float64
	for i, c := range s.Buckets {
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
	return time.Duration(uint64(1)<<(len(s.Buckets)-1)) * time.Microsecond
}

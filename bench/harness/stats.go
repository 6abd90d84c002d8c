package harness

import (
	"math"
	"slices"
	"time"
)

// Percentile is the q-quantile (0 <= q <= 1) of xs by linear interpolation
// between the closest ranks (the "R-7" method of spreadsheets and numpy).
// xs need not be sorted; it is not changed. NaN when xs is empty.
func Percentile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return percentileSorted(s, q)
}

func percentileSorted(s []float64, q float64) float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	q = min(max(q, 0), 1)
	h := q * float64(len(s)-1)
	lo := int(math.Floor(h))
	hi := int(math.Ceil(h))
	return s[lo] + (h-float64(lo))*(s[hi]-s[lo])
}

// LatencySummary is glass-to-glass latency over a window, in milliseconds.
type LatencySummary struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// SummarizeLatency computes percentiles of durations.
func SummarizeLatency(ds []time.Duration) *LatencySummary {
	if len(ds) == 0 {
		return nil
	}
	ms := make([]float64, len(ds))
	for i, d := range ds {
		ms[i] = float64(d) / float64(time.Millisecond)
	}
	slices.Sort(ms)
	return &LatencySummary{
		Count: len(ms),
		P50:   percentileSorted(ms, 0.50),
		P95:   percentileSorted(ms, 0.95),
		P99:   percentileSorted(ms, 0.99),
		Max:   ms[len(ms)-1],
	}
}

// Spread is a figure over repetitions: the median and the extremes.
type Spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"n"`
}

// SpreadOf summarizes the values that are not NaN; nil when none are.
func SpreadOf(xs []float64) *Spread {
	var v []float64
	for _, x := range xs {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return nil
	}
	slices.Sort(v)
	return &Spread{Median: percentileSorted(v, 0.5), Min: v[0], Max: v[len(v)-1], N: len(v)}
}

// fitLine fits y = a + b*x by least squares and returns the intercept and
// slope; ok is false with fewer than two distinct x.
func fitLine(x, y []float64) (a, b float64, ok bool) {
	n := float64(len(x))
	if len(x) != len(y) || len(x) < 2 {
		return 0, 0, false
	}
	var sx, sy, sxx, sxy float64
	for i := range x {
		sx += x[i]
		sy += y[i]
		sxx += x[i] * x[i]
		sxy += x[i] * y[i]
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return 0, 0, false
	}
	b = (n*sxy - sx*sy) / den
	a = (sy - b*sx) / n
	return a, b, true
}

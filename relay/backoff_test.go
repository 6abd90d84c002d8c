package relay

import (
	"testing"
	"time"
)

func TestBackoffGrowsWithJitterAndResetsWhenStable(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		w *= time.Millisecond
		d := b.Next(0)
		if d < w/2 || d > w {
			t.Fatalf("attempt %d: %v, want within [%v, %v]", i, d, w/2, w)
		}
	}
	if d := b.Next(time.Minute); d > 100*time.Millisecond {
		t.Fatalf("after a stable run: %v, want back at the minimum", d)
	}
}

func TestBackoffJitterSpreads(t *testing.T) {
	seen := map[time.Duration]bool{}
	for i := 0; i < 50; i++ {
		b := Backoff{Min: time.Second, Max: time.Second}
		seen[b.Next(0)] = true
	}
	if len(seen) < 10 {
		t.Fatalf("only %d distinct delays in 50 tries: no jitter", len(seen))
	}
}

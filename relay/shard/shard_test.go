package shard

import (
	"fmt"
	"math"
	"testing"
)

func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("site%d/cam-%04d", i%17, i)
	}
	return out
}

// The weights are pinned (checked against an independent Python
// implementation of the same FNV-1a + fmix64): a change would move cameras between the shards of
// every deployment at its next upgrade, so it must be deliberate.
func TestStableAcrossRunsAndMachines(t *testing.T) {
	for _, c := range []struct {
		name  string
		index int
		want  uint64
	}{
		{"lobby", 0, 0x6fb77a4f03166cff},
		{"lobby", 1, 0xfc31b29ceb1ee160},
		{"site1/gate", 2, 0x2e127723b3ec5fa6},
	} {
		if got := Weight(c.name, c.index); got != c.want {
			t.Errorf("Weight(%q, %d) = %#x, want %#x", c.name, c.index, got, c.want)
		}
	}
}

func TestOneShardOwnsEverything(t *testing.T) {
	for _, n := range []int{-1, 0, 1} {
		if o := Owner("lobby", n); o != 0 {
			t.Errorf("Owner(lobby, %d) = %d", n, o)
		}
	}
}

// Each of n shards gets about 1/n of the cameras.
func TestBalanced(t *testing.T) {
	all := names(10000)
	for _, n := range []int{2, 3, 4, 7, 16} {
		counts := make([]int, n)
		for _, name := range all {
			o := Owner(name, n)
			if o < 0 || o >= n {
				t.Fatalf("Owner(%q, %d) = %d", name, n, o)
			}
			counts[o]++
		}
		want := float64(len(all)) / float64(n)
		// 5 standard deviations of a binomial count: fails by chance
		// about once in 3 million.
		tol := 5 * math.Sqrt(want*(1-1/float64(n)))
		for i, c := range counts {
			if math.Abs(float64(c)-want) > tol {
				t.Errorf("%d shards: shard %d owns %d of %d cameras, want %.0f ± %.0f", n, i, c, len(all), want, tol)
			}
		}
	}
}

// Going from n to n+1 shards moves about 1/(n+1) of the cameras, all of
// them to the new shard.
func TestGrowingMovesOnlyToTheNewShard(t *testing.T) {
	all := names(10000)
	for n := 1; n <= 8; n++ {
		moved := 0
		for _, name := range all {
			before, after := Owner(name, n), Owner(name, n+1)
			if before == after {
				continue
			}
			moved++
			if after != n {
				t.Fatalf("%d -> %d shards: %q moved from shard %d to %d, an old shard", n, n+1, name, before, after)
			}
		}
		want := float64(len(all)) / float64(n+1)
		tol := 5 * math.Sqrt(want*(1-1/float64(n+1)))
		if math.Abs(float64(moved)-want) > tol {
			t.Errorf("%d -> %d shards: %d of %d cameras moved, want %.0f ± %.0f", n, n+1, moved, len(all), want, tol)
		}
		t.Logf("%d -> %d shards: %d of %d cameras moved (%.1f%%, ideal %.1f%%)", n, n+1, moved, len(all),
			100*float64(moved)/float64(len(all)), 100/float64(n+1))
	}
}

// Shrinking moves only the cameras of the shard that went away.
func TestShrinkingMovesOnlyTheLostShard(t *testing.T) {
	for _, name := range names(10000) {
		before, after := Owner(name, 5), Owner(name, 4)
		if before != after && before != 4 {
			t.Fatalf("5 -> 4 shards: %q moved from shard %d, which still exists, to %d", name, before, after)
		}
	}
}

func BenchmarkOwner(b *testing.B) {
	for b.Loop() {
		Owner("site3/parking-lot-east", 8)
	}
}

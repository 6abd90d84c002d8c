package relay

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestProcsFollowsTheLoad(t *testing.T) {
	var sets []int
	p := &Procs{Max: 4, cur: 2, set: func(n int) int { sets = append(sets, n); return 0 }}
	step := func(load float64, want int) {
		t.Helper()
		p.sample(load)
		if p.cur != want {
			t.Fatalf("load %.2f: GOMAXPROCS %d, want %d (sets %v)", load, p.cur, want, sets)
		}
	}
	// A copy relay of 64 cameras: 4% of a core. Lowered after three calm
	// samples, one step at a time.
	step(0.04, 2)
	step(0.04, 2)
	step(0.04, 1)
	step(0.04, 1) // never below one
	// Busy: raised at once, to what the load needs.
	step(0.7, 2)
	step(2.0, 4)
	step(9.0, 4) // never above Max
	// Hysteresis: lowered while one P fewer would carry the load at under
	// 30% each, for three samples in a row; a sample that is not calm
	// starts the count over.
	step(0.5, 4)
	step(0.5, 4)
	step(0.5, 3)
	step(0.5, 3)
	step(0.5, 3)
	step(0.5, 2)
	step(0.5, 2)
	step(0.5, 2)
	step(0.5, 2) // 0.5 > 0.3 x 1: stays at 2
	step(0.1, 2)
	step(0.7, 2) // not calm: the count starts over
	step(0.1, 2)
	step(0.1, 2)
	step(0.1, 1)
	// At one P, 50% of a core is not busy enough to raise; 70% is.
	step(0.5, 1)
	step(0.61, 2)
	if want := []int{1, 2, 4, 3, 2, 1, 2}; !slices.Equal(sets, want) {
		t.Fatalf("GOMAXPROCS set to %v, want %v", sets, want)
	}
}

// A floor (one P per transcoder) holds whatever the load, and raises
// GOMAXPROCS at once when it goes up.
func TestProcsFloor(t *testing.T) {
	floor := 1
	p := &Procs{Max: 2, cur: 2, Floor: func() int { return floor }, set: func(int) int { return 0 }}
	floor = 2
	for range 5 {
		p.sample(0.01)
	}
	if p.cur != 2 {
		t.Fatalf("GOMAXPROCS %d under a floor of 2", p.cur)
	}
	floor = 1
	for range 3 {
		p.sample(0.01)
	}
	if p.cur != 1 {
		t.Fatalf("GOMAXPROCS %d after the floor went away, want 1", p.cur)
	}
	floor = 5 // more transcoders than CPUs: Max still bounds it
	p.sample(0.01)
	if p.cur != 2 {
		t.Fatalf("GOMAXPROCS %d with a floor of 5 and Max 2, want 2", p.cur)
	}
}

// Start samples the process's CPU time every period and Close stops it.
func TestProcsStartClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	var cpu atomic.Int64 // ns of CPU time
	var cur atomic.Int64
	cur.Store(2)
	p := &Procs{Period: 10 * time.Millisecond,
		cpu: func() time.Duration { return time.Duration(cpu.Load()) },
		set: func(n int) int {
			old := cur.Load()
			if n > 0 {
				cur.Store(int64(n))
			}
			return int(old)
		}}
	p.Start()
	if p.Max != 2 {
		t.Fatalf("Max %d, want GOMAXPROCS at start (2)", p.Max)
	}
	deadline := time.Now().Add(5 * time.Second)
	for cur.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // no CPU used: lowered to 1
	}
	if cur.Load() != 1 {
		t.Fatal("an idle process kept 2 Ps")
	}
	// Busy: a whole core of CPU time per period.
	for cur.Load() != 2 && time.Now().Before(deadline) {
		cpu.Add(int64(10 * time.Millisecond))
		time.Sleep(5 * time.Millisecond)
	}
	if cur.Load() != 2 {
		t.Fatal("a busy process was not given its second P")
	}
	p.Close()
}

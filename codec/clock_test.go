package codec

import (
	"math/big"
	"testing"
	"time"
)

func TestNow(t *testing.T) {
	a := Now()
	time.Sleep(2 * time.Millisecond)
	b := Now()
	if a < 0 || b-a < int64(2*time.Millisecond) {
		t.Errorf("Now went from %d to %d over 2 ms", a, b)
	}
	if n := testing.AllocsPerRun(100, func() { _ = Now() }); n != 0 {
		t.Errorf("Now allocates %v", n)
	}
}

// elapsedRef is floor(ns*rate/1e9) mod 2^32, computed without overflow.
func elapsedRef(ns int64, rate int) uint32 {
	v := new(big.Int).Mul(big.NewInt(ns), big.NewInt(int64(rate)))
	v.Quo(v, big.NewInt(int64(time.Second)))
	v.Mod(v, new(big.Int).Lsh(big.NewInt(1), 32))
	return uint32(v.Uint64())
}

func TestElapsed(t *testing.T) {
	for _, tc := range []struct {
		name string
		ns   int64
		rate int
		want uint32
	}{
		{"zero", 0, 90000, 0},
		{"negative", -int64(time.Second), 90000, 0},
		{"zero rate", int64(time.Second), 0, 0},
		{"negative rate", int64(time.Second), -90000, 0},
		{"1 s video", int64(time.Second), 90000, 90000},
		{"40 ms video", int64(40 * time.Millisecond), 90000, 3600},
		{"20 ms PCMU", int64(20 * time.Millisecond), 8000, 160},
		{"1024 samples at 48 kHz", int64(1024 * time.Second / 48000), 48000, 1023}, // the duration rounds down
		{"1 ns", 1, 90000, 0},
		{"11112 ns", 11112, 90000, 1},
		{"wraps after 13.3 h", int64(13*time.Hour + 30*time.Minute), 90000, elapsedRef(int64(13*time.Hour+30*time.Minute), 90000)},
		{"100 h video", int64(100 * time.Hour), 90000, elapsedRef(int64(100*time.Hour), 90000)},
		{"1000 h 48 kHz", int64(1000 * time.Hour), 48000, elapsedRef(int64(1000*time.Hour), 48000)},
		{"max int64", 1<<63 - 1, 90000, elapsedRef(1<<63-1, 90000)},
	} {
		if got := Elapsed(tc.ns, tc.rate); got != tc.want {
			t.Errorf("%s: Elapsed(%d, %d) = %d, want %d", tc.name, tc.ns, tc.rate, got, tc.want)
		}
	}
}

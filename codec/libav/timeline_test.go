package libav

import (
	"testing"
	"time"
)

// feed places frames at the given PTS (ms), received at the same instants,
// and returns the slots written (repeats included) and the drops.
func feed(c *slotClock, ptsMS ...int) (slots []int64, drops int) {
	for _, p := range ptsMS {
		recv := int64(p) * int64(time.Millisecond)
		slot, repeats, drop := c.place(time.Duration(p)*time.Millisecond, recv, uint64(p)*90)
		if drop {
			drops++
			continue
		}
		for i := repeats; i > 0; i-- {
			slots = append(slots, slot-int64(i))
			c.commit(slot - int64(i))
		}
		slots = append(slots, slot)
		c.commit(slot)
	}
	return slots, drops
}

func TestSlotClockSteady(t *testing.T) {
	c := &slotClock{fps: 25}
	// 25 fps with ±15 ms of jitter: one frame per slot, nothing dropped or
	// repeated.
	slots, drops := feed(c, 1000, 1055, 1065, 1134, 1160, 1215)
	want := []int64{0, 1, 2, 3, 4, 5}
	if drops != 0 || len(slots) != len(want) {
		t.Fatalf("slots %v drops %d", slots, drops)
	}
	for i := range want {
		if slots[i] != want[i] {
			t.Fatalf("slots %v, want %v", slots, want)
		}
	}
	if ts := c.ts(5) - c.ts(0); ts != 5*3600 {
		t.Errorf("5 slots are %d ticks", ts)
	}
}

func TestSlotClockFastAndSlow(t *testing.T) {
	c := &slotClock{fps: 10}
	// A 30 fps camera into 10 fps: two of every three frames dropped (the
	// last one, at 966 ms, is nearest slot 10).
	var pts []int
	for i := range 30 {
		pts = append(pts, i*1000/30)
	}
	slots, drops := feed(c, pts...)
	if len(slots) != 11 || drops != 19 {
		t.Errorf("30 fps into 10: %d slots %v, %d drops", len(slots), slots, drops)
	}
	// A 2 fps camera into 10 fps: four repeats between frames.
	c = &slotClock{fps: 10}
	slots, drops = feed(c, 0, 500, 1000)
	if len(slots) != 11 || drops != 0 || slots[10] != 10 {
		t.Errorf("2 fps into 10: slots %v drops %d", slots, drops)
	}
}

func TestSlotClockJumps(t *testing.T) {
	c := &slotClock{fps: 25}
	feed(c, 0, 40, 80)
	// A pause of 5 s (longer than maxRepeatSlots): no burst of repeats,
	// the timeline jumps by the time that passed.
	slots, _ := feed(c, 5080)
	if len(slots) != 1 || slots[0] != 127 {
		t.Errorf("after a 5 s pause: slots %v, want [127]", slots)
	}
	// The source's clock jumps back an hour while frames keep coming every
	// 40 ms: the output goes on one slot later.
	recv := int64(5120 * time.Millisecond)
	slot, repeats, drop := c.place(-time.Hour, recv, uint64(recv/int64(time.Millisecond))*90)
	if drop || repeats != 0 || slot != 128 {
		t.Errorf("clock jump back: slot %d repeats %d drop %v, want 128", slot, repeats, drop)
	}
	c.commit(slot)
	slot, _, _ = c.place(-time.Hour+40*time.Millisecond, recv+int64(40*time.Millisecond), 0)
	if slot != 129 {
		t.Errorf("after the jump: slot %d, want 129", slot)
	}
}

func TestSlotClockSessions(t *testing.T) {
	c := &slotClock{fps: 25}
	feed(c, 0, 40, 80)
	last := c.lastTS
	// A reconnect whose wall time is behind the output: continue after it.
	c.newSession()
	slot, _, _ := c.place(time.Hour, 0, 0)
	c.commit(slot)
	if c.lastTS != last+3600 {
		t.Errorf("new session starts at %d, want %d", c.lastTS, last+3600)
	}
	// One well after: start at the wall time.
	c.newSession()
	slot, _, _ = c.place(0, int64(10*time.Second), 900000)
	c.commit(slot)
	if c.lastTS != 900000 {
		t.Errorf("new session starts at %d, want 900000", c.lastTS)
	}
}

func TestSlotClockRates(t *testing.T) {
	// 7 fps does not divide 90000: slots must not drift.
	c := &slotClock{fps: 7}
	if got := c.ts(7000) - c.ts(0); got != 90000*1000 {
		t.Errorf("7000 slots at 7 fps: %d ticks", got)
	}
	if c.slotOf(-time.Millisecond) != 0 || c.slotOf(-100*time.Millisecond) != -1 {
		t.Errorf("slots before the origin: %d %d", c.slotOf(-time.Millisecond), c.slotOf(-100*time.Millisecond))
	}
}

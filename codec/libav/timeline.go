package libav

import "time"

// slotClock normalises a camera's frame rate on its own timeline. The output
// has a frame slot every 1/fps of input PTS; an input frame fills the slot its
// PTS falls in (slots are centred on the session's first frame, so jitter of
// up to half a slot either way lands in the right one). Slots the input
// skipped are filled with the previous picture; a second frame in a slot
// already filled is dropped. Everything happens when a frame arrives: no
// timer, so a camera that stops sending makes the output stop too (the sinks
// and MediaMTX deal with a silent publisher).
//
// Output timestamps are 90 kHz ticks on one timeline for the transcoder's
// whole life: a new source session (Begin after a reconnect) continues after
// the last slot written, or at the wall-clock time that passed if that is
// later, so the output never goes back.
type slotClock struct {
	fps int

	started  bool          // a frame of this session has been placed
	origin   time.Duration // input PTS of the session's slot 0
	last     int64         // session slot of the latest output frame
	lastRecv int64         // Received of the latest placed frame
	base     uint64        // output ticks of the session's slot 0

	written bool   // any output slot so far (any session)
	lastTS  uint64 // output ticks of the latest output frame
}

// maxRepeatSlots bounds how many skipped slots are filled in one go: after a
// longer pause a burst of copies of an old picture would only add delay, so
// the timeline jumps instead.
func (c *slotClock) maxRepeatSlots() int64 { return int64(c.fps) }

// newSession makes the next frame start a new session's timeline.
func (c *slotClock) newSession() { c.started = false }

// slotDuration is the length of one slot.
func (c *slotClock) slotDuration() time.Duration { return time.Second / time.Duration(c.fps) }

// slotOf is the session slot whose centre is nearest to pts.
func (c *slotClock) slotOf(pts time.Duration) int64 {
	d := int64(pts-c.origin)*int64(c.fps) + int64(time.Second)/2
	k := d / int64(time.Second)
	if d < 0 && d%int64(time.Second) != 0 {
		k-- // floor, not truncation, for frames before slot 0
	}
	return k
}

// place decides what an input frame at pts (received at recv, codec.Now
// nanoseconds; wall is the output ticks recv corresponds to) does: drop
// reports a frame that falls in a slot already filled; otherwise the frame
// takes slot, and the repeats slots before it were skipped by the input and
// are to be filled with the previous picture first. Commit each slot
// written.
func (c *slotClock) place(pts time.Duration, recv int64, wall uint64) (slot int64, repeats int, drop bool) {
	if !c.started {
		c.started = true
		c.origin = pts
		c.last = -1
		c.lastRecv = recv
		c.base = wall
		if c.written && c.base <= c.lastTS {
			c.base = c.lastTS + c.ticks(1)
		}
		return 0, 0, false
	}
	k := c.slotOf(pts)
	gap := k - c.last - 1
	switch {
	case gap >= 0 && gap <= c.maxRepeatSlots():
		// the common case, with gap skipped slots to fill
	case gap < 0 && gap >= -c.maxRepeatSlots()-1:
		// A second frame in a filled slot, or a little jitter back.
		c.lastRecv = recv
		return 0, 0, true
	default:
		// The source's clock jumped, or it paused for longer than
		// maxRepeatSlots: continue after the wall-clock time that passed.
		n := max(1, (recv-c.lastRecv)/int64(c.slotDuration())) // slots of wall time
		k = c.last + n
		c.origin = pts - time.Duration(k)*c.slotDuration()
		gap = 0
	}
	c.lastRecv = recv
	return k, int(gap), false
}

// commit records that slot was written.
func (c *slotClock) commit(slot int64) {
	c.last = slot
	c.lastTS = c.ts(slot)
	c.written = true
}

// ticks is the 90 kHz length of n slots, computed from the slot count so
// that rates that do not divide 90000 (7 fps) never drift from rounding.
func (c *slotClock) ticks(n int64) uint64 { return uint64(n) * 90000 / uint64(c.fps) }

// ts is the output timestamp of a session slot.
func (c *slotClock) ts(slot int64) uint64 { return c.base + c.ticks(slot) }

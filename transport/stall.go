package transport

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/camrelay/camrelay/codec"
)

// repeater runs f every period from a timer, with no goroutine of its own
// between runs (a relay of hundreds of cameras keeps no goroutine per camera
// for its periodic chores), until f returns false or stop is called.
type repeater struct {
	period time.Duration
	f      func() bool

	mu      sync.Mutex // held by a run, so stop waits for one in progress
	t       *time.Timer
	stopped bool
}

func repeat(period time.Duration, f func() bool) *repeater {
	r := &repeater{period: period, f: f}
	r.mu.Lock()
	r.t = time.AfterFunc(period, r.run)
	r.mu.Unlock()
	return r
}

func (r *repeater) run() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	if !r.f() {
		r.stopped = true
		return
	}
	r.t.Reset(r.period)
}

// stop ends the repeats; f does not run after it returns.
func (r *repeater) stop() {
	r.mu.Lock()
	r.stopped = true
	r.t.Stop()
	r.mu.Unlock()
}

// stallWatch is a source session's stall watchdog: no media for longer than
// the stall timeout ends the session even when its connection stays open.
// It checks five times per timeout.
type stallWatch struct {
	r       *repeater
	stalled atomic.Bool
}

// watchStall starts the watchdog. last is codec.Now of the newest media (0
// or earlier than now before any: the timeout then counts from now); onStall
// runs once, from the watchdog's timer, and must unblock the session's
// read.
func watchStall(stall time.Duration, last func() int64, onStall func()) *stallWatch {
	w := &stallWatch{}
	start := codec.Now()
	w.r = repeat(max(stall/5, 50*time.Millisecond), func() bool {
		if time.Duration(codec.Now()-max(last(), start)) > stall {
			w.stalled.Store(true)
			onStall()
			return false
		}
		return true
	})
	return w
}

// stop ends the watchdog and reports whether it found the session stalled.
func (w *stallWatch) stop() bool {
	w.r.stop()
	return w.stalled.Load()
}

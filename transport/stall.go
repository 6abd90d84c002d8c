package transport

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/camrelay/camrelay/codec"
)

// stallWatch is a source session's stall watchdog: no media for longer than
// the stall timeout ends the session even when its connection stays open.
// It checks five times per timeout, from its own goroutine, which stop ends.
type stallWatch struct {
	done    chan struct{}
	wg      sync.WaitGroup
	stalled atomic.Bool
}

// watchStall starts the watchdog. last is codec.Now of the newest media (0
// or earlier than now before any: the timeout then counts from now); onStall
// runs once, from the watchdog's goroutine, and must unblock the session's
// read.
func watchStall(stall time.Duration, last func() int64, onStall func()) *stallWatch {
	w := &stallWatch{done: make(chan struct{})}
	start := codec.Now()
	w.wg.Go(func() {
		t := time.NewTicker(max(stall/5, 50*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-w.done:
				return
			case <-t.C:
				if time.Duration(codec.Now()-max(last(), start)) > stall {
					w.stalled.Store(true)
					onStall()
					return
				}
			}
		}
	})
	return w
}

// stop ends the watchdog and reports whether it found the session stalled.
func (w *stallWatch) stop() bool {
	close(w.done)
	w.wg.Wait()
	return w.stalled.Load()
}

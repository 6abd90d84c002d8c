package relay

import (
	"testing"
	"time"
)

// The history keeps one entry per change, the time the state began, the
// reason of a failure, and only the last historyLen entries.
func TestStateHistory(t *testing.T) {
	p := &pipeline{}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	set := func(s State, k SinkState, at time.Time, err string) {
		p.state, p.since, p.sinkState, p.sinkSince, p.lastErr = s, at, k, at, err
		p.history.note(p)
	}
	set(StateConnecting, SinkWaiting, t0, "")
	set(StateConnecting, SinkWaiting, t0, "") // no change
	set(StateStreaming, SinkPublishing, t0.Add(time.Second), "")
	set(StateError, SinkPublishing, t0.Add(2*time.Second), "describe: 404 Not Found")
	h := p.history.list()
	if len(h) != 3 || h[0].State != StateConnecting || h[1].State != StateStreaming || h[2].Reason != "describe: 404 Not Found" ||
		!h[2].Time.Equal(t0.Add(2*time.Second)) || h[1].SinkState != SinkPublishing {
		t.Fatalf("history: %+v", h)
	}
	for i := range 2 * historyLen {
		st := StateBackoff
		if i%2 == 0 {
			st = StateConnecting
		}
		set(st, SinkPublishing, t0.Add(time.Duration(10+i)*time.Second), "")
	}
	h = p.history.list()
	if len(h) != historyLen || !h[len(h)-1].Time.Equal(t0.Add(time.Duration(10+2*historyLen-1)*time.Second)) || !h[0].Time.Before(h[1].Time) {
		t.Fatalf("history after %d changes: %d entries, first %v, last %v", 2*historyLen, len(h), h[0].Time, h[len(h)-1].Time)
	}
}

package relay

import "time"

// historyLen bounds the state changes kept per camera.
const historyLen = 50

// StateChange is one entry of a camera's state history: the source and
// output states from Time on, and the (redacted) reason when one of them
// failed.
type StateChange struct {
	Time      time.Time `json:"time"`
	State     State     `json:"state"`
	SinkState SinkState `json:"sink_state"`
	Reason    string    `json:"reason,omitempty"`
}

// stateHistory is a pipeline's last historyLen state changes, oldest
// first once full. It is written under the pipeline's mu, by promote,
// which the supervisor runs every second and every status read runs too:
// a state that lasted less than that can be missed, but each entry carries
// the time its state began (the pipeline's since), not when it was seen.
type stateHistory struct {
	buf  [historyLen]StateChange
	n    int // entries kept, up to historyLen
	next int // where the next entry goes
}

// note records the pipeline's current states if they differ from the last
// entry. p.mu must be held.
func (h *stateHistory) note(p *pipeline) {
	reason := ""
	switch p.state {
	case StateBackoff, StateError:
		reason = p.lastErr
	}
	if reason == "" {
		switch p.sinkState {
		case SinkBackoff, SinkError:
			reason = p.sinkErr
		}
	}
	if h.n > 0 {
		last := h.buf[(h.next+historyLen-1)%historyLen]
		if last.State == p.state && last.SinkState == p.sinkState && last.Reason == reason {
			return
		}
	}
	at := p.since
	if p.sinkSince.After(at) {
		at = p.sinkSince
	}
	if at.IsZero() {
		at = time.Now()
	}
	h.buf[h.next] = StateChange{Time: at, State: p.state, SinkState: p.sinkState, Reason: reason}
	h.next = (h.next + 1) % historyLen
	h.n = min(h.n+1, historyLen)
}

// list copies the entries out, oldest first.
func (h *stateHistory) list() []StateChange {
	out := make([]StateChange, 0, h.n)
	for i := range h.n {
		out = append(out, h.buf[(h.next+historyLen-h.n+i)%historyLen])
	}
	return out
}

func (p *pipeline) stateHistory() []StateChange {
	p.promote(time.Now())
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.history.list()
}

// CameraHistory is a running camera's recent state changes, oldest first.
func (s *Supervisor) CameraHistory(name string) ([]StateChange, bool) {
	s.mu.Lock()
	p, ok := s.pipes[name]
	s.mu.Unlock()
	if !ok {
		return nil, false
	}
	return p.stateHistory(), true
}

// CameraHistory is the recent state changes of a camera this instance
// relays (nil for others: direct cameras, or another instance's).
func (a *App) CameraHistory(name string) []StateChange {
	sup := a.Supervisor()
	if sup == nil {
		return nil
	}
	h, _ := sup.CameraHistory(name)
	return h
}

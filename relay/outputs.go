package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/camrelay/camrelay/relay/config"
	"github.com/camrelay/camrelay/relay/ring"
	"github.com/camrelay/camrelay/transport"
)

// output is one of a camera's outputs (config: output, or each of
// outputs). Each has its own reader of the camera's ring, its own retry
// loop and backoff, its own counters and state, so a slow or dead output
// never delays or drops another: the ring's writer never waits for a
// reader, and a reader it laps skips to the next keyframe by itself,
// counting the drop in its own stats.
type output struct {
	index int
	url   string // resolved, with credentials: for scrubbing only
	shown string // redacted, for status and logs
	sink  Sink
	log   *slog.Logger
	stats transport.SinkStats

	// Guarded by the pipeline's mu.
	state    SinkState
	err      string
	since    time.Time
	sessions uint64 // sessions opened before the current attempt
}

// outputCamera is cam as the sink of its output url sees it: Output is
// that URL (what openSink, Supervisor.NewSink and Supervisor.PublishURL
// read); Outputs still lists every output, so publishesWithToken can tell
// the first one.
func outputCamera(cam config.Camera, url string) config.Camera {
	cam.Output = url
	if len(cam.Outputs) == 0 {
		cam.Outputs = []string{url}
	}
	return cam
}

// publishesWithToken reports whether camrelay's publish tokens
// (auth.publish_tokens) go into the output cam.Output of camera cam (as
// outputCamera gives it). The first output is the MediaMTX that trusts
// camrelay's JWKS (the one mediamtx.api and mediamtx-config look after):
// it always gets a token, as a single output always did. Any other output
// gets one only when its URL has no password: an output with credentials
// of its own (a remote MediaMTX with its own users) keeps them.
func publishesWithToken(cam config.Camera) bool {
	list := cam.OutputList()
	if len(list) == 0 || cam.Output == list[0] {
		return true
	}
	u, err := url.Parse(cam.Output)
	if err != nil {
		return true // the publisher reports the bad URL
	}
	_, hasPass := u.User.Password()
	return !hasPass
}

// startOutputs starts one loop per output, each with its own ring reader.
func (p *pipeline) startOutputs() {
	for _, o := range p.outs {
		rd := p.ring.NewReader(ring.NextSync)
		p.done.Add(1)
		go func() {
			defer p.done.Done()
			defer rd.Close()
			p.outputLoop(p.ctx, o, rd, Backoff{Min: p.backoff.Min, Max: p.backoff.Max})
		}()
	}
}

func (p *pipeline) setSinkState(o *output, s SinkState, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if o.state != s {
		o.state, o.since = s, time.Now()
	}
	if err != nil {
		o.err = err.Error()
	}
	p.summarize(o.since)
}

// sinkRank orders output states from fine to worst, for summarize.
var sinkRank = map[SinkState]int{SinkStopped: 0, SinkOnDemand: 0, SinkPublishing: 1, SinkIdle: 2, SinkWaiting: 3, SinkBackoff: 4, SinkError: 5}

// summarize sets the pipeline's one sink state (what the state history
// records) from its outputs: the worst of their states, with that output's
// error (prefixed by which output when there are several). p.mu is held.
func (p *pipeline) summarize(now time.Time) {
	if len(p.outs) == 0 {
		return
	}
	w := p.outs[0]
	for _, o := range p.outs[1:] {
		if sinkRank[o.state] > sinkRank[w.state] {
			w = o
		}
	}
	e := w.err
	if e != "" && len(p.outs) > 1 {
		e = fmt.Sprintf("output %d (%s): %s", w.index, w.shown, e)
	}
	if p.sinkState != w.state {
		p.sinkState, p.sinkSince = w.state, now
	}
	p.sinkErr = e
}

// outputLoop publishes to one output until ctx ends, retrying on its own.
func (p *pipeline) outputLoop(ctx context.Context, o *output, rd *ring.Reader, b Backoff) {
	var sessions uint64
	idle, failed := false, false
	p.retry(ctx, attempts{what: "sink", backoff: b,
		begin: func() {
			if !idle && !failed {
				// After ErrIdle the sink waits for new media in its
				// Run, and after a failure it tries again: status keeps
				// saying idle, backoff or error, and why, until a
				// session opens (promoteOutputs), so a dead server shows
				// as one state, not as backoff and waiting in turn.
				p.setSinkState(o, SinkWaiting, nil)
			}
			idle, failed = false, false
			sessions = o.stats.Sessions.Load()
			p.mu.Lock()
			o.sessions = sessions
			p.mu.Unlock()
		},
		run:        func() error { return o.sink.Run(ctx, rd) },
		progressed: func() bool { return o.stats.Sessions.Load() != sessions },
		again: func(err error) bool {
			switch {
			case errors.Is(err, transport.ErrTracksChanged):
				o.log.Info("source tracks changed, publishing again")
				return true
			case errors.Is(err, transport.ErrIdle):
				o.log.Info("source silent past the publish timeout: session closed until the camera sends new media")
				p.setSinkState(o, SinkIdle, p.scrub(err))
				idle = true
				return true
			}
			return false
		},
		// A server that comes back (MediaMTX started late or restarted)
		// is found within sinkRetryMax, not after the camera's backoff;
		// a refusal an operator must fix keeps the full backoff.
		limit: func(err error) time.Duration {
			if needsOperator(err) {
				return 0
			}
			return p.sinkRetryMax
		},
		failed: func(err error, wait time.Duration) {
			state := SinkBackoff
			if needsOperator(err) {
				state = SinkError
			}
			err = p.scrub(err)
			failed = true
			p.mu.Lock()
			o.sessions = o.stats.Sessions.Load() // a session of the failed attempt is not the next one
			p.mu.Unlock()
			p.setSinkState(o, state, err)
			o.log.Warn("publish failed", "err", err.Error(), "retry_in", wait.Round(time.Millisecond).String())
		}})
}

// promoteOutputs moves outputs from waiting (or idle, backoff, error) to
// publishing once a session of the current attempt opened; p.mu is held.
func (p *pipeline) promoteOutputs(now time.Time) {
	for _, o := range p.outs {
		switch o.state {
		case SinkWaiting, SinkIdle, SinkBackoff, SinkError:
		default:
			continue
		}
		if o.stats.Sessions.Load() > o.sessions {
			o.state, o.since = SinkPublishing, now
			o.err = ""
		}
	}
	p.summarize(now)
}

// outputsStatus fills st.Sinks (one per output) and st.Sink (the first, as
// before outputs existed) and adds every output's drops to st.Drops.
func (p *pipeline) outputsStatus(st *CameraStatus) {
	if len(p.outs) == 0 {
		// On demand: served by camrelay's RTSP server, no output of its own.
		p.mu.Lock()
		st.Sink = SinkStatus{State: SinkOnDemand, Since: p.started}
		if p.state == StateStopped {
			st.Sink.State, st.Sink.Since = SinkStopped, p.since
		}
		p.mu.Unlock()
		return
	}
	st.Sinks = make([]SinkStatus, len(p.outs))
	p.mu.Lock()
	for i, o := range p.outs {
		st.Sinks[i] = SinkStatus{Output: o.index, URL: o.shown, State: o.state, Since: o.since, LastError: o.err}
	}
	p.mu.Unlock()
	for i, o := range p.outs {
		k, s := &o.stats, &st.Sinks[i]
		s.Sessions, s.Packets, s.Frames = k.Sessions.Load(), k.Packets.Load(), k.Frames.Load()
		s.Dropped, s.Skipped, s.Rebases = k.Dropped.Load(), k.Skipped.Load(), k.Rebases.Load()
		s.LatencyP50, s.LatencyP99 = k.Latency.Quantile(0.5), k.Latency.Quantile(0.99)
		st.Drops += s.Dropped
	}
	st.Sink = st.Sinks[0]
}

// stopOutputs marks every output stopped; their loops have ended.
func (p *pipeline) stopOutputs(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, o := range p.outs {
		o.state, o.since = SinkStopped, now
	}
	p.summarize(now)
}

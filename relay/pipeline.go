package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/camrelay/camrelay/codec"
	"github.com/camrelay/camrelay/relay/config"
	"github.com/camrelay/camrelay/relay/ring"
	"github.com/camrelay/camrelay/transport"
)

// Source pulls one camera; transport.RTSPSource is one. Run handles one
// session and returns why it ended (nil when ctx ended).
type Source interface {
	Run(ctx context.Context, w transport.PacketWriter) error
}

// Sink publishes one camera; transport.RTSPPublisher is one.
type Sink interface {
	Run(ctx context.Context, r transport.PacketReader) error
}

// State of a camera's source, as status reports it.
type State string

// Source states.
const (
	StateConnecting State = "connecting"
	StateStreaming  State = "streaming"
	StateBackoff    State = "backoff"
	StateError      State = "error" // backing off after a failure an operator must fix (auth, path)
	StateStopped    State = "stopped"
	StateIdle       State = "idle" // on demand, and nobody is watching
)

// SinkState is the state of a camera's output, as status reports it.
type SinkState string

// Sink states.
const (
	SinkWaiting    SinkState = "waiting" // for the source's first keyframe
	SinkPublishing SinkState = "publishing"
	SinkBackoff    SinkState = "backoff"
	SinkError      SinkState = "error"
	SinkStopped    SinkState = "stopped"
	SinkOnDemand   SinkState = "on-demand" // served to MediaMTX by camrelay's RTSP server
	// SinkIdle: the source was silent past publish_timeout, so the session
	// was closed (the path is not ready at MediaMTX); it opens again when
	// the camera sends new media.
	SinkIdle SinkState = "idle"
)

// pipeline is one camera: a source loop writing the ring, one sink loop
// per output reading it (outputs.go). It owns every goroutine.
type pipeline struct {
	cam    config.Camera // resolved
	log    *slog.Logger
	ring   *ring.Ring
	source Source
	// outs are the camera's outputs, in configuration order; none for an
	// on-demand camera.
	outs []*output
	// transcoder, for mode: transcode, sits between the source and the
	// ring.
	transcoder codec.Transcoder
	// snaps caches snapshots (snapshot.go), taken on request.
	snaps snapshotCache

	srcStats transport.SourceStats

	mu         sync.Mutex
	state      State
	since      time.Time
	lastErr    string
	reconnects uint64
	started    time.Time
	// sinkState, sinkErr and sinkSince sum up the outputs as one state:
	// the worst of them, and its error (outputs.go summarize).
	sinkState SinkState
	sinkErr   string
	sinkSince time.Time
	// sessionStart is codec.Now() when the current source attempt began.
	sessionStart int64
	rate         rateSampler
	history      stateHistory // recent state changes (history.go)

	ctx     context.Context
	cancel  context.CancelFunc
	done    sync.WaitGroup
	backoff Backoff
	// sinkRetryMax caps the sink's delay between attempts, except after
	// failures an operator must fix (Supervisor.SinkBackoffMax).
	sinkRetryMax time.Duration

	// On demand: the source runs while demand > 0, and for releaseAfter
	// after the last viewer left. The release timer's callback is counted
	// in done, so stop waits for a disconnect in progress.
	demand       int
	srcCancel    context.CancelFunc
	srcDone      chan struct{}
	releaseTimer *pendingRelease
	releaseAfter time.Duration
}

func (p *pipeline) start(parent context.Context, backoffMin, backoffMax time.Duration) {
	p.ctx, p.cancel = context.WithCancel(parent)
	p.backoff = Backoff{Min: backoffMin, Max: backoffMax}
	now := time.Now()
	p.state, p.since, p.started = StateConnecting, now, now
	p.sinkState, p.sinkSince = SinkWaiting, now
	for _, o := range p.outs {
		o.state, o.since = SinkWaiting, now
	}
	if p.cam.OnDemand {
		p.state = StateIdle
		p.sinkState = SinkOnDemand
		return
	}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		p.sourceLoop(p.ctx, p.backoff)
	}()
	p.startOutputs() // outputs.go
}

// acquire counts a viewer of an on-demand camera and connects the camera if
// it is not connected (started). The caller waits for the ring's epoch to
// pass epoch: the new source session's tracks.
func (p *pipeline) acquire() (epoch uint32, started bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.demand++
	p.stopReleaseTimer()
	if p.srcCancel != nil || p.ctx.Err() != nil {
		return 0, false
	}
	epoch, _ = p.ring.Tracks()
	ctx, cancel := context.WithCancel(p.ctx)
	done := make(chan struct{})
	p.srcCancel, p.srcDone = cancel, done
	p.state, p.since = StateConnecting, time.Now()
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		defer close(done)
		p.sourceLoop(ctx, Backoff{Min: p.backoff.Min, Max: p.backoff.Max})
	}()
	p.log.Info("camera demanded: connecting")
	return epoch, true
}

// release forgets a viewer; the camera is disconnected releaseAfter after
// the last one left (MediaMTX's own close delay has passed already).
func (p *pipeline) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.demand--
	if p.demand > 0 || p.srcCancel == nil || p.ctx.Err() != nil {
		return
	}
	p.done.Add(1)
	r := &pendingRelease{}
	r.timer = time.AfterFunc(p.releaseAfter, func() {
		defer p.done.Done()
		p.disconnect(r)
	})
	p.releaseTimer = r
}

// pendingRelease is one scheduled disconnect. Its callback knows it by
// pointer, never reads timer (set under p.mu after the callback may have
// started), and acts only while it is still p.releaseTimer.
type pendingRelease struct{ timer *time.Timer }

// disconnect ends the on-demand source session when r is still the
// pending release.
func (p *pipeline) disconnect(r *pendingRelease) {
	p.mu.Lock()
	if p.demand > 0 || p.srcCancel == nil || p.releaseTimer != r {
		p.mu.Unlock()
		return
	}
	cancel, done := p.srcCancel, p.srcDone
	p.srcCancel, p.srcDone, p.releaseTimer = nil, nil, nil
	p.mu.Unlock()
	cancel()
	<-done
	p.mu.Lock()
	p.state, p.since = StateIdle, time.Now()
	p.mu.Unlock()
	p.log.Info("camera released: no viewers")
}

// discard frees what build made for a pipeline that never started.
func (p *pipeline) discard() {
	if p.transcoder != nil {
		p.transcoder.Close()
	}
}

// stopReleaseTimer cancels a pending release; p.mu is held. A callback
// that already started sees releaseTimer changed and does nothing.
func (p *pipeline) stopReleaseTimer() {
	if p.releaseTimer != nil && p.releaseTimer.timer.Stop() {
		p.done.Done() // the callback will never run
	}
	p.releaseTimer = nil
}

// stop ends both loops (and a pending release) and waits for them.
func (p *pipeline) stop() {
	p.mu.Lock()
	p.cancel() // under mu: a release after this schedules nothing
	p.stopReleaseTimer()
	p.mu.Unlock()
	p.done.Wait()
	if p.transcoder != nil {
		p.transcoder.Close() // after the source loop: nothing writes to it any more
	}
	p.mu.Lock()
	p.state, p.since = StateStopped, time.Now()
	p.sinkState, p.sinkSince = SinkStopped, p.since
	p.mu.Unlock()
	p.stopOutputs(time.Now())
}

// protect runs f, turning a panic into an error so that one broken camera
// is retried instead of taking the process down.
func (p *pipeline) protect(what string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("panic recovered", "in", what, "panic", p.scrub(fmt.Errorf("%v", r)).Error(), "stack", string(debug.Stack()))
			err = fmt.Errorf("%s panicked: %v", what, r)
		}
	}()
	return f()
}

// scrub removes the camera's credentials (source and outputs) from err's
// text. Errors come from libraries that quote URLs and passwords as they
// were given; status and log show them only through here.
func (p *pipeline) scrub(err error) error {
	if err == nil {
		return nil
	}
	urls := []string{p.cam.Source, p.cam.Output}
	for _, o := range p.outs {
		urls = append(urls, o.url)
	}
	return transport.Scrub(err, urls...)
}

func (p *pipeline) setState(s State, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != s {
		p.state, p.since = s, time.Now()
	}
	if err != nil {
		p.lastErr = err.Error()
	}
}

// needsOperator reports failures that retrying will not fix by itself.
func needsOperator(err error) bool {
	var se *transport.StatusError
	if errors.As(err, &se) {
		switch se.Code {
		case 401, 403, 404:
			return true
		}
	}
	return false
}

// attempts describes one side of the pipeline for retry.
type attempts struct {
	what    string // "source" or "sink", for messages
	backoff Backoff
	// begin runs before each attempt, run is the attempt.
	begin func()
	run   func() error
	// progressed says whether the attempt got anywhere, so that the
	// backoff starts over after a long, useful run.
	progressed func() bool
	// again picks out endings that call for a new attempt at once (nil:
	// none do).
	again func(error) bool
	// limit, when set, caps the delay after a failure (0: no cap).
	limit func(error) time.Duration
	// failed reports the other endings, retried after wait.
	failed func(err error, wait time.Duration)
}

// retry runs one side of the pipeline until ctx ends.
func (p *pipeline) retry(ctx context.Context, a attempts) {
	b := a.backoff
	for ctx.Err() == nil {
		a.begin()
		started := time.Now()
		err := p.protect(a.what, a.run)
		if ctx.Err() != nil {
			return
		}
		if err != nil && a.again != nil && a.again(err) {
			continue
		}
		if err == nil {
			err = errors.New(a.what + " ended")
		}
		ran := time.Since(started)
		if !a.progressed() {
			ran = 0 // never got going: keep backing off
		}
		wait := b.Next(ran)
		if a.limit != nil {
			if l := a.limit(err); l > 0 && wait > l {
				wait = jitter(l)
			}
		}
		a.failed(err, wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (p *pipeline) sourceLoop(ctx context.Context, b Backoff) {
	first := true
	var before uint64
	p.retry(ctx, attempts{what: "source", backoff: b,
		begin: func() {
			p.mu.Lock()
			if !first {
				p.reconnects++
			}
			first = false
			if p.state != StateConnecting {
				p.state, p.since = StateConnecting, time.Now()
			}
			// The sampler reports "streaming" once packets of this
			// session flow, so the per-packet path stays free of locks.
			p.sessionStart = codec.Now()
			p.mu.Unlock()
			before = p.srcStats.Packets.Load()
		},
		run:        func() error { return p.source.Run(ctx, p.ring) },
		progressed: func() bool { return p.srcStats.Packets.Load() != before },
		failed: func(err error, wait time.Duration) {
			state := StateBackoff
			if needsOperator(err) {
				state = StateError
			}
			err = p.scrub(err)
			p.setState(state, err)
			p.log.Warn("source failed", "err", err.Error(), "retry_in", wait.Round(time.Millisecond).String())
		}})
}

// ErrNoSnapshot is returned for cameras without video.
var ErrNoSnapshot = errors.New("snapshots are taken from the camera's video: this camera sends none")

package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/camrelay/camrelay/relay/config"
	"github.com/camrelay/camrelay/relay/ring"
	"github.com/camrelay/camrelay/transport"
)

// ErrExists and ErrNotFound are returned by Add, Replace and Remove.
var (
	ErrExists   = errors.New("camera already exists")
	ErrNotFound = errors.New("no such camera")
)

// Supervisor runs one pipeline per camera. Cameras are added, replaced and
// removed while others keep streaming.
type Supervisor struct {
	// Log receives per-camera messages (with a "camera" attribute).
	// Nil means slog.Default().
	Log *slog.Logger
	// NewSource and NewSink build a camera's source and sinks. Nil means
	// the kind transport's registry gives for the URL's scheme. NewSink is
	// called once per output, with cam.Output set to that output's URL.
	NewSource func(cam config.Camera, stats *transport.SourceStats, log *slog.Logger) (Source, error)
	NewSink   func(cam config.Camera, stats *transport.SinkStats, log *slog.Logger) (Sink, error)
	// BackoffMin and BackoffMax bound retry delays. Zero means the
	// config package's defaults.
	BackoffMin, BackoffMax time.Duration
	// SinkBackoffMax caps the delay between publish attempts that failed
	// for a reason that can go away by itself (MediaMTX down, restarting,
	// started late), so that cameras publish again within it once the
	// server is back. Refusals an operator must fix (401, 403, 404) keep
	// the full backoff. Zero means config.DefaultSinkBackoffMax.
	SinkBackoffMax time.Duration
	// RingSize is each camera's ring in bytes (a ring above the default
	// size starts at it and grows on demand). Zero means the default.
	RingSize int
	// PublishURL, when set, gives each publish session its output URL (with
	// a token camrelay minted for that camera's path) instead of the
	// configured one. It is called per output, with cam.Output set to that
	// output's URL (and cam.Outputs listing all of them).
	PublishURL func(cam config.Camera) (string, error)
	// ReleaseGrace is how long an on-demand camera stays connected after
	// its last viewer (MediaMTX, which waits its own sourceOnDemandCloseAfter
	// first) left: it absorbs a viewer coming straight back. Zero means 2 s.
	ReleaseGrace time.Duration

	mu      sync.Mutex
	ctx     context.Context
	cancel  context.CancelFunc
	pipes   map[string]*pipeline
	sampler sync.WaitGroup
	closed  bool
}

// Start prepares the supervisor; call Close to stop every camera.
func (s *Supervisor) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx != nil {
		return
	}
	if s.Log == nil {
		s.Log = slog.Default()
	}
	if s.BackoffMin == 0 {
		s.BackoffMin = config.DefaultBackoffMin
	}
	if s.BackoffMax == 0 {
		s.BackoffMax = config.DefaultBackoffMax
	}
	if s.RingSize == 0 {
		s.RingSize = config.DefaultRingSize
	}
	if s.SinkBackoffMax == 0 {
		s.SinkBackoffMax = config.DefaultSinkBackoffMax
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.pipes = map[string]*pipeline{}
	s.sampler.Add(1)
	go s.sample()
}

// sample refreshes rates and states of every camera once a second.
func (s *Supervisor) sample() {
	defer s.sampler.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-t.C:
			for _, p := range s.snapshot() {
				p.sample(now)
			}
		}
	}
}

func (s *Supervisor) snapshot() []*pipeline {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*pipeline, 0, len(s.pipes))
	for _, p := range s.pipes {
		out = append(out, p)
	}
	return out
}

// Add starts a camera. cam must be resolved (config.Config.Resolved).
func (s *Supervisor) Add(cam config.Camera) error {
	p, err := s.build(cam)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.ctx == nil {
		p.discard()
		return errors.New("supervisor is not running")
	}
	if _, ok := s.pipes[cam.Name]; ok {
		p.discard()
		return fmt.Errorf("camera %q: %w", cam.Name, ErrExists)
	}
	s.pipes[cam.Name] = p
	p.start(s.ctx, s.BackoffMin, s.BackoffMax)
	outs := make([]string, len(p.outs))
	for i, o := range p.outs {
		outs[i] = o.shown
	}
	p.log.Info("camera started", "source", transport.RedactURL(cam.Source), "output", strings.Join(outs, " "))
	return nil
}

// Remove stops a camera and waits until its connections are closed.
func (s *Supervisor) Remove(name string) error {
	s.mu.Lock()
	p, ok := s.pipes[name]
	delete(s.pipes, name)
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("camera %q: %w", name, ErrNotFound)
	}
	p.stop()
	p.log.Info("camera stopped")
	return nil
}

// Replace restarts a camera with new settings.
func (s *Supervisor) Replace(cam config.Camera) error {
	p, err := s.build(cam)
	if err != nil {
		return err
	}
	s.mu.Lock()
	old, ok := s.pipes[cam.Name]
	if ok {
		delete(s.pipes, cam.Name)
	}
	s.mu.Unlock()
	if !ok {
		p.discard()
		return fmt.Errorf("camera %q: %w", cam.Name, ErrNotFound)
	}
	old.stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		p.discard()
		return errors.New("supervisor is closed")
	}
	s.pipes[cam.Name] = p
	p.start(s.ctx, s.BackoffMin, s.BackoffMax)
	p.log.Info("camera restarted with new settings")
	return nil
}

// Apply makes the running cameras match cams (resolved): it starts new
// ones, stops missing ones and restarts only those whose settings changed.
func (s *Supervisor) Apply(cams []config.Camera) error {
	want := map[string]config.Camera{}
	for _, c := range cams {
		if !c.Disabled {
			want[c.Name] = c
		}
	}
	var errs []error
	for _, p := range s.snapshot() {
		c, keep := want[p.cam.Name]
		switch {
		case !keep:
			errs = append(errs, s.Remove(p.cam.Name))
		case !c.Equal(p.cam):
			errs = append(errs, s.Replace(c))
		}
		delete(want, p.cam.Name)
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		errs = append(errs, s.Add(want[n]))
	}
	return errors.Join(errs...)
}

// Names lists the running cameras.
func (s *Supervisor) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.pipes))
	for n := range s.pipes {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Transcoders is the number of cameras with a transcoder: each keeps a
// thread busy in libav (Procs leaves a processor for each).
func (s *Supervisor) Transcoders() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.pipes {
		if p.transcoder != nil {
			n++
		}
	}
	return n
}

// Status reports every camera, sorted by name.
func (s *Supervisor) Status() []CameraStatus {
	ps := s.snapshot()
	out := make([]CameraStatus, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.status())
	}
	slices.SortFunc(out, func(a, b CameraStatus) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// CameraStatus reports one camera.
func (s *Supervisor) CameraStatus(name string) (CameraStatus, bool) {
	s.mu.Lock()
	p, ok := s.pipes[name]
	s.mu.Unlock()
	if !ok {
		return CameraStatus{}, false
	}
	return p.status(), true
}

// Close stops every camera and waits for all of their goroutines.
func (s *Supervisor) Close() {
	s.mu.Lock()
	if s.closed || s.ctx == nil {
		s.mu.Unlock()
		return
	}
	s.closed = true
	ps := make([]*pipeline, 0, len(s.pipes))
	for _, p := range s.pipes {
		ps = append(ps, p)
	}
	s.pipes = map[string]*pipeline{}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.stop()
		}()
	}
	wg.Wait()
	s.cancel()
	s.sampler.Wait()
}

func (s *Supervisor) build(cam config.Camera) (*pipeline, error) {
	s.mu.Lock()
	started := s.ctx != nil
	s.mu.Unlock()
	if !started {
		return nil, errors.New("supervisor is not running")
	}
	p := &pipeline{cam: cam, log: s.Log.With("camera", cam.Name), ring: ring.NewSized(s.RingSize, config.DefaultRingSize), releaseAfter: s.ReleaseGrace,
		sinkRetryMax: s.SinkBackoffMax}
	if p.releaseAfter == 0 {
		p.releaseAfter = 2 * time.Second
	}
	newSource, newSink := s.NewSource, s.NewSink
	var err error
	if s.NewSource == nil {
		p.transcoder, p.source, err = openSource(cam, p.ring, &p.srcStats, p.log)
	} else {
		p.source, err = newSource(cam, &p.srcStats, p.log)
	}
	if err != nil {
		return nil, fmt.Errorf("camera %q: source: %w", cam.Name, err)
	}
	if cam.OnDemand {
		return p, nil // served by the RTSP server when demanded: no sink of its own
	}
	list := cam.OutputList()
	for i, u := range list {
		o := &output{index: i, url: u, shown: transport.RedactURL(u), log: p.log}
		if len(list) > 1 {
			o.log = p.log.With("output", i)
		}
		oc := outputCamera(cam, u) // outputs.go
		if s.NewSink == nil {
			o.sink, err = openSink(oc, &o.stats, o.log, s.PublishURL)
		} else {
			o.sink, err = newSink(oc, &o.stats, o.log)
		}
		if err != nil {
			p.discard()
			field := "output"
			if len(cam.Outputs) > 1 {
				field = fmt.Sprintf("outputs[%d]", i)
			}
			return nil, fmt.Errorf("camera %q: %s: %w", cam.Name, field, err)
		}
		p.outs = append(p.outs, o)
	}
	return p, nil
}

// Demand connects the on-demand camera published at path (if it is not
// connected) and returns a reader of its ring once its tracks are known;
// release undoes it. It is the RTSP server's transport.Demand.
func (s *Supervisor) Demand(ctx context.Context, path string) (transport.PacketReader, func(), error) {
	var p *pipeline
	s.mu.Lock()
	for _, x := range s.pipes {
		if x.cam.Path == path && x.cam.OnDemand {
			p = x
		}
	}
	s.mu.Unlock()
	if p == nil {
		return nil, nil, transport.ErrUnknownPath
	}
	epoch, started := p.acquire()
	for {
		e, tracks, changed := p.ring.Session()
		if (started && e > epoch) || (!started && e > 0 && len(tracks) > 0) {
			break
		}
		select {
		case <-changed:
		case <-ctx.Done():
			p.release()
			st := p.status()
			reason := st.LastError
			if reason == "" {
				reason = "no answer yet"
			}
			return nil, nil, fmt.Errorf("camera %q did not connect in time: %s", p.cam.Name, reason)
		}
	}
	rd := p.ring.NewReader(ring.LatestSync)
	var once sync.Once
	return rd, func() {
		once.Do(func() {
			rd.Close()
			p.release()
		})
	}, nil
}

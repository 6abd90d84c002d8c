package transport

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/camrelay/camrelay/codec"
)

// ProbeResult is what a short look at a camera found.
type ProbeResult struct {
	Tracks   []codec.Track
	Width    int
	Height   int
	FPS      float64 // video frames per second over the probe
	Packets  []uint64
	Duration time.Duration
}

// ProbeRTSP plays an RTSP camera for d and reports its tracks, picture size
// and frame rate.
func ProbeRTSP(ctx context.Context, url, transport string, d time.Duration) (*ProbeResult, error) {
	r := &RTSPReader{URL: url, Transport: transport}
	if err := r.Start(ctx); err != nil {
		return nil, err
	}
	defer r.Close()
	s0 := r.Stats()
	t0 := time.Now()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-r.Done():
		return nil, fmt.Errorf("the camera ended the session: %w", r.Err())
	case <-time.After(d):
	}
	s := r.Stats()
	el := time.Since(t0)
	return &ProbeResult{Tracks: s.Tracks, Width: s.Width, Height: s.Height, Packets: s.Packets, Duration: el,
		FPS: float64(s.Frames-s0.Frames) / el.Seconds()}, nil
}

// ProbeMJPEG reads an MJPEG-over-HTTP camera for d and reports its picture
// size and frame rate.
func ProbeMJPEG(ctx context.Context, o SourceOptions, d time.Duration) (*ProbeResult, error) {
	stats := &SourceStats{}
	src := &MJPEGSource{URL: o.URL, ReadTimeout: o.ReadTimeout, Stats: stats}
	var w probeWriter
	return w.probe(ctx, stats, d, func(ctx context.Context) error { return src.Run(ctx, &w) })
}

// probeSource plays a source of packets for d and reports what it sent.
func probeSource(ctx context.Context, d time.Duration, open func(*SourceStats) PacketSource) (*ProbeResult, error) {
	stats := &SourceStats{}
	src := open(stats)
	var w probeWriter
	return w.probe(ctx, stats, d, func(ctx context.Context) error { return src.Run(ctx, &w) })
}

// probeWriter counts what a source delivers: it is the PacketWriter of a
// copy source and the FrameSink of a frame source.
type probeWriter struct {
	mu      sync.Mutex
	tracks  []codec.Track
	packets []uint64
	frames  uint64
}

func (w *probeWriter) SetTracks(t []codec.Track) uint32 {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tracks, w.packets = t, make([]uint64, len(t))
	return 1
}

func (w *probeWriter) WritePacket(p *codec.Packet) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if int(p.Track) < len(w.packets) {
		w.packets[p.Track]++
		if p.Marker() && w.tracks[p.Track].Kind == codec.KindVideo {
			w.frames++
		}
	}
}

func (w *probeWriter) Begin(t []codec.Track) error {
	w.SetTracks(t)
	return nil
}

func (w *probeWriter) WriteFrame(*codec.Frame) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.frames++
	if len(w.packets) > 0 {
		w.packets[0]++
	}
}

// probe runs run until d has passed since the tracks were known, or it ends.
func (w *probeWriter) probe(ctx context.Context, stats *SourceStats, d time.Duration, run func(context.Context) error) (*ProbeResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	t0 := time.Now()
	var err error
	select {
	case err = <-done:
		if err == nil {
			err = ctx.Err()
		}
		if err == nil {
			err = errors.New("the camera ended the session")
		}
	case <-time.After(d):
	}
	cancel()
	if err != nil {
		return nil, err
	}
	<-done
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.tracks) == 0 {
		return nil, errors.New("no tracks within the probe time")
	}
	el := time.Since(t0)
	return &ProbeResult{Tracks: w.tracks, Width: int(stats.Width.Load()), Height: int(stats.Height.Load()),
		Packets: w.packets, Duration: el, FPS: float64(w.frames) / el.Seconds()}, nil
}

package transport

import (
	"context"
	"fmt"
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

package relay

import (
	"time"

	"github.com/camrelay/camrelay/codec"
	"github.com/camrelay/camrelay/transport"
)

// CameraStatus is what status output and the API show of one camera.
// Every URL and error in it is redacted.
type CameraStatus struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	Source string `json:"source"`
	Output string `json:"output"`

	State      State     `json:"state"`
	Since      time.Time `json:"since"`
	LastError  string    `json:"last_error,omitempty"`
	Reconnects uint64    `json:"reconnects"`

	FPS        float64  `json:"fps"`
	Bitrate    float64  `json:"bitrate_bps"`
	Packets    uint64   `json:"packets"`
	Frames     uint64   `json:"frames"`
	Bytes      uint64   `json:"bytes"`
	Lost       uint64   `json:"lost"`
	Oversized  uint64   `json:"oversized_dropped"`
	Split      uint64   `json:"split"`
	Corrupt    uint64   `json:"corrupt"`
	Drops      uint64   `json:"drops"`
	Tracks     []string `json:"tracks,omitempty"`
	Width      int      `json:"width,omitempty"`
	Height     int      `json:"height,omitempty"`
	LastPacket float64  `json:"seconds_since_packet,omitempty"`

	// Sink is the first output (the only one of a camera with output:),
	// as status showed it before cameras had several.
	Sink SinkStatus `json:"sink"`
	// Sinks are all outputs, in configuration order (outputs:), each with
	// its own state and counters; empty for on-demand cameras.
	Sinks []SinkStatus `json:"sinks,omitempty"`

	Mode string `json:"mode,omitempty"`
	// Transcode is the transcoder's side, for mode: transcode.
	Transcode *TranscodeStatus `json:"transcode,omitempty"`
	// Viewers is how many readers MediaMTX has on the camera's path, when
	// camrelay can ask MediaMTX (mediamtx.api).
	Viewers *int `json:"viewers,omitempty"`
}

// SinkStatus is the publishing side of a camera: one output.
type SinkStatus struct {
	// Output is its index in the camera's outputs, URL its redacted URL.
	Output int    `json:"output"`
	URL    string `json:"url,omitempty"`

	State      SinkState     `json:"state"`
	Since      time.Time     `json:"since"`
	LastError  string        `json:"last_error,omitempty"`
	Sessions   uint64        `json:"sessions"`
	Packets    uint64        `json:"packets"`
	Frames     uint64        `json:"frames"`
	Dropped    uint64        `json:"dropped"` // lost: the source lapped the sink
	Skipped    uint64        `json:"skipped"` // passed over waiting for a keyframe (session start, camera reconnect): not a loss
	Rebases    uint64        `json:"rebases"`
	LatencyP50 time.Duration `json:"latency_p50_ns"`
	LatencyP99 time.Duration `json:"latency_p99_ns"`
}

// rateSampler turns counters into per-second rates between samples.
type rateSampler struct {
	at            time.Time
	frames, bytes uint64
	fps, bitrate  float64
}

func (r *rateSampler) sample(now time.Time, frames, bytes uint64) {
	if !r.at.IsZero() {
		if dt := now.Sub(r.at).Seconds(); dt > 0 {
			r.fps = float64(frames-r.frames) / dt
			r.bitrate = float64(bytes-r.bytes) * 8 / dt
		}
	}
	r.at, r.frames, r.bytes = now, frames, bytes
}

// sample updates rates (over the supervisor's one-second ticks) and
// promotes states that packets prove.
func (p *pipeline) sample(now time.Time) {
	p.mu.Lock()
	p.rate.sample(now, p.srcStats.Frames.Load(), p.srcStats.Bytes.Load())
	p.mu.Unlock()
	p.promote(now)
}

// promote moves the states on once packets prove them: connecting to
// streaming, waiting (or idle) to publishing.
func (p *pipeline) promote(now time.Time) {
	last := p.srcStats.Last.Load()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == StateConnecting && last != 0 && last >= p.sessionStart {
		p.state, p.since = StateStreaming, now
		p.lastErr = ""
	}
	p.promoteOutputs(now) // outputs.go
	p.history.note(p)
}

func (p *pipeline) status() CameraStatus {
	p.promote(time.Now())
	s := &p.srcStats
	p.mu.Lock()
	st := CameraStatus{
		Name:       p.cam.Name,
		Path:       p.cam.Path,
		Source:     transport.RedactURL(p.cam.Source),
		Output:     transport.RedactURL(p.cam.Output),
		State:      p.state,
		Since:      p.since,
		LastError:  p.lastErr,
		Reconnects: p.reconnects,
		FPS:        p.rate.fps,
		Bitrate:    p.rate.bitrate,
	}
	p.mu.Unlock()
	st.Packets, st.Frames, st.Bytes = s.Packets.Load(), s.Frames.Load(), s.Bytes.Load()
	st.Lost, st.Oversized, st.Split, st.Corrupt = s.Lost.Load(), s.Oversized.Load(), s.Split.Load(), s.Corrupt.Load()
	st.Width, st.Height = int(s.Width.Load()), int(s.Height.Load())
	st.Drops = p.ring.TooBig() // and every output's, below
	if last := s.Last.Load(); last != 0 {
		st.LastPacket = time.Duration(codec.Now() - last).Seconds()
	}
	_, tracks := p.ring.Tracks()
	for _, t := range tracks {
		st.Tracks = append(st.Tracks, t.String())
	}
	p.outputsStatus(&st) // outputs.go
	if p.transcoder != nil {
		st.Transcode = transcodeStatus(p.transcoder.Stats())
	}
	return st
}

package relay

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/camrelay/camrelay/codec"
	"github.com/camrelay/camrelay/codec/libav"
	"github.com/camrelay/camrelay/relay/config"
	"github.com/camrelay/camrelay/transport"
)

// Caps is what this binary can do, for config validation: every source
// kind transport knows, and transcoding when built with libav. A binary
// built without libav refuses transcoding cameras at check, at start-up and
// in the API, saying how to build one that can.
func Caps() config.Caps {
	c := config.Caps{Sources: transport.Sources}
	if !libav.Available {
		c.Transcode = libav.ErrNotBuilt
	}
	return c
}

// openSource opens a camera's source through transport's registry: in
// copy mode its packets go into the ring (out) as they are (with audio:
// drop, opus or aac, through an audioFilter that leaves video untouched and
// removes or re-encodes the audio); in transcode
// mode its frames go through a transcoder that writes the ring. The
// pipeline keeps the transcoder across reconnects so that the output
// timeline never goes back, and closes it.
func openSource(cam config.Camera, out codec.PacketWriter, stats *transport.SourceStats, log *slog.Logger) (codec.Transcoder, Source, error) {
	kind, ok := transport.Sources.Lookup(cam.Source)
	if !ok || kind.Open == nil {
		return nil, nil, fmt.Errorf("unsupported source %s", transport.RedactURL(cam.Source))
	}
	src := kind.Open(transport.SourceOptions{URL: cam.Source, Transport: cam.Transport, ReadTimeout: time.Duration(cam.ReadTimeout),
		StallTimeout: time.Duration(cam.StallTimeout), Stats: stats, Log: log})
	if cam.Mode != config.ModeTranscode {
		ps, ok := src.(transport.PacketSource)
		if !ok {
			return nil, nil, fmt.Errorf("a %s source must be transcoded (mode: transcode)", kind.Name)
		}
		switch cam.Audio {
		case "", codec.AudioCopy:
			return nil, ps, nil // the camera's packets go straight into the ring
		case codec.AudioOpus, codec.AudioAAC:
			if !libav.Available {
				return nil, nil, fmt.Errorf("audio: %s: %w", cam.Audio, libav.ErrNotBuilt)
			}
		}
		return nil, audioFilterSource{ps, newAudioFilter(out, cam.Audio, log)}, nil
	}
	fs, ok := src.(transport.FrameSource)
	if !ok {
		return nil, nil, fmt.Errorf("a %s source cannot be transcoded", kind.Name)
	}
	tc, err := libav.New(codec.TranscodeConfig{Video: cam.Video.Codec(), Audio: cam.Audio}, out, log)
	if err != nil {
		return nil, nil, err
	}
	return tc, transcodingSource{fs, tc}, nil
}

// transcodingSource feeds a camera's frames into its transcoder, which
// writes the ring.
type transcodingSource struct {
	src transport.FrameSource
	tc  codec.Transcoder
}

func (t transcodingSource) Run(ctx context.Context, _ transport.PacketWriter) error {
	return t.src.RunFrames(ctx, t.tc)
}

// openSink opens a camera's output through transport's registry.
// publishURL, when set, gives each publish session its URL (with a token
// camrelay minted for the camera's path) instead of the configured one.
func openSink(cam config.Camera, stats *transport.SinkStats, log *slog.Logger, publishURL func(config.Camera) (string, error)) (Sink, error) {
	kind, ok := transport.LookupSink(cam.Output)
	if !ok {
		return nil, fmt.Errorf("unsupported output %s", transport.RedactURL(cam.Output))
	}
	o := transport.SinkOptions{URL: cam.Output, ReadTimeout: time.Duration(cam.ReadTimeout),
		PublishTimeout: time.Duration(cam.PublishTimeout), Stats: stats, Log: log}
	if publishURL != nil {
		o.URLFunc = func() (string, error) { return publishURL(cam) }
	}
	return kind.Open(o), nil
}

// TranscodeStatus is the transcoder side of a camera's status.
type TranscodeStatus struct {
	FramesIn     uint64        `json:"frames_in"`
	FramesOut    uint64        `json:"frames_out"`
	Dropped      uint64        `json:"dropped"`
	Repeated     uint64        `json:"repeated"`
	DecodeErrors uint64        `json:"decode_errors"`
	Reinits      uint64        `json:"reinits"`
	InWidth      int           `json:"in_width"`
	InHeight     int           `json:"in_height"`
	OutWidth     int           `json:"out_width"`
	OutHeight    int           `json:"out_height"`
	LatencyP50   time.Duration `json:"latency_p50_ns"`
	LatencyP99   time.Duration `json:"latency_p99_ns"`
}

func transcodeStatus(s codec.TranscodeStats) *TranscodeStatus {
	return &TranscodeStatus{FramesIn: s.FramesIn, FramesOut: s.FramesOut, Dropped: s.Dropped, Repeated: s.Repeated,
		DecodeErrors: s.DecodeErrors, Reinits: s.Reinits, InWidth: s.InWidth, InHeight: s.InHeight,
		OutWidth: s.OutWidth, OutHeight: s.OutHeight, LatencyP50: s.Latency.Quantile(0.5), LatencyP99: s.Latency.Quantile(0.99)}
}

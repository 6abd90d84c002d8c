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

func init() {
	// A binary built without libav refuses transcoding cameras at check,
	// at start-up and in the API, saying how to build one that can.
	if !libav.Available {
		config.TranscodeUnavailable = libav.ErrNotBuilt.Error()
	}
}

// transcodingSource feeds a camera's frames into its transcoder, which
// writes the ring; the pipeline keeps the transcoder across reconnects so
// that the output timeline never goes back.
type transcodingSource struct {
	rtsp  *transport.RTSPSource
	mjpeg *transport.MJPEGSource
	tc    codec.Transcoder
	stats *transport.SourceStats
}

func (t *transcodingSource) Run(ctx context.Context, _ transport.PacketWriter) error {
	if t.rtsp != nil {
		return t.rtsp.RunRTP(ctx, transport.NewDepacketizer(t.tc, t.stats))
	}
	return t.mjpeg.Run(ctx, t.tc)
}

// newTranscoding builds a transcoding camera's transcoder (writing out)
// and its source.
func newTranscoding(cam config.Camera, out codec.PacketWriter, stats *transport.SourceStats, log *slog.Logger) (codec.Transcoder, Source, error) {
	v := cam.Video
	tc, err := libav.New(codec.TranscodeConfig{
		Video: codec.VideoConfig{Width: v.Width, Height: v.Height, FPS: v.FPS, Bitrate: int(v.Bitrate), Preset: v.Preset,
			GOP: v.GOP, Profile: v.Profile, Scale: v.Scale},
		Audio: cam.Audio,
	}, out, log)
	if err != nil {
		return nil, nil, err
	}
	src := &transcodingSource{tc: tc, stats: stats}
	switch scheme(cam.Source) {
	case "rtsp", "rtsps":
		src.rtsp = &transport.RTSPSource{URL: cam.Source, Transport: cam.Transport, ReadTimeout: time.Duration(cam.ReadTimeout),
			StallTimeout: time.Duration(cam.StallTimeout), Stats: stats, Log: log}
	case "http", "https":
		src.mjpeg = &transport.MJPEGSource{URL: cam.Source, ReadTimeout: time.Duration(cam.ReadTimeout),
			StallTimeout: time.Duration(cam.StallTimeout), Stats: stats, Log: log}
	default:
		tc.Close()
		return nil, nil, fmt.Errorf("unsupported source %s", transport.RedactURL(cam.Source))
	}
	return tc, src, nil
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

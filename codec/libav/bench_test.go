//go:build libav

package libav

import (
	"testing"
	"time"

	"github.com/camrelay/camrelay/codec"
)

// Each benchmark iteration is one input frame at 25 fps on the input
// timeline, so ns/op and allocs/op are per frame: decode, scale, encode,
// packetize.

func benchTranscode(b *testing.B, cfg codec.TranscodeConfig, track codec.Track, frames []codec.Frame) {
	d := &discard{}
	tc, err := New(cfg, d, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tc.Close()
	if err := tc.Begin([]codec.Track{track}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		f := &frames[i%len(frames)]
		f.PTS = time.Duration(i) * 40 * time.Millisecond
		f.Received = codec.Now()
		tc.WriteFrame(f)
		i++
	}
	b.StopTimer()
	st := tc.Stats()
	if st.DecodeErrors != 0 || st.FramesOut != uint64(i) {
		b.Fatalf("%d frames in, stats %+v", i, st)
	}
	b.ReportMetric(float64(st.Latency.Quantile(0.5))/1e6, "p50-ms")
	b.ReportMetric(float64(st.Latency.Quantile(0.99))/1e6, "p99-ms")
	b.ReportMetric(float64(d.bytes*8)/(float64(i)/25)/1e6, "Mbit/s")
}

func BenchmarkTranscodeJPEG720p(b *testing.B) {
	var frames []codec.Frame
	for i := range 25 {
		frames = append(frames, codec.Frame{Codec: "JPEG", JPEG: testJPEG(b, 1280, 720, i*3)})
	}
	benchTranscode(b, video(1280, 720, 25), jpegTrack, frames)
}

func BenchmarkTranscodeH264(b *testing.B) {
	// The 720p clip (an IDR every 50 frames) looped, into H.264 720p.
	var frames []codec.Frame
	for _, nalus := range readClip(b, "../../testdata/clips/h264_1280x720_25.h264", "H264") {
		frames = append(frames, codec.Frame{Codec: "H264", NALUs: nalus})
	}
	benchTranscode(b, video(1280, 720, 25), codec.Track{Kind: codec.KindVideo, Codec: "H264", ClockRate: 90000}, frames)
}

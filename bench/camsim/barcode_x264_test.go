package camsim

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/camrelay/camrelay/codec"
)

// TestBarcodeThroughX264 sends camsim's MJPEG frames through what a
// transcoding relay does to them, with ffmpeg as an independent tool:
// decode, scale (fit with bars, or stretch), x264 ultrafast at a low
// bitrate, decode again. Every frame's barcode must read back as sent.
// Skipped without ffmpeg (it is a test client here, never part of
// camrelay).
func TestBarcodeThroughX264(t *testing.T) {
	if testing.Short() {
		t.Skip("ffmpeg round trips are slow under the race detector")
	}
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("no ffmpeg")
	}
	t.Parallel()
	const n = 20
	f := newJPEGFrames(640, 480, sub420)
	var sc jpegScratch
	var mjpeg bytes.Buffer
	var sent []int64
	base := time.Now().UnixMilli()
	for i := range n {
		ms := base + int64(i)*40
		sent = append(sent, ms)
		mjpeg.Write(f.frame(nil, &sc, i, ms, true))
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in.mjpeg")
	if err := os.WriteFile(in, mjpeg.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, vf string
		w, h     int
		bitrate  string
	}{
		{"fit 1280x720 1.5M", "scale=1280:720:force_original_aspect_ratio=decrease,pad=1280:720:(ow-iw)/2:(oh-ih)/2", 1280, 720, "1500k"},
		{"fit 1280x720 1M", "scale=1280:720:force_original_aspect_ratio=decrease,pad=1280:720:(ow-iw)/2:(oh-ih)/2", 1280, 720, "1000k"},
		{"stretch 320x360 300k", "scale=320:360", 320, 360, "300k"},
		{"stretch 1920x720 2M", "scale=1920:720", 1920, 720, "2000k"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			h264 := filepath.Join(dir, "out.h264")
			enc := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-threads", "1",
				"-f", "mjpeg", "-framerate", "25", "-i", in, "-vf", c.vf+",format=yuv420p",
				"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
				"-b:v", c.bitrate, "-maxrate", c.bitrate, "-bufsize", c.bitrate, "-g", "50", h264)
			if out, err := enc.CombinedOutput(); err != nil {
				t.Fatalf("ffmpeg encode: %v\n%s", err, out)
			}
			dec := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "error", "-threads", "1",
				"-i", h264, "-f", "rawvideo", "-pix_fmt", "gray", "pipe:1")
			raw, err := dec.Output()
			if err != nil {
				t.Fatalf("ffmpeg decode: %v", err)
			}
			size := c.w * c.h
			if len(raw) != n*size {
				t.Fatalf("%d bytes of gray pictures, want %d frames of %dx%d", len(raw), n, c.w, c.h)
			}
			var got []int64
			for i := range n {
				ms, ok := codec.ReadBarcode(raw[i*size:(i+1)*size], c.w, c.w, c.h)
				if !ok {
					ms = -1
				}
				got = append(got, ms)
			}
			if fmt.Sprint(got) != fmt.Sprint(sent) {
				t.Errorf("barcodes read\n%v\nwant\n%v", got, sent)
			}
		})
	}
}

// TestFFmpegReadsRTSP plays camsim's H.265 and RTP/JPEG cameras with
// ffmpeg's RTSP client and depacketizers, an implementation camsim shares
// nothing with: pictures of the right size, and JPEG barcodes that read.
func TestFFmpegReadsRTSP(t *testing.T) {
	if testing.Short() {
		t.Skip("ffmpeg round trips are slow under the race detector")
	}
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("no ffmpeg")
	}
	t.Parallel()
	s, _ := startServer(t,
		CameraConfig{Path: "h265", Codec: "H265", Clip: clip265},
		CameraConfig{Path: "jpeg", Codec: "JPEG", Width: 320, Height: 240},
		CameraConfig{Path: "jpeg422", Codec: "JPEG", Width: 320, Height: 240, Chroma422: true},
	)
	for _, c := range []struct {
		path string
		w, h int
	}{{"h265", 640, 360}, {"jpeg", 320, 240}, {"jpeg422", 320, 240}} {
		t.Run(c.path, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			cmd := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "error", "-threads", "1",
				"-rtsp_transport", "tcp", "-i", s.URL(c.path), "-frames:v", "15", "-f", "rawvideo", "-pix_fmt", "gray", "pipe:1")
			raw, err := cmd.Output()
			if err != nil {
				t.Fatalf("ffmpeg: %v", err)
			}
			size := c.w * c.h
			if len(raw) != 15*size {
				t.Fatalf("%d bytes, want 15 frames of %dx%d", len(raw), c.w, c.h)
			}
			if c.path == "h265" {
				return
			}
			for i := range 15 {
				ms, ok := codec.ReadBarcode(raw[i*size:(i+1)*size], c.w, c.w, c.h)
				if !ok || ms < start.UnixMilli()-100 || ms > time.Now().UnixMilli() {
					t.Errorf("frame %d: barcode %d, %v", i, ms, ok)
				}
			}
		})
	}
}

//go:build libav

package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camrelay/camrelay/bench/camsim"
	"github.com/camrelay/camrelay/codec"
	"github.com/camrelay/camrelay/codec/libav"
	"github.com/camrelay/camrelay/internal/testenv/mtxtest"
	"github.com/camrelay/camrelay/relay"
	"github.com/camrelay/camrelay/transport"
)

// barcodeReader decodes what MediaMTX serves and reads camsim's pixel
// barcodes back: frames, picture size and glass-to-glass latency.
type barcodeReader struct {
	mu        sync.Mutex
	dec       *libav.Decoder
	pictures  int
	codes     int
	w, h      int
	latencies []time.Duration
	errs      int
}

func (e *env) watchBarcodes(path string) (*transport.RTSPReader, *barcodeReader) {
	e.t.Helper()
	dec, err := libav.NewDecoder("H264")
	if err != nil {
		e.t.Fatal(err)
	}
	b := &barcodeReader{dec: dec}
	r := &transport.RTSPReader{URL: e.mtx.RTSPURL(path, "", ""), OnFrame: func(name string, au [][]byte, arrival int64) {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.dec == nil {
			return
		}
		pics, err := b.dec.Decode(&codec.Frame{Codec: "H264", NALUs: au})
		if err != nil {
			// MediaMTX starts a reader mid-GOP: P-frames before the first
			// keyframe cannot decode. Count errors after it only.
			if b.pictures > 0 {
				b.errs++
			}
			return
		}
		for _, p := range pics {
			b.pictures++
			b.w, b.h = p.Width, p.Height
			if ms, ok := codec.ReadBarcode(p.Y, p.Stride, p.Width, p.Height); ok {
				b.codes++
				b.latencies = append(b.latencies, time.Duration(arrival/1e6-ms)*time.Millisecond)
			}
		}
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Start(ctx); err != nil {
		e.t.Fatalf("reading %s: %v", path, err)
	}
	e.t.Cleanup(func() {
		r.Close()
		b.mu.Lock()
		b.dec.Close()
		b.dec = nil
		b.mu.Unlock()
	})
	return r, b
}

// pictureCount is how many pictures were decoded so far.
func (b *barcodeReader) pictureCount() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return uint64(b.pictures)
}

func (b *barcodeReader) snapshot() (pictures, codes, w, h, errs int, p50, p99 time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := append([]time.Duration(nil), b.latencies...)
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	if len(l) > 0 {
		p50, p99 = l[len(l)/2], l[len(l)*99/100]
	}
	return b.pictures, b.codes, b.w, b.h, b.errs, p50, p99
}

// Issue 3, checks 1 and 7: MJPEG over HTTP at 640x480 with a variable frame
// rate comes out of MediaMTX as H.264 1280x720 at 25 fps, decodable, and
// the pixel barcodes give the glass-to-glass latency through the
// transcoder.
func TestMJPEGOverHTTPTranscoded(t *testing.T) {
	e := newEnv(t, mtxtest.Config{})
	if _, err := e.sim.AddMJPEGCamera(camsim.MJPEGConfig{Path: "mj", Width: 640, Height: 480, VariableFPS: true, User: "admin", Pass: "mj-pass", Auth: camsim.AuthBasic}); err != nil {
		t.Fatal(err)
	}
	e.runRelay(fmt.Sprintf(`
output: %s
cameras:
  - name: mj
    source: %q
    video: {width: 1280, height: 720, fps: 25, bitrate: 2M}
`, e.output(), e.sim.MJPEGURL("mj")))
	e.waitReady(15*time.Second, "mj")
	streams := e.ffprobe("mj")
	if len(streams) != 1 || streams[0].CodecName != "h264" || streams[0].Width != 1280 || streams[0].Height != 720 {
		t.Fatalf("ffprobe sees %+v, want h264 1280x720", streams)
	}
	e.ffmpegDecodes("mj", 3)

	r, b := e.watchBarcodes("mj")
	// Settle past the start of a new reader (joining mid-GOP) before
	// measuring: a second of decoded pictures.
	e.eventually(10*time.Second, "a second of decoded pictures at the reader", func() bool { return b.pictureCount() >= 25 })
	// The frame rate over 125 frames (5 s at 25 fps).
	fps := rateOf(10*time.Second, 125, func() uint64 { return r.Stats().Frames })
	if fps < 22.5 || fps > 27.5 {
		t.Errorf("reader received %.1f fps, want 25 within 10%%", fps)
	}
	pics, codes, w, h, errs, p50, p99 := b.snapshot()
	if w != 1280 || h != 720 || errs != 0 {
		t.Errorf("decoded %dx%d with %d errors", w, h, errs)
	}
	if codes < pics*9/10 {
		t.Errorf("barcodes read in %d of %d pictures", codes, pics)
	}
	t.Logf("glass-to-glass through the transcoder (camsim -> camrelay -> MediaMTX -> reader): p50 %v, p99 %v over %d frames", p50, p99, codes)
	if st := e.status("mj"); st.Transcode == nil || st.Transcode.OutWidth != 1280 || st.Transcode.InWidth != 640 {
		t.Errorf("status %+v", st.Transcode)
	}
	assertNoSecrets(t, "camrelay log", e.logs.String(), "mj-pass")

	// A snapshot of the latest picture, through the API.
	code, body := e.call("GET", "/v1/cameras/mj/snapshot.jpg", nil, false)
	if code != 200 || len(body) < 1000 || body[0] != 0xff || body[1] != 0xd8 {
		t.Errorf("snapshot: %d, %d bytes", code, len(body))
	}
}

// Issue 3, checks 2 and 3: every multipart quirk and a bare JPEG stream give
// a stream; corrupt and truncated JPEGs are skipped and counted.
func TestMJPEGQuirksAndDamage(t *testing.T) {
	e := newEnv(t, mtxtest.Config{})
	quirks := map[string]camsim.MJPEGConfig{
		"nolength": {NoContentLength: true},
		"quoted":   {QuotedBoundary: true},
		"dashed":   {DashedBoundary: true},
		"doubled":  {DoubledBoundary: true},
		"junk":     {JunkPrefix: true},
		"bare":     {Bare: true},
		"barejunk": {Bare: true, JunkPrefix: true, ContentType: "application/octet-stream"},
		"damaged":  {CorruptEvery: 7, TruncateEvery: 11, NoContentLength: true},
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "output: %s\ncameras:\n", e.output())
	var names []string
	for name, q := range quirks {
		q.Path, q.Width, q.Height, q.FPS = name, 320, 240, 15
		if _, err := e.sim.AddMJPEGCamera(q); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
		fmt.Fprintf(&cfg, "  - {name: %s, source: %q, video: {width: 320, height: 240, fps: 15}}\n", name, e.sim.MJPEGURL(name))
	}
	e.runRelay(cfg.String())
	e.waitReady(20*time.Second, names...)
	for _, n := range names {
		st := e.status(n)
		f := st.Sink.Frames
		e.eventually(5*time.Second, n+" streaming", func() bool { return e.status(n).Sink.Frames > f+10 })
	}
	// Wait until several damaged JPEGs went through (one in 7 is corrupt,
	// one in 11 truncated, at 15 fps), so that a reconnect they caused
	// would show.
	damaged := func(st relay.CameraStatus) uint64 {
		n := st.Corrupt
		if st.Transcode != nil {
			n += st.Transcode.DecodeErrors
		}
		return n
	}
	waitWithin(10*time.Second, func() bool { return damaged(e.status("damaged")) >= 3 })
	st := e.status("damaged")
	if st.Corrupt == 0 && (st.Transcode == nil || st.Transcode.DecodeErrors == 0) {
		t.Errorf("damaged JPEGs not counted: corrupt %d, transcode %+v", st.Corrupt, st.Transcode)
	}
	if st.Reconnects != 0 {
		t.Errorf("damaged frames made the camera reconnect %d times", st.Reconnects)
	}
	t.Logf("damaged camera: %d corrupt frames skipped, %d decode errors, %d frames out", st.Corrupt, st.Transcode.DecodeErrors, st.Transcode.FramesOut)
}

// Issue 3, check 4: H.265 and MJPEG RTSP cameras transcoded to H.264.
func TestRTSPH265AndMJPEGTranscoded(t *testing.T) {
	e := newEnv(t, mtxtest.Config{})
	e.camera(camsim.CameraConfig{Path: "hevc", Codec: "H265", Clip: "../../testdata/clips/h265_640x360_25.h265"})
	e.camera(camsim.CameraConfig{Path: "rtspjpeg", Codec: "JPEG", Width: 640, Height: 480})
	e.runRelay(fmt.Sprintf(`
output: %s
cameras:
  - {name: hevc, source: %q, mode: transcode, transport: tcp, video: {width: 640, height: 360}}
  - {name: rtspjpeg, source: %q, mode: transcode, transport: tcp, video: {width: 640, height: 480}}
`, e.output(), e.sim.URL("hevc"), e.sim.URL("rtspjpeg")))
	e.waitReady(15*time.Second, "hevc", "rtspjpeg")
	for name, size := range map[string][2]int{"hevc": {640, 360}, "rtspjpeg": {640, 480}} {
		s := e.ffprobe(name)
		if len(s) != 1 || s[0].CodecName != "h264" || s[0].Width != size[0] || s[0].Height != size[1] {
			t.Errorf("%s: ffprobe sees %+v", name, s)
		}
		e.ffmpegDecodes(name, 2)
	}
}

// Issue 3, check 5: a resolution change mid-stream: the output keeps its
// size and never stops.
func TestResolutionChangeMidStream(t *testing.T) {
	e := newEnv(t, mtxtest.Config{})
	cam, err := e.sim.AddMJPEGCamera(camsim.MJPEGConfig{Path: "rs", Width: 640, Height: 480, ResizeAt: 75, ResizeWidth: 800, ResizeHeight: 600})
	if err != nil {
		t.Fatal(err)
	}
	e.runRelay(fmt.Sprintf("output: %s\ncameras:\n  - {name: rs, source: %q, video: {width: 1280, height: 720}}\n", e.output(), e.sim.MJPEGURL("rs")))
	e.waitReady(15*time.Second, "rs")
	r, b := e.watchBarcodes("rs")
	e.eventually(10*time.Second, "the camera to change its size", func() bool { return cam.FramesSent() > 80 })
	// The output rate from the change on, over 75 pictures (3 s at 25 fps).
	fps := rateOf(10*time.Second, 75, b.pictureCount)
	select {
	case <-r.Done():
		t.Fatalf("the viewer's session ended at the size change: %v", r.Err())
	default:
	}
	_, _, w, h, errs, _, _ := b.snapshot()
	st := e.status("rs")
	if w != 1280 || h != 720 || errs != 0 || st.Transcode.Reinits == 0 || st.Transcode.InWidth != 800 {
		t.Errorf("after the change: output %dx%d, %d errors, transcode %+v", w, h, errs, st.Transcode)
	}
	if fps < 22.5 {
		t.Errorf("output rate %.1f fps in the 75 pictures after the change, want 25: it stalled", fps)
	}
	if st.Reconnects != 0 || st.State != relay.StateStreaming {
		t.Errorf("the pipeline restarted: %+v", st)
	}
}

// Issue 3: audio in transcode mode: copy, drop, or encode to Opus or AAC.
func TestTranscodeAudioModes(t *testing.T) {
	e := newEnv(t, mtxtest.Config{})
	modes := map[string]string{"acopy": "copy", "adrop": "drop", "aopus": "opus", "aaac": "aac"}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "output: %s\ncameras:\n", e.output())
	for name, mode := range modes {
		e.camera(camsim.CameraConfig{Path: name, Audio: audioClip})
		fmt.Fprintf(&cfg, "  - {name: %s, source: %q, mode: transcode, transport: tcp, audio: %s, video: {width: 320, height: 240}}\n", name, e.sim.URL(name), mode)
	}
	e.runRelay(cfg.String())
	e.waitReady(15*time.Second, "acopy", "adrop", "aopus", "aaac")
	want := map[string]string{"acopy": "h264,pcm_mulaw", "adrop": "h264", "aopus": "h264,opus", "aaac": "h264,aac"}
	for name, w := range want {
		var got []string
		for _, s := range e.ffprobe(name) {
			got = append(got, s.CodecName)
		}
		if strings.Join(got, ",") != w {
			t.Errorf("%s: ffprobe sees %v, want %s", name, got, w)
		}
	}
	e.ffmpegDecodes("aopus", 2)
	e.ffmpegDecodes("aaac", 2)
}

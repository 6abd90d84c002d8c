package camsim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camrelay/camrelay/codec"
	"github.com/camrelay/camrelay/transport"
)

// End-to-end tests of the MJPEG cameras against transport.MJPEGSource, the
// reader camrelay uses (bench may import transport; transport's own tests
// use hand-written streams instead).

// jpegSink collects frames with their arrival time.
type jpegSink struct {
	mu     sync.Mutex
	jpegs  [][]byte
	arrive []time.Time
}

func (s *jpegSink) Begin(tracks []codec.Track) error {
	if len(tracks) != 1 || tracks[0].Codec != "JPEG" {
		return errors.New("unexpected tracks")
	}
	return nil
}

func (s *jpegSink) WriteFrame(f *codec.Frame) {
	s.mu.Lock()
	s.jpegs = append(s.jpegs, bytes.Clone(f.JPEG))
	s.arrive = append(s.arrive, time.Now())
	s.mu.Unlock()
}

func (s *jpegSink) snapshot() ([][]byte, []time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.jpegs...), append([]time.Time(nil), s.arrive...)
}

// decoded is a frame as a viewer sees it.
type decoded struct {
	w, h    int
	ms      int64 // barcode
	ok      bool  // barcode read
	err     error // image/jpeg's verdict
	latency time.Duration
}

func decodeFrames(jpegs [][]byte, arrive []time.Time) []decoded {
	out := make([]decoded, len(jpegs))
	for i, j := range jpegs {
		img, err := jpeg.Decode(bytes.NewReader(j))
		if err != nil {
			out[i].err = err
			continue
		}
		y := img.(*image.YCbCr)
		d := &out[i]
		d.w, d.h = y.Rect.Dx(), y.Rect.Dy()
		d.ms, d.ok = codec.ReadBarcode(y.Y, y.YStride, d.w, d.h)
		d.latency = arrive[i].Sub(time.UnixMilli(d.ms))
	}
	return out
}

func sample[T any](s []T, step int) []T {
	var out []T
	for i := 0; i < len(s); i += step {
		out = append(out, s[i])
	}
	return out
}

// pullAll runs one source per URL at once (the tests are sleep-bound:
// t.Parallel would run only GOMAXPROCS of them at a time).
func pullAll(t *testing.T, srcs []*transport.MJPEGSource, d time.Duration) ([]*jpegSink, []error) {
	t.Helper()
	sinks := make([]*jpegSink, len(srcs))
	errs := make([]error, len(srcs))
	var wg sync.WaitGroup
	for i, src := range srcs {
		wg.Go(func() { sinks[i], errs[i] = pull(t, src, d) })
	}
	wg.Wait()
	return sinks, errs
}

// pull runs an MJPEGSource on url for d, or until it fails.
func pull(t *testing.T, src *transport.MJPEGSource, d time.Duration) (*jpegSink, error) {
	t.Helper()
	sink := &jpegSink{}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	err := src.Run(ctx, sink)
	return sink, err
}

func startMJPEG(t *testing.T, cfgs ...MJPEGConfig) (*Server, []*MJPEGCamera) {
	t.Helper()
	s := &Server{}
	var cams []*MJPEGCamera
	for _, cfg := range cfgs {
		c, err := s.AddMJPEGCamera(cfg)
		if err != nil {
			t.Fatal(err)
		}
		cams = append(cams, c)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, cams
}

// TestMJPEGQuirks pulls every quirk for a second: every frame must decode
// with image/jpeg and carry a barcode whose time is its send time.
func TestMJPEGQuirks(t *testing.T) {
	t.Parallel()
	cfgs := []MJPEGConfig{
		{Path: "plain"},
		{Path: "nolength", NoContentLength: true},
		{Path: "quoted", QuotedBoundary: true},
		{Path: "dashed", DashedBoundary: true, NoContentLength: true},
		{Path: "quoted-dashed", QuotedBoundary: true, DashedBoundary: true},
		{Path: "doubled", DoubledBoundary: true},
		{Path: "doubled-nolength", DoubledBoundary: true, NoContentLength: true},
		{Path: "junk", JunkPrefix: true, NoContentLength: true},
		{Path: "bare", Bare: true},
		{Path: "bare-octet-junk", Bare: true, ContentType: "application/octet-stream", JunkPrefix: true},
		{Path: "422", Chroma422: true, Width: 320, Height: 240},
		{Path: "variable", VariableFPS: true},
	}
	if !testing.Short() {
		// Encoding 720p backgrounds takes tens of seconds under the race
		// detector.
		cfgs = append(cfgs, MJPEGConfig{Path: "720p", Width: 1280, Height: 720})
	}
	s, cams := startMJPEG(t, cfgs...)
	const dur = time.Second
	var srcs []*transport.MJPEGSource
	for _, cfg := range cfgs {
		srcs = append(srcs, &transport.MJPEGSource{URL: s.MJPEGURL(cfg.Path), Stats: &transport.SourceStats{}})
	}
	sinks, errs := pullAll(t, srcs, dur)
	for i, cfg := range cfgs {
		t.Run(cfg.Path, func(t *testing.T) {
			stats, sink, err := srcs[i].Stats, sinks[i], errs[i]
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			jpegs, arrive := sink.snapshot()
			// 25 fps for 1 s, less the time the first response takes
			// (long under the race detector).
			minFrames := 16
			if testing.Short() {
				minFrames = 5
			}
			if len(jpegs) < minFrames || len(jpegs) > 30 {
				t.Errorf("%d frames in %v", len(jpegs), dur)
			}
			w, h := cfg.Width, cfg.Height
			if w == 0 {
				w, h = 640, 480
			}
			var last int64
			djpegs, darrive := jpegs, arrive
			if testing.Short() {
				// image/jpeg under the race detector is slow: a sample
				// will do.
				djpegs, darrive = sample(jpegs, 4), sample(arrive, 4)
			}
			for k, d := range decodeFrames(djpegs, darrive) {
				switch {
				case d.err != nil:
					t.Errorf("frame %d: image/jpeg: %v", k, d.err)
				case d.w != w || d.h != h:
					t.Errorf("frame %d: %dx%d, want %dx%d", k, d.w, d.h, w, h)
				case !d.ok:
					t.Errorf("frame %d: no barcode", k)
				case d.latency < -5*time.Millisecond || d.latency > time.Second:
					t.Errorf("frame %d: barcode %v from arrival", k, d.latency)
				case d.ms < last:
					t.Errorf("frame %d: barcode went back", k)
				}
				last = d.ms
			}
			if stats.Corrupt.Load() != 0 || stats.Oversized.Load() != 0 {
				t.Errorf("corrupt %d, oversized %d", stats.Corrupt.Load(), stats.Oversized.Load())
			}
			if int(stats.Width.Load()) != w || int(stats.Height.Load()) != h {
				t.Errorf("stats size %dx%d", stats.Width.Load(), stats.Height.Load())
			}
			if cfg.VariableFPS {
				var lo, hi time.Duration = time.Hour, 0
				for k := 2; k < len(arrive); k++ {
					d := arrive[k].Sub(arrive[k-1])
					lo, hi = min(lo, d), max(hi, d)
				}
				if lo > 32*time.Millisecond || hi < 48*time.Millisecond {
					t.Errorf("variable fps: intervals from %v to %v, want 20..60 ms", lo, hi)
				}
			}
			if cams[i].Connects() != 1 || cams[i].FramesSent() < 20 {
				t.Errorf("connects %d, frames sent %d", cams[i].Connects(), cams[i].FramesSent())
			}
		})
	}
}

func TestMJPEGAuth(t *testing.T) {
	t.Parallel()
	const pass = "p@ss:w/rd"
	s, _ := startMJPEG(t,
		MJPEGConfig{Path: "basic", User: "admin", Pass: pass, Auth: AuthBasic, Width: 320, Height: 240},
		MJPEGConfig{Path: "digest", User: "admin", Pass: pass, Width: 320, Height: 240},
		MJPEGConfig{Path: "qop", User: "admin", Pass: pass, Auth: AuthDigestQop, Width: 320, Height: 240},
	)
	for _, path := range []string{"basic", "digest", "qop"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			u := s.MJPEGURL(path)
			if !strings.Contains(u, "admin:") {
				t.Fatalf("URL without credentials: %s", Redacted(u))
			}
			sink, err := pull(t, &transport.MJPEGSource{URL: u}, 500*time.Millisecond)
			if jpegs, _ := sink.snapshot(); err != nil || len(jpegs) < 5 {
				t.Errorf("right password: %v, %d frames", err, len(jpegs))
			}
			bad := strings.Replace(u, "p%40ss", "nope", 1)
			_, err = pull(t, &transport.MJPEGSource{URL: bad}, 5*time.Second)
			if err == nil || err.Error() != "http 401 Unauthorized (check user and password)" {
				t.Errorf("wrong password: %v", err)
			}
		})
	}
	// A plain HTTP client (Go's, Basic only) sees the challenge.
	res, err := http.Get("http://" + s.MJPEGAddr() + "/digest")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Digest ") {
		t.Errorf("%d %q", res.StatusCode, res.Header.Get("WWW-Authenticate"))
	}
}

// TestMJPEGDamage: cut-short frames are counted by the source and skipped;
// damaged frames pass its structural check (SOI...EOI intact) and reach
// the decoder, which is where they fail; the stream goes on either way.
func TestMJPEGDamage(t *testing.T) {
	t.Parallel()
	s, _ := startMJPEG(t,
		MJPEGConfig{Path: "truncate", TruncateEvery: 3, Width: 320, Height: 240},
		MJPEGConfig{Path: "truncate-nolength", TruncateEvery: 3, NoContentLength: true, Width: 320, Height: 240},
		MJPEGConfig{Path: "truncate-bare", TruncateEvery: 3, Bare: true, Width: 320, Height: 240},
		MJPEGConfig{Path: "corrupt", CorruptEvery: 2, Width: 320, Height: 240},
	)
	paths := []string{"truncate", "truncate-nolength", "truncate-bare", "corrupt"}
	var srcs []*transport.MJPEGSource
	for _, path := range paths {
		srcs = append(srcs, &transport.MJPEGSource{URL: s.MJPEGURL(path), Stats: &transport.SourceStats{}})
	}
	sinks, errs := pullAll(t, srcs, 1200*time.Millisecond)
	for i, path := range paths {
		t.Run(path, func(t *testing.T) {
			stats, sink, err := srcs[i].Stats, sinks[i], errs[i]
			if err != nil {
				t.Fatal(err)
			}
			jpegs, arrive := sink.snapshot()
			frames := decodeFrames(jpegs, arrive)
			bad := 0
			for _, d := range frames {
				if d.err != nil || !d.ok {
					bad++
				}
			}
			corrupt := stats.Corrupt.Load()
			total := uint64(len(jpegs)) + corrupt
			if strings.HasPrefix(path, "truncate") {
				if bad != 0 {
					t.Errorf("%d of %d delivered frames do not decode", bad, len(jpegs))
				}
				// Every third frame is cut short.
				if corrupt < total/3-1 || corrupt > total/3+1 {
					t.Errorf("%d corrupt of %d", corrupt, total)
				}
			} else {
				if corrupt != 0 {
					t.Errorf("%d counted corrupt: damaged entropy data is the decoder's to find", corrupt)
				}
				// Every second frame is damaged.
				if bad < len(jpegs)/2-1 || bad > len(jpegs)/2+1 {
					t.Errorf("%d of %d frames fail to decode, want half", bad, len(jpegs))
				}
			}
			if len(jpegs) < 10 {
				t.Errorf("%d frames", len(jpegs))
			}
		})
	}
}

func TestMJPEGResize(t *testing.T) {
	t.Parallel()
	s, cams := startMJPEG(t, MJPEGConfig{Path: "resize", Width: 320, Height: 240, ResizeAt: 10, ResizeWidth: 480, ResizeHeight: 272})
	stats := &transport.SourceStats{}
	sink, err := pull(t, &transport.MJPEGSource{URL: s.MJPEGURL("resize"), Stats: stats}, 1200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	jpegs, arrive := sink.snapshot()
	small, large := 0, 0
	for k, d := range decodeFrames(jpegs, arrive) {
		switch {
		case d.err != nil || !d.ok:
			t.Errorf("frame %d: %v, barcode %v", k, d.err, d.ok)
		case d.w == 320 && d.h == 240 && large == 0:
			small++
		case d.w == 480 && d.h == 272:
			large++
		default:
			t.Errorf("frame %d: %dx%d after %d large frames", k, d.w, d.h, large)
		}
	}
	if small == 0 || large == 0 || cams[0].FramesSent() < 20 {
		t.Errorf("%d small then %d large frames (%d sent)", small, large, cams[0].FramesSent())
	}
	if stats.Width.Load() != 480 || stats.Height.Load() != 272 {
		t.Errorf("stats size %dx%d", stats.Width.Load(), stats.Height.Load())
	}
}

func TestMJPEGFaults(t *testing.T) {
	t.Parallel()
	s, cams := startMJPEG(t,
		MJPEGConfig{Path: "stall", Width: 320, Height: 240},
		MJPEGConfig{Path: "drop", Width: 320, Height: 240},
		MJPEGConfig{Path: "down", Width: 320, Height: 240},
		MJPEGConfig{Path: "html", ContentType: "text/html"},
	)
	stall, drop, down := cams[0], cams[1], cams[2]

	t.Run("stall", func(t *testing.T) {
		t.Parallel()
		time.AfterFunc(500*time.Millisecond, func() { stall.Stall(true) })
		start := time.Now()
		sink, err := pull(t, &transport.MJPEGSource{URL: s.MJPEGURL("stall"), StallTimeout: 400 * time.Millisecond}, 10*time.Second)
		if !errors.Is(err, transport.ErrStalled) {
			t.Fatalf("Run: %v, want ErrStalled", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("stall noticed after %v", d)
		}
		if jpegs, _ := sink.snapshot(); len(jpegs) < 5 {
			t.Errorf("%d frames before the stall", len(jpegs))
		}
		stall.Stall(false)
		n := stall.FramesSent()
		time.Sleep(100 * time.Millisecond)
		if stall.FramesSent() == n {
			t.Error("clock stopped while stalled")
		}
	})
	t.Run("drop", func(t *testing.T) {
		t.Parallel()
		go func() {
			for drop.Sessions() == 0 {
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond)
			drop.Drop()
		}()
		_, err := pull(t, &transport.MJPEGSource{URL: s.MJPEGURL("drop")}, 10*time.Second)
		if err == nil || !strings.Contains(err.Error(), "camera closed the stream") {
			t.Errorf("after Drop: %v", err)
		}
		for drop.Sessions() != 0 {
			time.Sleep(10 * time.Millisecond)
		}
		if drop.Connects() != 1 {
			t.Errorf("%d connects", drop.Connects())
		}
	})
	t.Run("down", func(t *testing.T) {
		t.Parallel()
		down.SetDown(true)
		_, err := pull(t, &transport.MJPEGSource{URL: s.MJPEGURL("down")}, 10*time.Second)
		if err == nil || !strings.Contains(err.Error(), "EOF") {
			t.Errorf("down: %v", err)
		}
		down.SetDown(false)
		sink, err := pull(t, &transport.MJPEGSource{URL: s.MJPEGURL("down")}, 300*time.Millisecond)
		if jpegs, _ := sink.snapshot(); err != nil || len(jpegs) == 0 {
			t.Errorf("up again: %v, %d frames", err, len(jpegs))
		}
	})
	t.Run("errors", func(t *testing.T) {
		t.Parallel()
		_, err := pull(t, &transport.MJPEGSource{URL: s.MJPEGURL("nothing")}, 10*time.Second)
		if err == nil || err.Error() != "http 404 Not Found (check the URL path)" {
			t.Errorf("unknown path: %v", err)
		}
		_, err = pull(t, &transport.MJPEGSource{URL: s.MJPEGURL("html")}, 10*time.Second)
		if err == nil || !strings.Contains(err.Error(), `unexpected content type "text/html"`) {
			t.Errorf("html: %v", err)
		}
	})
}

// TestMJPEGRawStream reads the bytes as a camera writes them, with no
// MJPEG reader in between: the response head, and the part framing of each
// quirk.
func TestMJPEGRawStream(t *testing.T) {
	t.Parallel()
	s, _ := startMJPEG(t,
		MJPEGConfig{Path: "plain", Width: 160, Height: 120},
		MJPEGConfig{Path: "dashed", DashedBoundary: true, QuotedBoundary: true, DoubledBoundary: true, NoContentLength: true, JunkPrefix: true, Width: 160, Height: 120},
	)
	// read takes the response until it holds parts parts (or 3 s pass).
	read := func(path string, parts int) (string, []byte) {
		nc, err := net.Dial("tcp", s.MJPEGAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		_, _ = io.WriteString(nc, "GET /"+path+" HTTP/1.1\r\nHost: cam\r\n\r\n")
		_ = nc.SetReadDeadline(time.Now().Add(3 * time.Second))
		var b []byte
		buf := make([]byte, 64<<10)
		for bytes.Count(b, []byte("Content-Type: image/jpeg")) < parts {
			n, err := nc.Read(buf)
			b = append(b, buf[:n]...)
			if err != nil {
				break
			}
		}
		head, body, _ := bytes.Cut(b, []byte("\r\n\r\n"))
		return string(head), body
	}
	head, body := read("plain", 1)
	if !strings.Contains(head, "Content-Type: multipart/x-mixed-replace; boundary=camsimframe\r\n") || strings.Contains(head, "chunked") {
		t.Errorf("plain head: %q", head)
	}
	if !bytes.HasPrefix(body, []byte("--camsimframe\r\nContent-Type: image/jpeg\r\nContent-Length: ")) {
		t.Errorf("plain body starts %q", body[:min(len(body), 80)])
	}
	head, body = read("dashed", 5)
	if !strings.Contains(head, `boundary="--camsimframe"`) {
		t.Errorf("dashed head: %q", head)
	}
	if !bytes.HasPrefix(body, mjpegJunk) {
		t.Errorf("no junk first: %q", body[:min(len(body), 80)])
	}
	if !bytes.Contains(body, []byte("--camsimframe\r\n--camsimframe\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8")) {
		t.Error("no doubled boundary without Content-Length")
	}
}

// TestMJPEGClose closes a server while clients stream and while one is
// stalled: Close must return (goleak checks the goroutines).
func TestMJPEGClose(t *testing.T) {
	t.Parallel()
	s := &Server{}
	c, _ := s.AddMJPEGCamera(MJPEGConfig{Path: "a", Width: 160, Height: 120})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddMJPEGCamera(MJPEGConfig{Path: "a"}); err == nil {
		t.Error("duplicate path accepted")
	}
	if _, err := s.AddMJPEGCamera(MJPEGConfig{Path: "b", Width: 100}); err == nil {
		t.Error("width without height accepted")
	}
	c.Stall(true)
	done := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := pull(t, &transport.MJPEGSource{URL: s.MJPEGURL("a"), StallTimeout: time.Minute}, 10*time.Second)
			done <- err
		}()
	}
	for c.Sessions() < 2 {
		time.Sleep(10 * time.Millisecond)
	}
	s.Close()
	for range 2 {
		if err := <-done; err == nil {
			t.Error("stream survived Close")
		}
	}
}

// BenchmarkMJPEGSendFrame is a camera's cost per frame: make the JPEG and
// write it to one client that drains it.
func BenchmarkMJPEGSendFrame(b *testing.B) {
	for _, size := range [][2]int{{640, 480}, {1280, 720}} {
		b.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(b *testing.B) {
			s := &Server{writeTimeout: 2 * time.Second, log: slog.New(slog.DiscardHandler)}
			c := newMJPEGCamera(s, MJPEGConfig{Path: "x", Width: size[0], Height: size[1], FPS: 25})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			cl, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			sc, err := ln.Accept()
			if err != nil {
				b.Fatal(err)
			}
			var wg sync.WaitGroup
			wg.Go(func() { _, _ = io.Copy(io.Discard, cl) })
			defer wg.Wait()
			defer cl.Close()
			defer sc.Close()
			c.clients[&mjpegClient{nc: sc}] = struct{}{}
			c.sendFrame()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				c.sendFrame()
			}
		})
	}
}

func TestMJPEGRemove(t *testing.T) {
	t.Parallel()
	s, cams := startMJPEG(t, MJPEGConfig{Path: "site/cam", Width: 160, Height: 120, User: "u", Pass: "secret"})
	u := s.MJPEGURL("/site/cam/")
	done := make(chan error, 1)
	go func() {
		_, err := pull(t, &transport.MJPEGSource{URL: u}, 10*time.Second)
		done <- err
	}()
	for cams[0].Sessions() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	s.RemoveMJPEGCamera("site/cam")
	if err := <-done; err == nil || !strings.Contains(err.Error(), "camera closed the stream") {
		t.Errorf("after RemoveMJPEGCamera: %v", err)
	}
	if _, err := pull(t, &transport.MJPEGSource{URL: u}, 10*time.Second); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("removed camera: %v", err)
	}
	if _, err := s.AddMJPEGCamera(MJPEGConfig{Path: "site/cam", Width: 160, Height: 120}); err != nil {
		t.Errorf("path not free again: %v", err)
	}
	if got := Redacted(u); strings.Contains(got, "secret") {
		t.Errorf("Redacted: %s", got)
	}
}

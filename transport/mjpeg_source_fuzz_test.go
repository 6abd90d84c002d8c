package transport

import (
	"bytes"
	"image"
	"image/jpeg"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camrelay/camrelay/codec"
)

// tinyJPEG is a small whole JPEG (8x8, about 300 bytes), so that seeds stay
// small enough for the fuzzer to mutate quickly.
func tinyJPEG(shade byte) []byte {
	img := image.NewGray(image.Rect(0, 0, 8, 8))
	for i := range img.Pix {
		img.Pix[i] = shade + byte(i)
	}
	var b bytes.Buffer
	_ = jpeg.Encode(&b, img, &jpeg.Options{Quality: 50})
	return b.Bytes()
}

// fuzzFrameSink checks every delivered frame: a whole JPEG that passes the
// structural check, within the size limit, a run of bytes of the stream,
// with increasing PTS.
type fuzzFrameSink struct {
	t      *testing.T
	stream []byte
	max    int
	n      int
	last   time.Duration
}

func (s *fuzzFrameSink) Begin([]codec.Track) error { return nil }

func (s *fuzzFrameSink) WriteFrame(f *codec.Frame) {
	s.n++
	var sc codec.JPEGScanner
	if n, err := sc.Next(f.JPEG); n != len(f.JPEG) || err != nil {
		s.t.Fatalf("frame %d does not check: %d of %d bytes, %v", s.n, n, len(f.JPEG), err)
	}
	if len(f.JPEG) > s.max || !bytes.Contains(s.stream, f.JPEG) {
		s.t.Fatalf("frame %d: %d bytes, not a run of the stream (max %d)", s.n, len(f.JPEG), s.max)
	}
	if s.n > 1 && f.PTS <= s.last {
		s.t.Fatalf("frame %d: PTS %v after %v", s.n, f.PTS, s.last)
	}
	s.last = f.PTS
}

// FuzzMJPEGReader feeds the MJPEG-over-HTTP parser a Content-Type and a
// body in reads of fuzzed sizes, the way MJPEGSource.run picks multipart or
// bare. It must not panic or loop (it ends with the stream, with an error),
// keep its buffer within its limit, deliver only whole JPEGs taken from the
// stream, and no more frames than the stream can hold.
func FuzzMJPEGReader(f *testing.F) {
	j1, j2 := tinyJPEG(10), tinyJPEG(90)
	part := func(line, headers string, j []byte) string {
		return line + "\r\n" + headers + "\r\n" + string(j) + "\r\n"
	}
	cl := func(j []byte, lie int) string {
		return "Content-Type: image/jpeg\r\nContent-Length: " + itoa(len(j)+lie) + "\r\n"
	}
	mp := "multipart/x-mixed-replace; boundary=myboundary"
	seeds := []struct{ ct, body string }{
		{mp, part("--myboundary", cl(j1, 0), j1) + part("--myboundary", cl(j2, 0), j2)},
		{mp, part("--myboundary", "Content-Type: image/jpeg\r\n", j1) + part("--myboundary", "Content-Type: image/jpeg\r\n", j2) + "--myboundary\r\n"},
		// Doubled boundary; quoted boundary; boundary declared with "--".
		{mp, "--myboundary\r\n" + part("--myboundary", cl(j1, 0), j1) + part("--myboundary", cl(j2, 0), j2)},
		{`multipart/x-mixed-replace;boundary="--frame"`, part("--frame", cl(j1, 0), j1) + part("----frame", cl(j2, 0), j2)},
		// Junk before the first JPEG and before the first boundary.
		{mp, "garbage\r\n" + part("--myboundary", cl(j1, 7), append([]byte("JUNK\r\n\r"), j1...)) + part("--myboundary", cl(j2, 0), j2)},
		// Content-Length lies: too long (the next part counted in), too short.
		{mp, part("--myboundary", cl(j1, 40), j1) + part("--myboundary", cl(j2, -30), j2) + part("--myboundary", cl(j1, 0), j1)},
		// No headers at all; no line break after the JPEG; LF only.
		{mp, "--myboundary\r\n" + string(j1) + "--myboundary\r\n" + string(j2) + "\n--myboundary\nContent-Length: " + itoa(len(j1)) + "\n\n" + string(j1) + "\n"},
		// No boundary declared; a closing boundary.
		{"multipart/x-mixed-replace", part("--ipcamera", cl(j1, 0), j1) + part("--ipcamera", cl(j2, 0), j2) + "--ipcamera--\r\n"},
		// A JPEG cut short mid-frame, then a whole one.
		{mp, part("--myboundary", "", j1[:len(j1)/2]) + part("--myboundary", "", j2)},
		{mp, part("--myboundary", "Content-Length: 99999999999\r\n", j1) + part("--myboundary", cl(j2, 0), j2)},
		// Bare streams of concatenated JPEGs, with junk and a cut-short one.
		{"image/jpeg", string(j1) + string(j2) + "\x00\x00" + string(j1)},
		{"", "xx" + string(j1[:100]) + string(j2)},
		{"video/x-motion-jpeg", string(j1) + string(j1)},
	}
	for _, s := range seeds {
		f.Add(s.ct, []byte(s.body), []byte{})
		f.Add(s.ct, []byte(s.body), []byte{0, 13, 200, 2, 77})
	}
	f.Fuzz(func(t *testing.T, ct string, body, sizes []byte) {
		mediaType, boundary := parseContentType(ct)
		if mediaType != strings.ToLower(mediaType) || mediaType != strings.TrimSpace(mediaType) {
			t.Fatalf("media type %q", mediaType)
		}
		if len(boundary) > len(ct) {
			t.Fatalf("boundary %q longer than %q", boundary, ct)
		}
		const maxFrame = 32 << 10
		sink := &fuzzFrameSink{t: t, stream: body, max: maxFrame}
		m := &mjpegReader{
			body: &scriptConn{data: body, chunk: chunker(sizes)}, buf: make([]byte, 16<<10), max: maxFrame, limit: maxFrame + 64<<10,
			stats: &SourceStats{}, sink: sink, lastFrame: new(atomic.Int64), lineStart: true,
		}
		done := make(chan error, 1)
		go func() {
			if strings.HasPrefix(mediaType, "multipart/") {
				done <- m.runMultipart(boundary)
			} else {
				done <- m.runBare()
			}
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("the parser ended without an error")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the parser is stuck")
		}
		if cap(m.buf) > m.limit || m.r < 0 || m.r > m.w || m.w > len(m.buf) {
			t.Fatalf("buffer: cap %d (limit %d), r %d, w %d", cap(m.buf), m.limit, m.r, m.w)
		}
		if sink.n > len(body)/4 || uint64(sink.n) != m.stats.Frames.Load() {
			t.Fatalf("%d frames (%d counted) from %d bytes", sink.n, m.stats.Frames.Load(), len(body))
		}
	})
}

// FuzzParseContentType: a boundary (RFC 2046 characters) written in quotes
// comes back as written, whatever the spaces, other parameters and case.
func FuzzParseContentType(f *testing.F) {
	f.Add("myboundary", "multipart/x-mixed-replace", " ")
	f.Add("--frame", "Multipart/X-Mixed-Replace", "")
	f.Add("a b=c,d?", "multipart/mixed", "  ")
	f.Fuzz(func(t *testing.T, b, mt, sp string) {
		if !boundaryChars(b) || strings.Contains(mt, ";") || strings.Trim(sp, " ") != "" {
			return
		}
		ct := mt + ";" + sp + "BOUNDARY=" + sp + `"` + b + `"` + sp + "; x=y"
		gotMT, got := parseContentType(ct)
		if got != b || gotMT != strings.ToLower(strings.TrimSpace(mt)) {
			t.Fatalf("%q: media type %q, boundary %q", ct, gotMT, got)
		}
	})
}

func itoa(n int) string {
	if n < 0 {
		return "-" + itoa(-n)
	}
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// boundaryChars: 1 to 70 of RFC 2046's bchars, not ending in a space.
func boundaryChars(b string) bool {
	if len(b) == 0 || len(b) > 70 || b[len(b)-1] == ' ' {
		return false
	}
	for _, c := range []byte(b) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || strings.IndexByte("'()+_,-./:=? ", c) >= 0) {
			return false
		}
	}
	return true
}

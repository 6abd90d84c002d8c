package transport

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camrelay/camrelay/codec"
)

// Tests of MJPEGSource against httptest servers that write the byte streams
// of quirky cameras. The end-to-end tests against camsim's MJPEG cameras
// live in bench/camsim (transport may not import bench).

const mjpegBase = int64(1_700_000_000_000) // barcode time of frame 0

// testFrames are small JPEGs (image/jpeg, quality 75) whose barcodes read
// mjpegBase+i.
var testFrames = sync.OnceValue(func() [][]byte {
	var out [][]byte
	for i := range 12 {
		img := image.NewYCbCr(image.Rect(0, 0, 160, 120), image.YCbCrSubsampleRatio420)
		for j := range img.Y {
			img.Y[j] = byte(40 + (j*7+i*13)%150)
		}
		for j := range img.Cb {
			img.Cb[j], img.Cr[j] = 128, byte(100+i)
		}
		codec.DrawBarcode(img.Y, img.YStride, 160, 120, mjpegBase+int64(i))
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 75}); err != nil {
			panic(err)
		}
		out = append(out, b.Bytes())
	}
	return out
})

func frame(i int) []byte { return testFrames()[i%len(testFrames())] }

// withThumbnail adds an APP1 segment holding a whole small JPEG (an EXIF
// thumbnail): an SOI and an EOI that are not the frame's.
func withThumbnail(j []byte) []byte {
	thumb := frame(5)
	body := append([]byte("Exif\x00\x00"), thumb...)
	out := append([]byte{}, j[:2]...)
	out = append(out, 0xff, 0xe1, byte((len(body)+2)>>8), byte(len(body)+2))
	out = append(out, body...)
	return append(out, j[2:]...)
}

// bigFrame pads a frame with an APP segment to about n bytes.
func bigFrame(j []byte, n int) []byte {
	out := append([]byte{}, j[:2]...)
	for len(out) < n {
		k := min(60000, n-len(out))
		out = append(out, 0xff, 0xe2, byte((k+2)>>8), byte(k+2))
		out = append(out, make([]byte, k)...)
	}
	return append(out, j[2:]...)
}

// frameSink collects what a source delivers.
type frameSink struct {
	mu     sync.Mutex
	tracks []codec.Track
	begins int
	jpegs  [][]byte
	pts    []time.Duration
	recv   []int64
	got    chan struct{}
}

func newFrameSink() *frameSink { return &frameSink{got: make(chan struct{}, 1)} }

func (s *frameSink) Begin(tracks []codec.Track) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tracks = tracks
	s.begins++
	return nil
}

func (s *frameSink) WriteFrame(f *codec.Frame) {
	s.mu.Lock()
	s.jpegs = append(s.jpegs, bytes.Clone(f.JPEG))
	s.pts = append(s.pts, f.PTS)
	s.recv = append(s.recv, f.Received)
	s.mu.Unlock()
	if f.Codec != "JPEG" {
		panic("frame codec " + f.Codec)
	}
	select {
	case s.got <- struct{}{}:
	default:
	}
}

func (s *frameSink) frames() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.jpegs...)
}

// checkFrames decodes every frame with image/jpeg and reads its barcode:
// they must be the frames numbered want, in order.
func checkFrames(t *testing.T, s *frameSink, want []int) {
	t.Helper()
	got := s.frames()
	var ids []int
	for k, j := range got {
		img, err := jpeg.Decode(bytes.NewReader(j))
		if err != nil {
			t.Errorf("frame %d: image/jpeg: %v", k, err)
			continue
		}
		y := img.(*image.YCbCr)
		ms, ok := codec.ReadBarcode(y.Y, y.YStride, y.Rect.Dx(), y.Rect.Dy())
		if !ok {
			t.Errorf("frame %d: no barcode", k)
			continue
		}
		ids = append(ids, int(ms-mjpegBase))
	}
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("frames %v, want %v", ids, want)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.begins != 1 || len(s.tracks) != 1 || s.tracks[0].Codec != "JPEG" || s.tracks[0].ClockRate != 90000 || s.tracks[0].Kind != codec.KindVideo {
		t.Errorf("Begin %d times with %v", s.begins, s.tracks)
	}
	for i := 1; i < len(s.pts); i++ {
		if s.pts[i] <= s.pts[i-1] {
			t.Errorf("PTS %v after %v", s.pts[i], s.pts[i-1])
		}
		if s.recv[i] < s.recv[i-1] {
			t.Errorf("Received went back")
		}
	}
}

// newRawServer serves one byte stream per request on a hijacked
// connection, as cameras write it: a raw header, then the body; the
// connection closes after.
func newRawServer(t *testing.T, contentType string, body func(w io.Writer)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(rawHandler(contentType, body))
	t.Cleanup(srv.Close)
	return srv
}

func rawHandler(contentType string, body func(w io.Writer)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		nc, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer nc.Close()
		_ = brw.Flush()
		hdr := "HTTP/1.0 200 OK\r\n"
		if contentType != "" {
			hdr += "Content-Type: " + contentType + "\r\n"
		}
		if _, err := io.WriteString(nc, hdr+"Connection: close\r\n\r\n"); err != nil {
			return
		}
		body(nc)
	}
}

// chunked writes b in pieces of random small sizes, so that every parse
// path meets a buffer that ends mid-way.
type chunked struct {
	w   io.Writer
	rng *rand.Rand
	max int
}

func (c *chunked) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		k := min(len(b), 1+c.rng.IntN(c.max))
		m, err := c.w.Write(b[:k])
		n += m
		if err != nil {
			return n, err
		}
		b = b[k:]
	}
	return n, nil
}

type partOpts struct {
	line     string // delimiter line
	noLength bool
	doubled  bool
	eol      string
	noHeader bool
	lieLen   int  // Content-Length this much larger than the body
	noTrail  bool // no line break after the JPEG
}

func writePart(w io.Writer, o partOpts, j []byte) {
	eol := o.eol
	if eol == "" {
		eol = "\r\n"
	}
	var b bytes.Buffer
	if o.doubled {
		b.WriteString(o.line + eol)
	}
	b.WriteString(o.line + eol)
	if !o.noHeader {
		b.WriteString("Content-Type: image/jpeg" + eol)
		if !o.noLength {
			b.WriteString("Content-Length: " + strconv.Itoa(len(j)+o.lieLen) + eol)
		}
		b.WriteString(eol)
	}
	b.Write(j)
	if !o.noTrail {
		b.WriteString(eol)
	}
	_, _ = w.Write(b.Bytes())
}

func runSource(t *testing.T, src *MJPEGSource, sink *frameSink, d time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	err := src.Run(ctx, sink)
	if ctx.Err() != nil {
		t.Fatalf("source still running after %v (%v frames)", d, len(sink.frames()))
	}
	return err
}

func TestMJPEGQuirks(t *testing.T) {
	t.Parallel()
	const n = 10
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	multipart := func(o partOpts, junk string, fr func([]byte) []byte) func(io.Writer) {
		return func(w io.Writer) {
			_, _ = io.WriteString(w, junk)
			for i := range n {
				oo := o
				oo.doubled = o.doubled && i%3 == 0
				writePart(w, oo, fr(frame(i)))
			}
			_, _ = io.WriteString(w, o.line+"--\r\n")
		}
	}
	bare := func(junk string, between string, fr func([]byte) []byte) func(io.Writer) {
		return func(w io.Writer) {
			_, _ = io.WriteString(w, junk)
			for i := range n {
				_, _ = w.Write(fr(frame(i)))
				_, _ = io.WriteString(w, between)
			}
		}
	}
	same := func(j []byte) []byte { return j }
	junkBefore := func(j []byte) []byte { return append([]byte("junk\r\n\x00\x01"), j...) }
	plain := partOpts{line: "--myboundary"}
	cases := []struct {
		name string
		ct   string
		body func(io.Writer)
	}{
		{"content-length", "multipart/x-mixed-replace; boundary=myboundary", multipart(plain, "", same)},
		{"no content-length", "multipart/x-mixed-replace;boundary=myboundary", multipart(partOpts{line: "--myboundary", noLength: true}, "", same)},
		{"quoted boundary", `multipart/x-mixed-replace; boundary="myboundary"`, multipart(plain, "", same)},
		{"dashed boundary", "multipart/x-mixed-replace; boundary=--myboundary", multipart(plain, "", same)},
		{"dashed boundary, RFC lines", "multipart/x-mixed-replace; boundary=--myboundary", multipart(partOpts{line: "----myboundary", noLength: true}, "", same)},
		{"quoted dashed boundary", `multipart/x-mixed-replace; boundary="--myboundary"`, multipart(partOpts{line: "--myboundary", noLength: true}, "", same)},
		{"doubled boundary", "multipart/x-mixed-replace; boundary=myboundary", multipart(partOpts{line: "--myboundary", doubled: true}, "", same)},
		{"doubled boundary, no length", "multipart/x-mixed-replace; boundary=myboundary", multipart(partOpts{line: "--myboundary", doubled: true, noLength: true}, "", same)},
		{"junk before the first part", "multipart/x-mixed-replace; boundary=myboundary", multipart(plain, "HTTP junk\r\n\x00\xff\x01\r\n", same)},
		{"junk before the JPEG in a part", "multipart/x-mixed-replace; boundary=myboundary", multipart(plain, "", junkBefore)},
		{"no boundary declared", "multipart/x-mixed-replace", multipart(partOpts{line: "--frame", noLength: true}, "", same)},
		{"no line break after the JPEG", "multipart/x-mixed-replace; boundary=myboundary", multipart(partOpts{line: "--myboundary", noTrail: true}, "", same)},
		{"no line break after the JPEG, no length", "multipart/x-mixed-replace; boundary=myboundary", multipart(partOpts{line: "--myboundary", noTrail: true, noLength: true}, "", same)},
		{"no part headers", "multipart/x-mixed-replace; boundary=myboundary", multipart(partOpts{line: "--myboundary", noHeader: true}, "", same)},
		{"LF line ends", "multipart/x-mixed-replace; boundary=myboundary", multipart(partOpts{line: "--myboundary", eol: "\n", noLength: true}, "", same)},
		{"thumbnails, length", "multipart/x-mixed-replace; boundary=myboundary", multipart(plain, "", withThumbnail)},
		{"thumbnails, no length", "multipart/x-mixed-replace; boundary=myboundary", multipart(partOpts{line: "--myboundary", noLength: true}, "", withThumbnail)},
		{"bare image/jpeg", "image/jpeg", bare("", "", same)},
		{"bare octet-stream with junk", "application/octet-stream", bare("junk\r\n\x00\xd8", "\r\n", same)},
		{"bare, no content type", "", bare("", "\xff\xff", same)},
		{"bare thumbnails", "image/jpeg", bare("", "", withThumbnail)},
	}
	for _, tc := range cases {
		for _, small := range []bool{false, true} {
			name := tc.name
			if small {
				name += "/small writes"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				body := tc.body
				if small {
					body = func(w io.Writer) { tc.body(&chunked{w: w, rng: rand.New(rand.NewPCG(1, 2)), max: 7}) }
				}
				srv := newRawServer(t, tc.ct, body)
				sink := newFrameSink()
				stats := &SourceStats{}
				src := &MJPEGSource{URL: srv.URL + "/video", Stats: stats}
				err := runSource(t, src, sink, 10*time.Second)
				if err == nil || !strings.Contains(err.Error(), "camera") {
					t.Errorf("Run: %v, want the camera closing the stream", err)
				}
				checkFrames(t, sink, all)
				if c := stats.Corrupt.Load(); c != 0 {
					t.Errorf("%d corrupt", c)
				}
				if f := stats.Frames.Load(); f != n {
					t.Errorf("Stats.Frames %d", f)
				}
				if stats.Width.Load() != 160 || stats.Height.Load() != 120 || stats.Last.Load() == 0 || stats.Bytes.Load() < uint64(n*len(frame(0))) {
					t.Errorf("stats: %dx%d last %d bytes %d", stats.Width.Load(), stats.Height.Load(), stats.Last.Load(), stats.Bytes.Load())
				}
			})
		}
	}
}

// TestMJPEGCorrupt sends frames cut short, parts with no JPEG, and a part
// whose Content-Length counts the next part in: each is counted and
// skipped, and the stream goes on.
func TestMJPEGCorrupt(t *testing.T) {
	t.Parallel()
	const n = 12
	cut := func(i int) bool { return i == 3 || i == 7 }
	var want []int
	for i := range n {
		if !cut(i) && i != 5 {
			want = append(want, i)
		}
	}
	type tc struct {
		name        string
		ct          string
		body        func(io.Writer)
		wantCorrupt uint64
	}
	mp := func(o partOpts) func(io.Writer) {
		return func(w io.Writer) {
			for i := range n {
				j := frame(i)
				switch {
				case cut(i):
					j = j[:len(j)*2/3]
				case i == 5:
					j = []byte("<html>not a picture</html>")
				}
				writePart(w, o, j)
			}
		}
	}
	cases := []tc{
		{"content-length", "multipart/x-mixed-replace; boundary=b", mp(partOpts{line: "--b"}), 3},
		{"no content-length", "multipart/x-mixed-replace; boundary=b", mp(partOpts{line: "--b", noLength: true}), 3},
		{"bare", "image/jpeg", func(w io.Writer) {
			for i := range n {
				j := frame(i)
				switch {
				case cut(i):
					j = j[:len(j)*2/3]
				case i == 5:
					// A JPEG whose header is garbage after SOI: no SOF.
					j = append([]byte{0xff, 0xd8, 0xff, 0xda, 0, 8, 1, 1, 0, 0, 63, 0, 1, 2}, 0xff, 0xd9)
				}
				_, _ = w.Write(j)
			}
		}, 3},
		{"length that lies", "multipart/x-mixed-replace; boundary=b", func(w io.Writer) {
			for i := range n {
				o := partOpts{line: "--b"}
				j := frame(i)
				if cut(i) {
					// The camera announced the whole frame but sent a part
					// of it: the next part is counted in.
					o.lieLen = len(j) - len(j)*2/3
					j = j[:len(j)*2/3]
				}
				if i == 5 {
					j = []byte("<html>not a picture</html>")
				}
				writePart(w, o, j)
			}
		}, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := newRawServer(t, c.ct, c.body)
			sink := newFrameSink()
			stats := &SourceStats{}
			_ = runSource(t, &MJPEGSource{URL: srv.URL, Stats: stats}, sink, 10*time.Second)
			checkFrames(t, sink, want)
			if got := stats.Corrupt.Load(); got != c.wantCorrupt {
				t.Errorf("Corrupt %d, want %d", got, c.wantCorrupt)
			}
		})
	}
}

func TestMJPEGOversize(t *testing.T) {
	t.Parallel()
	const n = 8
	big := func(i int) bool { return i%3 == 1 }
	var want []int
	for i := range n {
		if !big(i) {
			want = append(want, i)
		}
	}
	fr := func(i int) []byte {
		if big(i) {
			return bigFrame(frame(i), 200<<10)
		}
		return frame(i)
	}
	for _, c := range []struct {
		name string
		ct   string
		o    *partOpts
	}{
		{"content-length", "multipart/x-mixed-replace; boundary=b", &partOpts{line: "--b"}},
		{"no content-length", "multipart/x-mixed-replace; boundary=b", &partOpts{line: "--b", noLength: true}},
		{"bare", "image/jpeg", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := newRawServer(t, c.ct, func(w io.Writer) {
				for i := range n {
					if c.o == nil {
						_, _ = w.Write(fr(i))
					} else {
						writePart(w, *c.o, fr(i))
					}
				}
			})
			sink := newFrameSink()
			stats := &SourceStats{}
			src := &MJPEGSource{URL: srv.URL, Stats: stats, MaxFrameSize: 32 << 10}
			_ = runSource(t, src, sink, 10*time.Second)
			checkFrames(t, sink, want)
			if got := stats.Oversized.Load(); got != uint64(n-len(want)) {
				t.Errorf("Oversized %d, want %d", got, n-len(want))
			}
			if cap(src.buf) > 32<<10+64<<10 {
				t.Errorf("read buffer grew to %d bytes", cap(src.buf))
			}
		})
	}
}

// TestMJPEGStall: a camera that keeps the connection open and keeps sending
// bytes, but no frames.
func TestMJPEGStall(t *testing.T) {
	t.Parallel()
	stop := make(chan struct{})
	srv := newRawServer(t, "multipart/x-mixed-replace; boundary=b", func(w io.Writer) {
		for i := range 3 {
			writePart(w, partOpts{line: "--b"}, frame(i))
		}
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := io.WriteString(w, "keepalive\r\n"); err != nil {
				return
			}
		}
	})
	defer close(stop)
	sink := newFrameSink()
	start := time.Now()
	err := runSource(t, &MJPEGSource{URL: srv.URL, StallTimeout: 500 * time.Millisecond}, sink, 10*time.Second)
	if !errors.Is(err, ErrStalled) {
		t.Fatalf("Run: %v, want ErrStalled", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stall noticed after %v", d)
	}
	checkFrames(t, sink, []int{0, 1, 2})
}

func TestMJPEGReadTimeout(t *testing.T) {
	t.Parallel()
	stop := make(chan struct{})
	srv := newRawServer(t, "image/jpeg", func(w io.Writer) {
		_, _ = w.Write(frame(0))
		<-stop
	})
	defer close(stop)
	sink := newFrameSink()
	err := runSource(t, &MJPEGSource{URL: srv.URL, ReadTimeout: 300 * time.Millisecond, StallTimeout: time.Minute}, sink, 10*time.Second)
	var ne net.Error
	if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Run: %v, want a read timeout", err)
	}
	checkFrames(t, sink, []int{0})
}

func TestMJPEGCancel(t *testing.T) {
	t.Parallel()
	stop := make(chan struct{})
	srv := newRawServer(t, "image/jpeg", func(w io.Writer) {
		for i := 0; ; i++ {
			if _, err := w.Write(frame(i)); err != nil {
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	defer close(stop)
	sink := newFrameSink()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-sink.got
		cancel()
	}()
	if err := (&MJPEGSource{URL: srv.URL}).Run(ctx, sink); err != nil {
		t.Errorf("Run after cancel: %v, want nil", err)
	}
}

// authHandler asks for credentials (Basic, or Digest with or without qop)
// and streams frames once they are right.
func authHandler(t *testing.T, method, user, pass string, next http.Handler) http.Handler {
	const nonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093"
	const realm = "cam"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok := false
		a := r.Header.Get("Authorization")
		switch method {
		case "basic":
			u, p, has := r.BasicAuth()
			ok = has && u == user && p == pass
			if !ok {
				w.Header().Set("WWW-Authenticate", `Basic realm="`+realm+`"`)
			}
		default:
			if rest, has := strings.CutPrefix(a, "Digest "); has {
				p := map[string]string{}
				for _, kv := range splitParams(rest) {
					k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
					p[k] = strings.Trim(v, `"`)
				}
				h := func(s string) string { x := md5.Sum([]byte(s)); return hex.EncodeToString(x[:]) }
				ha1, ha2 := h(user+":"+realm+":"+pass), h(r.Method+":"+p["uri"])
				want := h(ha1 + ":" + nonce + ":" + ha2)
				if method == "digest-qop" {
					want = h(ha1 + ":" + nonce + ":" + p["nc"] + ":" + p["cnonce"] + ":auth:" + ha2)
					ok = p["qop"] == "auth"
				} else {
					ok = p["qop"] == ""
				}
				ok = ok && p["username"] == user && p["uri"] == r.URL.RequestURI() && p["response"] == want
			}
			if !ok {
				v := `Digest realm="` + realm + `", nonce="` + nonce + `"`
				if method == "digest-qop" {
					v += `, qop="auth"`
				}
				// Also offer Basic, as many cameras do: Digest must win.
				w.Header().Add("WWW-Authenticate", `Basic realm="`+realm+`"`)
				w.Header().Add("WWW-Authenticate", v)
			}
		}
		if !ok {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func streamFrames(n int) func(io.Writer) {
	return func(w io.Writer) {
		for i := range n {
			writePart(w, partOpts{line: "--b"}, frame(i))
		}
	}
}

func TestMJPEGAuth(t *testing.T) {
	t.Parallel()
	const user, pass = "admin", "s3cr3t:@/x"
	for _, method := range []string{"basic", "digest", "digest-qop"} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(authHandler(t, method, user, pass, rawHandler("multipart/x-mixed-replace; boundary=b", streamFrames(3))))
			defer srv.Close()
			u, _ := url.Parse(srv.URL + "/mjpeg?x=1")
			u.User = url.UserPassword(user, pass)

			sink := newFrameSink()
			err := runSource(t, &MJPEGSource{URL: u.String()}, sink, 10*time.Second)
			if err == nil || strings.Contains(err.Error(), "401") {
				t.Errorf("right password: %v", err)
			}
			checkFrames(t, sink, []int{0, 1, 2})

			u.User = url.UserPassword(user, "wrong-password")
			err = runSource(t, &MJPEGSource{URL: u.String()}, newFrameSink(), 10*time.Second)
			var se *HTTPStatusError
			if !errors.As(err, &se) || se.Code != 401 || err.Error() != "http 401 Unauthorized (check user and password)" {
				t.Errorf("wrong password: %v", err)
			}
			if strings.Contains(err.Error(), "wrong-password") {
				t.Errorf("error shows the password: %v", err)
			}

			u.User = nil
			err = runSource(t, &MJPEGSource{URL: u.String()}, newFrameSink(), 10*time.Second)
			if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "URL has none") {
				t.Errorf("no credentials: %v", err)
			}
		})
	}
}

func TestMJPEGHTTPErrors(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, "<html>login</html>")
	})
	mux.HandleFunc("/gone", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "busy", http.StatusServiceUnavailable) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	base := strings.Replace(srv.URL, "http://", "http://admin:hunter2@", 1)
	for _, c := range []struct{ path, want string }{
		{"/nothing", "http 404 Not Found (check the URL path)"},
		{"/page", `unexpected content type "text/html; charset=utf-8": not an MJPEG stream (check the URL path)`},
		{"/gone", "http 503 Service Unavailable"},
	} {
		sink := newFrameSink()
		err := runSource(t, &MJPEGSource{URL: base + c.path}, sink, 10*time.Second)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: %v, want %q", c.path, err, c.want)
		}
		if sink.begins != 0 {
			t.Errorf("%s: Begin called", c.path)
		}
	}

	// Refused, with credentials in the URL: the error names the address,
	// not the password.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	err = runSource(t, &MJPEGSource{URL: "http://admin:hunter2@" + addr + "/x"}, newFrameSink(), 10*time.Second)
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "refused") {
		t.Errorf("refused: %v", err)
	}
	for _, bad := range []string{"rtsp://admin:hunter2@cam/x", "http://", "::"} {
		err := runSource(t, &MJPEGSource{URL: bad}, newFrameSink(), 10*time.Second)
		if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "invalid source URL") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

func TestMJPEGHTTPS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(authHandler(t, "digest-qop", "admin", "tls-pass", rawHandler("multipart/x-mixed-replace; boundary=b", streamFrames(3))))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	defer srv.Close()
	u := strings.Replace(srv.URL, "https://", "https://admin:tls-pass@", 1)

	sink := newFrameSink()
	err := runSource(t, &MJPEGSource{URL: u, InsecureSkipVerify: true}, sink, 10*time.Second)
	if err == nil || strings.Contains(err.Error(), "tls-pass") {
		t.Errorf("Run: %v", err)
	}
	checkFrames(t, sink, []int{0, 1, 2})

	err = runSource(t, &MJPEGSource{URL: u}, newFrameSink(), 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "certificate") || strings.Contains(err.Error(), "tls-pass") {
		t.Errorf("self-signed without InsecureSkipVerify: %v", err)
	}
}

// loopReader serves a byte stream over and over, left bytes of it: a
// camera without a network, for measuring the parser alone.
type loopReader struct {
	b    []byte
	off  int
	left int
}

func (l *loopReader) Read(p []byte) (int, error) {
	if l.left == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), l.left)], l.b[l.off:])
	l.off = (l.off + n) % len(l.b)
	l.left -= n
	return n, nil
}

type countSink struct{ n int }

func (s *countSink) Begin([]codec.Track) error { return nil }
func (s *countSink) WriteFrame(*codec.Frame)   { s.n++ }

func newLoopReader(kind string) *loopReader {
	var b bytes.Buffer
	for i := range 12 {
		switch kind {
		case "bare":
			b.Write(frame(i))
		case "length":
			writePart(&b, partOpts{line: "--b"}, frame(i))
		default:
			writePart(&b, partOpts{line: "--b", noLength: true}, frame(i))
		}
	}
	return &loopReader{b: b.Bytes()}
}

func newTestReader(r io.Reader, sink FrameSink) *mjpegReader {
	return &mjpegReader{
		body: r, buf: make([]byte, 64<<10), max: 8 << 20, limit: 8<<20 + 64<<10,
		stats: &SourceStats{}, sink: sink, lastFrame: new(atomic.Int64), lineStart: true,
	}
}

// readLoops runs the parser over loops rounds of the reader's stream.
func readLoops(m *mjpegReader, kind string, lr *loopReader, loops int) {
	lr.left = loops * len(lr.b)
	m.err = nil
	if kind == "bare" {
		_ = m.runBare()
	} else {
		_ = m.runMultipart("b")
	}
}

// TestMJPEGReaderAllocs holds the parser to no allocation per frame once
// its buffer has grown.
func TestMJPEGReaderAllocs(t *testing.T) {
	for _, kind := range []string{"length", "scan", "bare"} {
		lr := newLoopReader(kind)
		sink := &countSink{}
		m := newTestReader(lr, sink)
		readLoops(m, kind, lr, 3)
		before := sink.n
		// Per run of 10 x 12 frames: the session's error and the
		// delimiter, nothing per frame.
		if a := testing.AllocsPerRun(5, func() { readLoops(m, kind, lr, 10) }); a > 3 {
			t.Errorf("%s: %.1f allocations per 120 frames", kind, a)
		}
		// Without Content-Length the last part of a run waits for the
		// boundary of the next, which the next run skips.
		if got := sink.n - before; got < 6*(120-1) {
			t.Errorf("%s: %d frames", kind, got)
		}
		if m.stats.Corrupt.Load() != 0 {
			t.Errorf("%s: %d corrupt", kind, m.stats.Corrupt.Load())
		}
	}
}

func BenchmarkMJPEGReader(b *testing.B) {
	for _, kind := range []string{"length", "scan", "bare"} {
		b.Run(kind, func(b *testing.B) {
			lr := newLoopReader(kind)
			sink := &countSink{}
			m := newTestReader(lr, sink)
			readLoops(m, kind, lr, 3)
			b.SetBytes(int64(len(lr.b) / 12))
			b.ReportAllocs()
			b.ResetTimer()
			readLoops(m, kind, lr, b.N/12+1)
		})
	}
}

// TestMJPEGReaderMutations feeds damaged streams to the parser in random
// small reads: whatever the bytes, it must neither panic nor loop, must end
// with the stream, and must deliver only JPEGs that pass the structural
// check.
func TestMJPEGReaderMutations(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	for _, kind := range []string{"length", "scan", "bare"} {
		clean := newLoopReader(kind).b
		for range 300 {
			b := bytes.Clone(clean)
			for range 1 + r.IntN(8) {
				i := r.IntN(len(b))
				switch r.IntN(4) {
				case 0:
					b[i] = []byte{0xff, 0xd8, 0xd9, '\n', '-', 0}[r.IntN(6)]
				case 1:
					b = append(b[:i], b[min(len(b), i+1+r.IntN(2000)):]...)
				case 2:
					b = append(b[:i], append([]byte("\r\n--b\r\nContent-Length: 99999999\r\n\r\n"), b[i:]...)...)
				default: // a piece of the stream again
					src := b[r.IntN(len(b)):]
					b = append(b[:i], append(bytes.Clone(src[:min(100, len(src))]), b[i:]...)...)
				}
			}
			sink := &checkSink{t: t}
			m := newTestReader(&chunkReader{b: b, rng: r}, sink)
			m.max, m.limit = 64<<10, 128<<10
			done := make(chan error, 1)
			go func() {
				if kind == "bare" {
					done <- m.runBare()
				} else {
					done <- m.runMultipart("b")
				}
			}()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("parser ended without an error")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("parser stuck")
			}
		}
	}
}

type chunkReader struct {
	b   []byte
	rng *rand.Rand
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 1+c.rng.IntN(3000))], c.b)
	c.b = c.b[n:]
	return n, nil
}

// checkSink fails the test on a frame that is not a whole JPEG.
type checkSink struct{ t *testing.T }

func (s *checkSink) Begin([]codec.Track) error { return nil }
func (s *checkSink) WriteFrame(f *codec.Frame) {
	var sc codec.JPEGScanner
	if n, err := sc.Next(f.JPEG); n != len(f.JPEG) || err != nil {
		s.t.Errorf("delivered a frame that does not check: %d of %d bytes, %v", n, len(f.JPEG), err)
	}
}

package camsim

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MJPEGConfig describes a simulated MJPEG-over-HTTP camera and its quirks.
// Only Path is required; every other zero value is the well-behaved camera:
// multipart/x-mixed-replace with a plain boundary and a Content-Length per
// part, 640x480 at 25 fps, no credentials.
//
// Every frame carries its send time as a barcode (codec.DrawBarcode) in a
// moving picture.
type MJPEGConfig struct {
	Path          string // URL path, e.g. "cam1"; leading and trailing slashes are ignored
	Width, Height int    // picture size; 0 means 640x480
	FPS           int    // nominal frame rate; 0 means 25
	// VariableFPS makes frame intervals vary between 0.5 and 1.5 times the
	// nominal one (in pairs that average to it), as cameras that send
	// "as fast as they can" do.
	VariableFPS bool
	// Chroma422 encodes 4:2:2 instead of 4:2:0.
	Chroma422 bool

	// User and Pass are the credentials the camera asks for with Auth.
	// With a User and AuthNone the camera uses AuthDigest.
	User, Pass string
	Auth       AuthMethod

	// NoContentLength leaves Content-Length out of the part headers: the
	// reader has to find the next boundary.
	NoContentLength bool
	// QuotedBoundary declares the boundary in quotes: boundary="...".
	QuotedBoundary bool
	// DashedBoundary declares the boundary with the leading "--" that the
	// delimiter lines carry, as some firmware does (RFC 2046 would put two
	// more dashes on the lines).
	DashedBoundary bool
	// DoubledBoundary writes the boundary line twice before every third
	// part.
	DoubledBoundary bool
	// JunkPrefix writes a line and some binary junk after the response
	// header: before the first part, or before the first JPEG of a Bare
	// stream.
	JunkPrefix bool
	// Bare sends no multipart at all: JPEGs back to back, with Content-Type
	// image/jpeg (or ContentType).
	Bare bool
	// ContentType replaces the response's Content-Type, e.g.
	// "application/octet-stream" for a Bare stream, or "text/html" for a
	// camera that is not serving video.
	ContentType string

	// CorruptEvery damages bytes inside the entropy-coded data of every
	// Nth frame, keeping SOI, EOI and every marker: a structurally sound
	// JPEG that decoders reject (see corruptScan). 0: never.
	CorruptEvery int
	// TruncateEvery cuts every Nth frame short, before its EOI; the next
	// part (or JPEG) follows at once. A part's Content-Length is that of
	// what is sent. 0: never.
	TruncateEvery int
	// ResizeAt changes the picture size from frame number ResizeAt on
	// (counted from 0 since the camera started, see FramesSent), to
	// ResizeWidth x ResizeHeight (0: 800x600). 0: never.
	ResizeAt                  int
	ResizeWidth, ResizeHeight int
}

func (cfg *MJPEGConfig) validate() error {
	switch {
	case cfg.Path == "":
		return errors.New("empty path")
	case strings.ContainsAny(cfg.Path, "?# \t\r\n"):
		return errors.New("path must be a plain URL path")
	case cfg.Width < 0 || cfg.Height < 0 || cfg.Width > 4096 || cfg.Height > 4096:
		return fmt.Errorf("size %dx%d out of range", cfg.Width, cfg.Height)
	case cfg.ResizeWidth < 0 || cfg.ResizeHeight < 0 || cfg.ResizeWidth > 4096 || cfg.ResizeHeight > 4096:
		return fmt.Errorf("resize %dx%d out of range", cfg.ResizeWidth, cfg.ResizeHeight)
	case (cfg.Width == 0) != (cfg.Height == 0) || (cfg.ResizeWidth == 0) != (cfg.ResizeHeight == 0):
		return errors.New("set both width and height, or neither")
	case cfg.FPS < 0 || cfg.FPS > 240:
		return fmt.Errorf("fps %d out of range 1..240", cfg.FPS)
	case cfg.CorruptEvery < 0 || cfg.TruncateEvery < 0 || cfg.ResizeAt < 0:
		return errors.New("negative CorruptEvery, TruncateEvery or ResizeAt")
	case cfg.Auth < AuthNone || cfg.Auth > AuthDigestQop:
		return fmt.Errorf("unknown auth method %d", int(cfg.Auth))
	case cfg.Auth != AuthNone && cfg.User == "":
		return fmt.Errorf("auth %s needs a user", cfg.Auth)
	case strings.ContainsAny(cfg.User, ":\""):
		return errors.New("user must not contain ':' or '\"'")
	case strings.ContainsAny(cfg.ContentType, "\r\n"):
		return errors.New("content type must be one line")
	}
	return nil
}

// mjpegBoundary is the multipart boundary; the delimiter lines are
// "--" + mjpegBoundary whatever the Content-Type declares.
const mjpegBoundary = "camsimframe"

// mjpegJunk is what JunkPrefix writes: text, then bytes that are neither a
// boundary nor a JPEG marker.
var mjpegJunk = []byte("camsim: junk before the first frame\r\n\x00\x01\x02 \x7f\x10\x80\xd8\xd9\r\n\r\n")

// MJPEGCamera is one simulated MJPEG-over-HTTP camera of a Server. Its
// methods are safe for concurrent use.
type MJPEGCamera struct {
	s     *Server
	cfg   MJPEGConfig
	auth  AuthMethod
	nonce string
	head  []byte // the response header, and junk if any

	stalled  atomic.Bool
	connects atomic.Uint64
	frames   atomic.Uint64

	mu      sync.Mutex
	clients map[*mjpegClient]struct{}
	down    bool
	removed bool

	running  atomic.Bool
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}

	// Owned by the clock goroutine.
	rng  *rand.Rand
	sc   jpegScratch
	jpg  []byte
	part []byte
	snap []*mjpegClient
}

type mjpegClient struct {
	nc        net.Conn
	closeOnce sync.Once
}

func (cl *mjpegClient) close() { cl.closeOnce.Do(func() { cl.nc.Close() }) }

func newMJPEGCamera(s *Server, cfg MJPEGConfig) *MJPEGCamera {
	c := &MJPEGCamera{
		s:       s,
		cfg:     cfg,
		auth:    cfg.Auth,
		nonce:   newNonce(),
		clients: make(map[*mjpegClient]struct{}),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		rng:     rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
	if c.auth == AuthNone && cfg.User != "" {
		c.auth = AuthDigest
	}
	ct := cfg.ContentType
	if ct == "" {
		if cfg.Bare {
			ct = "image/jpeg"
		} else {
			b := mjpegBoundary
			if cfg.DashedBoundary {
				b = "--" + b
			}
			if cfg.QuotedBoundary {
				b = `"` + b + `"`
			}
			ct = "multipart/x-mixed-replace; boundary=" + b
		}
	}
	c.head = []byte("HTTP/1.1 200 OK\r\nContent-Type: " + ct +
		"\r\nCache-Control: no-cache, no-store\r\nPragma: no-cache\r\nConnection: close\r\nServer: camsim\r\n\r\n")
	if cfg.JunkPrefix {
		c.head = append(c.head, mjpegJunk...)
	}
	return c
}

// AddMJPEGCamera adds an MJPEG-over-HTTP camera, served at MJPEGURL(path);
// it starts producing frames as soon as the server runs.
func (s *Server) AddMJPEGCamera(cfg MJPEGConfig) (*MJPEGCamera, error) {
	cfg.Path = cleanPath(cfg.Path)
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("camsim: mjpeg camera %q: %w", cfg.Path, err)
	}
	if cfg.Width == 0 {
		cfg.Width, cfg.Height = 640, 480
	}
	if cfg.ResizeWidth == 0 {
		cfg.ResizeWidth, cfg.ResizeHeight = 800, 600
	}
	if cfg.FPS == 0 {
		cfg.FPS = 25
	}
	// Encode the backgrounds now, outside the server's lock, rather than
	// on the camera's first frame (up to half a second at 720p).
	sub := sub420
	if cfg.Chroma422 {
		sub = sub422
	}
	s.jpeg.get(cfg.Width, cfg.Height, sub)
	if cfg.ResizeAt > 0 {
		s.jpeg.get(cfg.ResizeWidth, cfg.ResizeHeight, sub)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("camsim: mjpeg camera %q: server closed", cfg.Path)
	}
	s.initMaps()
	if _, ok := s.mjpeg[cfg.Path]; ok {
		return nil, fmt.Errorf("camsim: mjpeg camera %q: path already in use", cfg.Path)
	}
	c := newMJPEGCamera(s, cfg)
	s.mjpeg[cfg.Path] = c
	if s.started {
		c.start()
	}
	return c, nil
}

// RemoveMJPEGCamera stops the MJPEG camera at path and closes its
// connections.
func (s *Server) RemoveMJPEGCamera(path string) {
	path = cleanPath(path)
	s.mu.Lock()
	c := s.mjpeg[path]
	delete(s.mjpeg, path)
	s.mu.Unlock()
	if c == nil {
		return
	}
	c.mu.Lock()
	c.removed = true
	c.mu.Unlock()
	c.Drop()
	c.stopClock()
}

// MJPEGAddr is the HTTP listen address (host:port) after Start, or "".
func (s *Server) MJPEGAddr() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.httpLn == nil {
		return ""
	}
	return s.httpLn.Addr().String()
}

// MJPEGURL is the MJPEG camera's http:// URL, with its credentials in it if
// it has any. Print it with Redacted.
func (s *Server) MJPEGURL(path string) string {
	path = cleanPath(path)
	s.mu.RLock()
	c := s.mjpeg[path]
	s.mu.RUnlock()
	u := "http://"
	if c != nil && c.cfg.User != "" {
		u += urlUserPass(c.cfg.User, c.cfg.Pass) + "@"
	}
	return u + s.MJPEGAddr() + "/" + path
}

func (c *MJPEGCamera) start() {
	c.running.Store(true)
	c.s.wg.Go(c.run)
}

func (c *MJPEGCamera) stopClock() {
	c.stopOnce.Do(func() { close(c.stop) })
	if c.running.Load() {
		<-c.done
	}
}

// interval is the time from frame n to frame n+1. With VariableFPS,
// frames come in pairs of (1-u) and (1+u) nominal intervals, u up to 0.5,
// so that the average rate stays the nominal one.
func (c *MJPEGCamera) interval(n uint64, u float64) time.Duration {
	d := time.Second / time.Duration(c.cfg.FPS)
	if !c.cfg.VariableFPS {
		return d
	}
	if n%2 == 0 {
		return time.Duration(float64(d) * (1 - u))
	}
	return time.Duration(float64(d) * (1 + u))
}

func (c *MJPEGCamera) run() {
	defer close(c.done)
	t := time.NewTimer(0)
	defer t.Stop()
	due := time.Now()
	var n uint64
	u := 0.0
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		now := time.Now()
		if now.Sub(due) > behindLimit {
			due = now // an overloaded machine: skip the backlog
		}
		c.sendFrame()
		if n%2 == 0 {
			u = c.rng.Float64() / 2
		}
		due = due.Add(c.interval(n, u))
		n++
		t.Reset(time.Until(due))
	}
}

// sendFrame makes the next frame and writes it to every client.
func (c *MJPEGCamera) sendFrame() {
	num := c.frames.Add(1) - 1
	if c.stalled.Load() {
		return
	}
	c.mu.Lock()
	c.snap = c.snap[:0]
	for cl := range c.clients {
		c.snap = append(c.snap, cl)
	}
	c.mu.Unlock()
	if len(c.snap) == 0 {
		return // nobody watching: idle cameras cost only their timer
	}
	cfg := &c.cfg
	w, h := cfg.Width, cfg.Height
	if cfg.ResizeAt > 0 && num >= uint64(cfg.ResizeAt) {
		w, h = cfg.ResizeWidth, cfg.ResizeHeight
	}
	sub := sub420
	if cfg.Chroma422 {
		sub = sub422
	}
	frames := c.s.jpeg.get(w, h, sub)
	c.jpg = frames.frame(c.jpg[:0], &c.sc, int(num), time.Now().UnixMilli(), true)
	jpg := c.jpg
	nth := num + 1
	if cfg.CorruptEvery > 0 && nth%uint64(cfg.CorruptEvery) == 0 {
		corruptScan(jpg, len(frames.header), c.rng)
	}
	if cfg.TruncateEvery > 0 && nth%uint64(cfg.TruncateEvery) == 0 {
		jpg = jpg[:len(frames.header)+(len(jpg)-len(frames.header))/2]
	}

	out := jpg
	if !cfg.Bare {
		b := c.part[:0]
		if cfg.DoubledBoundary && num%3 == 0 {
			b = append(b, "--"+mjpegBoundary+"\r\n"...)
		}
		b = append(b, "--"+mjpegBoundary+"\r\nContent-Type: image/jpeg\r\n"...)
		if !cfg.NoContentLength {
			b = append(b, "Content-Length: "...)
			b = strconv.AppendInt(b, int64(len(jpg)), 10)
			b = append(b, "\r\n"...)
		}
		b = append(b, "\r\n"...)
		b = append(b, jpg...)
		b = append(b, "\r\n"...)
		c.part = b
		out = b
	}
	for _, cl := range c.snap {
		_ = cl.nc.SetWriteDeadline(time.Now().Add(c.s.writeTimeout))
		if _, err := cl.nc.Write(out); err != nil {
			// The client's handler sees its connection close and forgets it.
			c.s.log.Debug("mjpeg client write failed, closing", "path", cfg.Path, "err", err)
			cl.close()
		}
	}
}

// corruptScan damages 16 bytes in the middle of a JPEG's entropy-coded
// data, as a bit error in transit would, without touching its markers: the
// bytes become stuffed 0xff (0xff 0x00 pairs), a run of 64 one bits, which
// no Huffman table of a baseline JPEG decodes (T.81 reserves the all-ones
// codes), so that decoders notice rather than paint garbage. The byte
// before the run is not 0xff, so no marker changes meaning.
func corruptScan(jpg []byte, scanStart int, rng *rand.Rand) {
	end := len(jpg) - 2
	if end-scanStart < 64 {
		return
	}
	pos := scanStart + (end-scanStart)/3 + rng.IntN((end-scanStart)/3)
	for pos < end-16 && jpg[pos-1] == 0xff {
		pos++
	}
	if pos >= end-16 {
		return
	}
	for i := 0; i < 16; i += 2 {
		jpg[pos+i], jpg[pos+i+1] = 0xff, 0x00
	}
}

// Drop closes every connection of this camera now, as a network drop does.
func (c *MJPEGCamera) Drop() {
	c.mu.Lock()
	cls := make([]*mjpegClient, 0, len(c.clients))
	for cl := range c.clients {
		cls = append(cls, cl)
	}
	c.mu.Unlock()
	for _, cl := range cls {
		cl.close()
	}
}

// SetDown makes the camera unreachable (down true) or reachable again.
// While down, requests for its path get no answer: camsim closes the TCP
// connection. Streams already running are not touched; Drop them to
// simulate an outage.
func (c *MJPEGCamera) SetDown(down bool) {
	c.mu.Lock()
	c.down = down
	c.mu.Unlock()
}

// Stall stops (on) or resumes the frames while connections stay open. The
// clock keeps running: FramesSent keeps counting.
func (c *MJPEGCamera) Stall(on bool) { c.stalled.Store(on) }

// Sessions is the number of clients currently streaming.
func (c *MJPEGCamera) Sessions() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.clients)
}

// Connects is the number of streams the camera started (200 responses),
// ever.
func (c *MJPEGCamera) Connects() uint64 { return c.connects.Load() }

// FramesSent is the number of frames the camera's clock produced, whether
// anybody received them or not.
func (c *MJPEGCamera) FramesSent() uint64 { return c.frames.Load() }

// Path is the camera's URL path.
func (c *MJPEGCamera) Path() string { return c.cfg.Path }

func (c *MJPEGCamera) isDown() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.down
}

func (c *MJPEGCamera) addClient(cl *mjpegClient) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removed {
		return false
	}
	c.clients[cl] = struct{}{}
	c.connects.Add(1)
	return true
}

func (c *MJPEGCamera) removeClient(cl *mjpegClient) {
	c.mu.Lock()
	delete(c.clients, cl)
	c.mu.Unlock()
}

// serveHTTP answers one HTTP request: 404 for unknown paths, 401 without the
// camera's credentials, and otherwise the stream, written on the hijacked
// connection as cameras write it (no chunked encoding, close-delimited).
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	// Tracked so that Close waits for streaming handlers; Add happens
	// before Close marks the server closed, hence before its Wait.
	s.wg.Add(1)
	c := s.mjpeg[cleanPath(r.URL.Path)]
	s.mu.Unlock()
	defer s.wg.Done()

	if c == nil {
		http.NotFound(w, r)
		return
	}
	if c.isDown() {
		if nc, _, err := http.NewResponseController(w).Hijack(); err == nil {
			nc.Close()
		}
		return
	}
	if c.auth != AuthNone {
		res := checkAuthorization(r.Method, r.Header.Values("Authorization"), c.auth, c.cfg.User, c.cfg.Pass, c.nonce)
		if res != authOK {
			w.Header()["Www-Authenticate"] = []string(challenge(c.auth, c.nonce, res == authStale))
			http.Error(w, "401 Unauthorized", http.StatusUnauthorized)
			return
		}
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "405 Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		s.log.Warn("mjpeg: hijack", "err", err)
		return
	}
	cl := &mjpegClient{nc: nc}
	defer cl.close()
	_ = nc.SetWriteDeadline(time.Now().Add(s.writeTimeout))
	if _, err := nc.Write(c.head); err != nil {
		return
	}
	if !c.addClient(cl) {
		return
	}
	defer c.removeClient(cl)
	s.log.Debug("mjpeg stream", "path", c.cfg.Path, "remote", nc.RemoteAddr().String())
	// Reading is how a client's leaving is noticed while nothing is
	// written (a stalled camera); Drop and Close end it by closing nc.
	_ = nc.SetReadDeadline(time.Time{})
	_, _ = io.Copy(io.Discard, brw.Reader)
}

func urlUserPass(user, pass string) string {
	return url.UserPassword(user, pass).String()
}

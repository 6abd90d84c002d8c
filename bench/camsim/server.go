package camsim

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Server is a set of simulated cameras behind one RTSP listener.
//
// The zero value is ready to use: set the fields before Start and do not
// change them afterwards.
type Server struct {
	// ListenAddr is the RTSP (TCP) listen address; empty means
	// "127.0.0.1:0", a free loopback port (see Addr).
	ListenAddr string

	// UDPRTPAddr and UDPRTCPAddr are the shared UDP sockets that every
	// UDP session is served from (the server_port pair of SETUP). When both
	// are empty camsim picks a free even/odd pair on 127.0.0.1, falling back
	// to any two free ports; an empty one alone means "127.0.0.1:0".
	UDPRTPAddr, UDPRTCPAddr string

	// MJPEGListenAddr is the HTTP listen address of the MJPEG cameras;
	// empty means "127.0.0.1:0" (see MJPEGAddr).
	MJPEGListenAddr string

	// WriteTimeout bounds each write to a TCP session; a client that cannot
	// take a frame within it is disconnected. The camera's clock writes to
	// its sessions in turn, so such a client delays the camera's other
	// sessions once, by up to this much. Zero means 2 s.
	WriteTimeout time.Duration

	// Log receives connection and session events; nil discards them.
	Log *slog.Logger

	log          *slog.Logger
	writeTimeout time.Duration

	mu       sync.RWMutex
	started  bool
	closed   bool
	ln       net.Listener
	udpRTP   *net.UDPConn
	udpRTCP  *net.UDPConn
	rtpPort  int
	rtcpPort int
	cameras  map[string]*Camera
	clips    map[string]*Clip
	audio    map[string]*audioClip
	conns    map[*rtspConn]struct{}
	wg       sync.WaitGroup

	httpLn  net.Listener
	httpSrv *http.Server
	mjpeg   map[string]*MJPEGCamera
	jpeg    jpegFrameSet // pre-encoded MJPEG pictures, shared by size
}

// Start opens the listeners and starts the cameras added so far.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("camsim: server closed")
	}
	if s.started {
		return errors.New("camsim: server already started")
	}
	s.log = s.Log
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.writeTimeout = s.WriteTimeout
	if s.writeTimeout <= 0 {
		s.writeTimeout = 2 * time.Second
	}
	addr := s.ListenAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("camsim: listen: %w", err)
	}
	haddr := s.MJPEGListenAddr
	if haddr == "" {
		haddr = "127.0.0.1:0"
	}
	hln, err := net.Listen("tcp", haddr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("camsim: listen http: %w", err)
	}
	rtp, rtcp, err := listenUDPPair(s.UDPRTPAddr, s.UDPRTCPAddr)
	if err != nil {
		ln.Close()
		hln.Close()
		return fmt.Errorf("camsim: %w", err)
	}
	s.ln, s.udpRTP, s.udpRTCP = ln, rtp, rtcp
	s.httpLn = hln
	s.httpSrv = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.rtpPort = rtp.LocalAddr().(*net.UDPAddr).Port
	s.rtcpPort = rtcp.LocalAddr().(*net.UDPAddr).Port
	s.started = true
	s.initMaps()

	s.wg.Go(s.acceptLoop)
	srv := s.httpSrv
	s.wg.Go(func() { _ = srv.Serve(hln) })
	s.wg.Go(func() { drainUDP(rtp) })
	s.wg.Go(func() { drainUDP(rtcp) })
	for _, c := range s.cameras {
		c.start()
	}
	for _, c := range s.mjpeg {
		c.start()
	}
	s.log.Info("camsim listening", "rtsp", ln.Addr().String(), "http", hln.Addr().String(), "udp_rtp", s.rtpPort, "udp_rtcp", s.rtcpPort)
	return nil
}

func (s *Server) initMaps() {
	if s.cameras == nil {
		s.cameras = make(map[string]*Camera)
		s.clips = make(map[string]*Clip)
		s.audio = make(map[string]*audioClip)
		s.conns = make(map[*rtspConn]struct{})
		s.mjpeg = make(map[string]*MJPEGCamera)
	}
}

// listenUDPPair opens the RTP and RTCP sockets. RTSP does not require an
// even/odd pair, but some clients assume one, so it tries for one first.
func listenUDPPair(rtpAddr, rtcpAddr string) (*net.UDPConn, *net.UDPConn, error) {
	if rtpAddr == "" && rtcpAddr == "" {
		for range 20 {
			rtp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				return nil, nil, fmt.Errorf("listen udp rtp: %w", err)
			}
			p := rtp.LocalAddr().(*net.UDPAddr).Port
			if p%2 == 0 && p < 65535 {
				rtcp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p + 1})
				if err == nil {
					return rtp, rtcp, nil
				}
			}
			rtp.Close()
		}
	}
	if rtpAddr == "" {
		rtpAddr = "127.0.0.1:0"
	}
	if rtcpAddr == "" {
		rtcpAddr = "127.0.0.1:0"
	}
	rtp, err := listenUDP(rtpAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen udp rtp: %w", err)
	}
	rtcp, err := listenUDP(rtcpAddr)
	if err != nil {
		rtp.Close()
		return nil, nil, fmt.Errorf("listen udp rtcp: %w", err)
	}
	return rtp, rtcp, nil
}

func listenUDP(addr string) (*net.UDPConn, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	return net.ListenUDP("udp", ua)
}

// drainUDP reads and ignores what clients send to the shared sockets:
// receiver reports and NAT punch packets. Reading keeps the socket buffer
// from filling; nothing in them changes what a camera sends.
func drainUDP(c *net.UDPConn) {
	buf := make([]byte, 2048)
	for {
		if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
		}
	}
}

func (s *Server) acceptLoop() {
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("accept", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		c := newRTSPConn(s, nc)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(c.run)
	}
}

// Close stops every camera and connection and waits for their goroutines.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	cams := make([]*Camera, 0, len(s.cameras))
	for _, c := range s.cameras {
		cams = append(cams, c)
	}
	conns := make([]*rtspConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	mcams := make([]*MJPEGCamera, 0, len(s.mjpeg))
	for _, c := range s.mjpeg {
		mcams = append(mcams, c)
	}
	if s.ln != nil {
		s.ln.Close()
		s.udpRTP.Close()
		s.udpRTCP.Close()
	}
	srv := s.httpSrv
	s.mu.Unlock()

	// Connections first: that unblocks any clock stuck in a write.
	if srv != nil {
		// Closes the listener and the connections net/http still owns (a
		// client between requests, after a 401); streams were hijacked
		// and are the cameras' to close.
		srv.Close()
	}
	for _, c := range conns {
		c.close()
	}
	for _, c := range mcams {
		// No new streams from handlers already past the closed check.
		c.mu.Lock()
		c.removed = true
		c.mu.Unlock()
		c.Drop()
	}
	for _, c := range cams {
		c.stopClock()
	}
	for _, c := range mcams {
		c.stopClock()
	}
	s.wg.Wait()
}

// Addr is the RTSP listen address (host:port) after Start, or "" before.
func (s *Server) Addr() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// URL is the camera's RTSP URL, with its credentials in it if it has any.
// Print it with Redacted.
func (s *Server) URL(path string) string {
	path = cleanPath(path)
	u := url.URL{Scheme: "rtsp", Host: s.Addr(), Path: "/" + path}
	s.mu.RLock()
	c := s.cameras[path]
	s.mu.RUnlock()
	if c != nil && c.cfg.User != "" {
		u.User = url.UserPassword(c.cfg.User, c.cfg.Pass)
	}
	return u.String()
}

// Redacted is rawURL with any password replaced by "***", for logs.
func Redacted(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		return rawURL
	}
	if _, ok := u.User.Password(); !ok {
		return rawURL
	}
	// url.UserPassword would escape the stars.
	name := url.User(u.User.Username()).String()
	u.User = nil
	scheme, rest, _ := strings.Cut(u.String(), "://")
	return scheme + "://" + name + ":***@" + rest
}

func cleanPath(p string) string {
	return strings.Trim(p, "/")
}

// AddCamera adds a camera; it starts sending as soon as the server runs.
func (s *Server) AddCamera(cfg CameraConfig) (*Camera, error) {
	cfg.Path = cleanPath(cfg.Path)
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("camsim: camera %q: %w", cfg.Path, err)
	}
	if cfg.FPS == 0 {
		cfg.FPS = 25
	}
	if cfg.Codec == "" {
		cfg.Codec = "H264"
	}
	var jpeg *jpegFrames
	if cfg.Codec == "JPEG" {
		if cfg.Width == 0 {
			cfg.Width, cfg.Height = 640, 480
		}
		sub := sub420
		if cfg.Chroma422 {
			sub = sub422
		}
		// Outside the server's lock: the first camera of a size encodes
		// its backgrounds, up to half a second at 720p.
		jpeg = s.jpeg.get(cfg.Width, cfg.Height, sub)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("camsim: camera %q: server closed", cfg.Path)
	}
	s.initMaps()
	if _, ok := s.cameras[cfg.Path]; ok {
		return nil, fmt.Errorf("camsim: camera %q: path already in use", cfg.Path)
	}
	var clip *Clip
	var err error
	if cfg.Codec != "JPEG" {
		if clip, err = s.loadClipLocked(cfg.Clip, cfg.Codec, cfg.FPS); err != nil {
			return nil, fmt.Errorf("camsim: camera %q: %w", cfg.Path, err)
		}
	}
	var audio *audioClip
	if cfg.Audio != "" {
		audio = s.audio[cfg.Audio]
		if audio == nil {
			audio, err = loadAudio(cfg.Audio)
			if err != nil {
				return nil, fmt.Errorf("camsim: camera %q: audio: %w", cfg.Path, err)
			}
			s.audio[cfg.Audio] = audio
		}
	}
	c, err := newCamera(s, cfg, clip, jpeg, audio)
	if err != nil {
		return nil, fmt.Errorf("camsim: camera %q: %w", cfg.Path, err)
	}
	s.cameras[cfg.Path] = c
	if s.started {
		c.start()
	}
	return c, nil
}

// loadClipLocked shares one parsed clip among the cameras that use a file.
func (s *Server) loadClipLocked(path, codec string, fps int) (*Clip, error) {
	key := codec + ":" + path
	c := s.clips[key]
	if c == nil {
		var err error
		if c, err = LoadClipCodec(path, codec, fps); err != nil {
			return nil, err
		}
		s.clips[key] = c
	}
	if c.FPS != fps {
		cc := *c // shares the frames
		cc.FPS = fps
		c = &cc
	}
	return c, nil
}

// RemoveCamera stops the camera at path and closes its connections.
func (s *Server) RemoveCamera(path string) {
	path = cleanPath(path)
	s.mu.Lock()
	c := s.cameras[path]
	delete(s.cameras, path)
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

func (s *Server) camera(path string) *Camera {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cameras[path]
}

func (s *Server) forgetConn(c *rtspConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

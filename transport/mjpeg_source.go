package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/camrelay/camrelay/codec"
)

// FrameSink is what an MJPEG source (and the RTSP depacketizer) feeds: in
// practice a codec.Transcoder. Begin starts a session; WriteFrame gets each
// picture, borrowed: the sink copies what it keeps before returning.
type FrameSink interface {
	Begin(tracks []codec.Track) error
	WriteFrame(f *codec.Frame)
}

// MJPEGTracks are the tracks of every MJPEG-over-HTTP session: one JPEG
// video track on the RTP clock (the sink turns arrival times into it).
func MJPEGTracks() []codec.Track {
	return []codec.Track{{Kind: codec.KindVideo, Codec: "JPEG", ClockRate: 90000}}
}

// HTTPStatusError is an HTTP request answered with a status other than 200.
type HTTPStatusError struct {
	Code int
	// NoCredentials is set on a 401 to a request whose URL had no user.
	NoCredentials bool
}

func (e *HTTPStatusError) Error() string {
	hint := ""
	switch e.Code {
	case 401:
		hint = " (check user and password)"
		if e.NoCredentials {
			hint = " (the camera asks for credentials and the URL has none)"
		}
	case 403:
		hint = " (the account lacks permission)"
	case 404:
		hint = " (check the URL path)"
	}
	text := http.StatusText(e.Code)
	if text == "" {
		text = "status"
	}
	return fmt.Sprintf("http %d %s%s", e.Code, text, hint)
}

// MJPEGSource pulls one MJPEG-over-HTTP camera: multipart/x-mixed-replace
// (with or without a Content-Length per part, with the boundary quirks of
// real firmware) or a bare stream of concatenated JPEGs, over http or https,
// with Basic or Digest authentication. Each complete, structurally sound
// JPEG goes to a FrameSink; cut-short and malformed ones are counted in
// Stats.Corrupt and skipped, parts over MaxFrameSize in Stats.Oversized.
//
// Run may be called again after it returns (reusing the read buffer), but
// not concurrently.
type MJPEGSource struct {
	// URL of the camera, http:// or https://, credentials in it
	// (http://user:pass@host/path).
	URL string
	// ReadTimeout bounds dialing, the response header, and each read.
	// Zero means 10 s.
	ReadTimeout time.Duration
	// StallTimeout is how long the camera may deliver no complete frame
	// before the session is dropped, even if bytes keep coming. Zero
	// means 5 s.
	StallTimeout time.Duration
	// MaxFrameSize bounds a part (or bare JPEG): larger ones are dropped,
	// counted, and the reader resynchronises at the next one; memory stays
	// bounded by about this much. Zero means 8 MiB.
	MaxFrameSize int
	// InsecureSkipVerify accepts any certificate over https, for cameras
	// with self-signed ones.
	InsecureSkipVerify bool
	// Stats, when set, receives the session's counters: Packets counts
	// parts (or bare JPEGs), Bytes the body bytes, Frames the JPEGs
	// delivered.
	Stats *SourceStats
	// Log, when set, gets debug messages (never credentials).
	Log *slog.Logger

	buf []byte
}

func (s *MJPEGSource) readTimeout() time.Duration {
	if s.ReadTimeout > 0 {
		return s.ReadTimeout
	}
	return 10 * time.Second
}

func (s *MJPEGSource) stallTimeout() time.Duration {
	if s.StallTimeout > 0 {
		return s.StallTimeout
	}
	return 5 * time.Second
}

func (s *MJPEGSource) maxFrameSize() int {
	if s.MaxFrameSize > 0 {
		return s.MaxFrameSize
	}
	return 8 << 20
}

// Run connects, announces MJPEGTracks to the sink, and feeds it frames until
// the stream fails, stalls or ctx ends. It returns why (nil when ctx ended).
// Errors never contain credentials.
func (s *MJPEGSource) Run(ctx context.Context, sink FrameSink) error {
	err := s.run(ctx, sink)
	if ctx.Err() != nil {
		return nil
	}
	return Scrub(err, s.URL)
}

func (s *MJPEGSource) run(ctx context.Context, sink FrameSink) error {
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("invalid source URL %s (want http:// or https://)", RedactURL(s.URL))
	}
	var user, pass string
	if u.User != nil {
		user = u.User.Username()
		pass, _ = u.User.Password()
	}
	reqURL := *u
	reqURL.User = nil
	stats := s.Stats
	if stats == nil {
		stats = &SourceStats{}
	}
	rt := s.readTimeout()

	reqCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	dialer := &net.Dialer{Timeout: rt, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy: nil, // cameras are reached directly, whatever the environment says
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &deadlineConn{Conn: nc, timeout: rt}, nil
		},
		TLSClientConfig:       &tls.Config{InsecureSkipVerify: s.InsecureSkipVerify},
		TLSHandshakeTimeout:   rt,
		ResponseHeaderTimeout: rt,
		DisableCompression:    true,
		MaxIdleConnsPerHost:   1,
		// Cameras speak HTTP/1.x; an empty map keeps HTTP/2 off.
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	res, err := getWithAuth(reqCtx, client, &reqURL, user, pass)
	if err != nil {
		return err
	}
	defer res.Body.Close()

	ct := res.Header.Get("Content-Type")
	mediaType, boundary := parseContentType(ct)
	var multipart bool
	switch {
	case strings.HasPrefix(mediaType, "multipart/"):
		multipart = true
	case mediaType == "image/jpeg", mediaType == "image/jpg", mediaType == "image/pjpeg",
		mediaType == "application/octet-stream", mediaType == "video/x-motion-jpeg",
		mediaType == "video/mjpeg", mediaType == "video/x-mjpeg", mediaType == "":
		// A bare stream of JPEGs; an absent Content-Type is taken as one
		// too, since the JPEG scanner will tell soon enough.
	default:
		return fmt.Errorf("unexpected content type %q: not an MJPEG stream (check the URL path)", ct)
	}
	if err := sink.Begin(MJPEGTracks()); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if s.Log != nil {
		s.Log.Debug("mjpeg source streaming", "url", RedactURL(s.URL), "content_type", ct)
	}

	start := codec.Now()
	var lastFrame atomic.Int64
	lastFrame.Store(start)
	stall := s.stallTimeout()
	watch := watchStall(stall, lastFrame.Load, func() { cancel(ErrStalled) }) // cancel unblocks the body read
	defer watch.stop()

	maxFrame := s.maxFrameSize()
	if cap(s.buf) < 64<<10 {
		s.buf = make([]byte, 64<<10)
	}
	m := &mjpegReader{
		body:      res.Body,
		buf:       s.buf[:cap(s.buf)],
		max:       maxFrame,
		limit:     maxFrame + 64<<10,
		stats:     stats,
		sink:      sink,
		start:     start,
		lastFrame: &lastFrame,
		lineStart: true,
	}
	if multipart {
		err = m.runMultipart(boundary)
	} else {
		err = m.runBare()
	}
	s.buf = m.buf // keep the grown buffer for the next session
	if errors.Is(context.Cause(reqCtx), ErrStalled) {
		return fmt.Errorf("%w for %v", ErrStalled, stall)
	}
	return err
}

// getWithAuth sends the GET, answering a 401 with Digest (qop or not) or
// Basic credentials as the camera's challenge asks (authenticator). A
// second 401 is tried again only if it carries a new nonce; Basic only on
// the first.
func getWithAuth(ctx context.Context, client *http.Client, u *url.URL, user, pass string) (*http.Response, error) {
	auth := newAuthenticator(user, pass, user != "")
	for try := 1; ; try++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, fmt.Errorf("request: %w", err)
		}
		req.Header.Set("User-Agent", userAgent)
		if v := auth.Authorization(http.MethodGet, u.RequestURI()); v != "" {
			req.Header.Set("Authorization", v)
		}
		res, err := client.Do(req)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return nil, fmt.Errorf("get: timed out: %w", err)
			}
			return nil, fmt.Errorf("get: %w", err)
		}
		if res.StatusCode == http.StatusOK {
			return res, nil
		}
		// Drain a little so that the connection can carry the retry.
		_, _ = io.CopyN(io.Discard, res.Body, 64<<10)
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized || user == "" {
			return nil, &HTTPStatusError{Code: res.StatusCode, NoCredentials: user == ""}
		}
		if try >= maxAuthTries || !auth.Challenge(res.Header.Values("WWW-Authenticate")) {
			return nil, &HTTPStatusError{Code: res.StatusCode}
		}
	}
}

// parseContentType returns the lower-case media type and the boundary
// parameter, unquoted. It is lenient where mime.ParseMediaType is strict:
// cameras write boundaries with leading dashes, stray spaces and
// semicolons.
func parseContentType(ct string) (mediaType, boundary string) {
	mt, params, _ := strings.Cut(ct, ";")
	mediaType = strings.ToLower(strings.TrimSpace(mt))
	for p := range strings.SplitSeq(params, ";") {
		k, v, ok := strings.Cut(p, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "boundary") {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' {
			if end := strings.IndexByte(v[1:], '"'); end >= 0 {
				v = v[1 : 1+end]
			}
		}
		return mediaType, v
	}
	return mediaType, ""
}

// deadlineConn renews the read deadline before every read: a camera that
// sends nothing for the read timeout ends the session, however long the
// stream as a whole runs.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	return c.Conn.Read(p)
}

var (
	soiPattern = []byte{0xff, 0xd8, 0xff}
	errResync  = errors.New("resync")
)

// maxPartHeader bounds the header block of a part; more is not a header.
const maxPartHeader = 16 << 10

// mjpegReader is one session's parser. The unread bytes are buf[r:w];
// positions kept across fills are relative to r, since fill moves data.
type mjpegReader struct {
	body      io.Reader
	buf       []byte
	r, w      int
	err       error // sticky read error, returned once the buffer is used up
	max       int   // largest part/JPEG delivered
	limit     int   // largest buffer: max plus room for headers and a boundary
	stats     *SourceStats
	sink      FrameSink
	scan      codec.JPEGScanner
	frame     codec.Frame
	start     int64 // codec.Now at session start: PTS zero
	lastPTS   time.Duration
	lastRead  int64 // codec.Now after the latest read
	lastFrame *atomic.Int64

	// Multipart state.
	delim     []byte // "--" + boundary without its own leading dashes
	line      []byte // "\n" + the delimiter line as the camera writes it
	lineStart bool   // buf[r] starts a line
}

// fill reads more bytes, compacting or growing the buffer as needed.
func (m *mjpegReader) fill() error {
	if m.err != nil {
		return m.err
	}
	if m.r == m.w {
		m.r, m.w = 0, 0
	}
	if m.w == len(m.buf) {
		if m.r > 0 {
			m.w = copy(m.buf, m.buf[m.r:m.w])
			m.r = 0
		} else {
			if len(m.buf) >= m.limit {
				return errors.New("mjpeg: read buffer full") // callers drop before this
			}
			nb := make([]byte, min(2*len(m.buf), m.limit))
			m.w = copy(nb, m.buf[m.r:m.w])
			m.r = 0
			m.buf = nb
		}
	}
	n, err := m.body.Read(m.buf[m.w:])
	if n > 0 {
		m.w += n
		m.lastRead = codec.Now()
		m.stats.Bytes.Add(uint64(n))
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("camera closed the stream")
		} else {
			err = fmt.Errorf("read: %w", err)
		}
		m.err = err
		if n == 0 {
			return err
		}
	}
	return nil
}

// emit hands a checked JPEG to the sink.
func (m *mjpegReader) emit(jpg []byte) {
	now := m.lastRead
	pts := time.Duration(now - m.start)
	if pts <= m.lastPTS {
		// Frames that came in one read share an arrival time; keep the
		// timeline increasing.
		pts = m.lastPTS + time.Millisecond
	}
	m.lastPTS = pts
	st := m.stats
	st.Frames.Add(1)
	st.Last.Store(now)
	st.Width.Store(int32(m.scan.Width))
	st.Height.Store(int32(m.scan.Height))
	m.lastFrame.Store(now)
	m.frame = codec.Frame{Codec: "JPEG", JPEG: jpg, PTS: pts, Received: now}
	m.sink.WriteFrame(&m.frame)
}

// deliver checks a part's body and emits the JPEG in it (junk before its
// SOI and bytes after its EOI are ignored). It reports whether it did.
func (m *mjpegReader) deliver(body []byte) bool {
	m.stats.Packets.Add(1)
	i := 0
	if len(body) < 3 || body[0] != 0xff || body[1] != 0xd8 {
		if i = bytes.Index(body, soiPattern); i < 0 {
			m.stats.Corrupt.Add(1)
			return false
		}
	}
	m.scan.Reset()
	n, err := m.scan.Next(body[i:])
	if err != nil || n == 0 {
		m.stats.Corrupt.Add(1)
		return false
	}
	m.emit(body[i : i+n])
	return true
}

// runMultipart reads multipart/x-mixed-replace parts until an error.
func (m *mjpegReader) runMultipart(boundary string) error {
	// A declared "--b" matches lines "--b" (firmware that counts the dashes
	// in) and "----b" (RFC 2046): search for "--b" after any dashes.
	token := strings.TrimLeft(boundary, "-")
	if token != "" {
		m.delim = []byte("--" + token)
	}
	for {
		if err := m.findBoundary(); err != nil {
			return err
		}
		cl, err := m.partHeaders()
		if err == errResync {
			continue
		}
		if err != nil {
			return err
		}
		if cl >= 0 {
			err = m.bodyWithLength(cl)
		} else {
			err = m.bodyToBoundary()
		}
		if err != nil {
			return err
		}
	}
}

// boundaryLineStart reports whether position i of the unread bytes begins
// a line, allowing the extra dashes of a boundary line before it, and
// where that line starts. A boundary right after a JPEG's EOI counts too:
// some firmware writes no line break after the picture.
func (m *mjpegReader) boundaryLineStart(i int) (int, bool) {
	b := m.buf[m.r:m.w]
	j := i
	for j > 0 && b[j-1] == '-' {
		j--
	}
	if j == 0 {
		return 0, m.lineStart
	}
	return j, b[j-1] == '\n' || (j >= 2 && b[j-2] == 0xff && b[j-1] == 0xd9)
}

// findBoundary consumes bytes up to and including the next boundary line.
// Without a declared boundary it adopts the first line that starts with
// "--".
func (m *mjpegReader) findBoundary() error {
	for {
		if m.delim == nil {
			if err := m.learnBoundary(); err != nil {
				return err
			}
		}
		found, err := m.boundaryLine()
		if found || err != nil {
			return err
		}
		if err := m.fill(); err != nil {
			return err
		}
	}
}

// boundaryLine looks for a whole boundary line in the unread bytes and
// consumes through it. When there is none it drops what cannot hold the
// start of one and reports false.
func (m *mjpegReader) boundaryLine() (bool, error) {
	b := m.buf[m.r:m.w]
	for from := 0; ; {
		i := bytes.Index(b[from:], m.delim)
		if i < 0 {
			break
		}
		i += from
		ls, ok := m.boundaryLineStart(i)
		if !ok {
			from = i + 1
			continue
		}
		// The rest of the line: "--" closes the stream, otherwise anything
		// (spaces) up to the line end.
		rest := b[i+len(m.delim):]
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			if len(rest) > 256 {
				from = i + 1
				continue
			}
			m.r += ls // keep the line's start for the next look
			return false, nil
		}
		if bytes.HasPrefix(rest, []byte("--")) {
			return false, errors.New("camera ended the stream (closing boundary)")
		}
		m.line = append(append(m.line[:0], '\n'), b[ls:i+len(m.delim)]...)
		m.r += i + len(m.delim) + nl + 1
		m.lineStart = true
		return true, nil
	}
	if keep := len(m.delim) + 256; len(b) > keep {
		m.r = m.w - keep
		m.lineStart = false
	}
	return false, nil
}

// learnBoundary takes the first line that starts with "--" as the
// delimiter, for cameras that declare no boundary.
func (m *mjpegReader) learnBoundary() error {
	for {
		b := m.buf[m.r:m.w]
		for off := 0; off < len(b); {
			nl := bytes.IndexByte(b[off:], '\n')
			if nl < 0 {
				break
			}
			ln := bytes.TrimRight(b[off:off+nl], "\r \t")
			if len(ln) > 2 && ln[0] == '-' && ln[1] == '-' && len(ln) < 200 {
				m.delim = append([]byte("--"), bytes.TrimLeft(ln, "-")...)
				m.r += off // the line itself is found again by findBoundary
				m.lineStart = true
				return nil
			}
			off += nl + 1
		}
		if len(b) > maxPartHeader {
			m.r = m.w - 256
			m.lineStart = false
		}
		if err := m.fill(); err != nil {
			return err
		}
	}
}

// partHeaders reads a part's header lines and returns its Content-Length
// (-1 without one). A repeated boundary line among them is skipped; a JPEG
// right after the boundary (no headers at all) is taken as the body.
func (m *mjpegReader) partHeaders() (int, error) {
	cl := -1
	for {
		b := m.buf[m.r:m.w]
		if len(b) >= 2 && b[0] == 0xff && b[1] == 0xd8 {
			return cl, nil
		}
		nl := bytes.IndexByte(b, '\n')
		if nl < 0 {
			if len(b) > maxPartHeader {
				m.lineStart = false
				return 0, errResync
			}
			if err := m.fill(); err != nil {
				return 0, err
			}
			continue
		}
		ln := bytes.TrimRight(b[:nl], "\r \t")
		m.r += nl + 1
		switch {
		case len(ln) == 0:
			return cl, nil
		case bytes.HasPrefix(bytes.TrimLeft(ln, "-"), m.delim[2:]) && ln[0] == '-':
			cl = -1 // a doubled boundary line: the part starts again
		case len(ln) > 15 && bytes.EqualFold(ln[:15], []byte("content-length:")):
			cl = parseLength(ln[15:])
		}
	}
}

func parseLength(b []byte) int {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || len(b) > 10 {
		return -1
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// bodyWithLength reads a body of known length.
func (m *mjpegReader) bodyWithLength(cl int) error {
	m.lineStart = false
	if cl > m.max {
		m.stats.Packets.Add(1)
		m.stats.Oversized.Add(1)
		return m.skip(cl)
	}
	for m.w-m.r < cl {
		if err := m.fill(); err != nil {
			return err
		}
	}
	body := m.buf[m.r : m.r+cl]
	if m.deliver(body) {
		m.r += cl
		m.lineStart = true // a boundary may follow the picture at once
		return nil
	}
	// A Content-Length that lied (a frame cut short, the next part
	// counted in): resume at a boundary inside the body if there is one.
	if i := bytes.Index(body, m.line); i >= 0 {
		m.r += i + 1
		m.lineStart = true
		return nil
	}
	m.r += cl
	return nil
}

// bodyToBoundary reads a body that ends where the next boundary line
// starts.
func (m *mjpegReader) bodyToBoundary() error {
	from := 0
	dropped := false
	for {
		b := m.buf[m.r:m.w]
		// The delimiter line starts a line, or follows the picture's EOI
		// at once (no line break).
		tok := m.line[1:]
		for {
			k := bytes.Index(b[from:], tok)
			if k < 0 {
				break
			}
			k += from
			if k >= 1 && b[k-1] == '\n' || k >= 2 && b[k-2] == 0xff && b[k-1] == 0xd9 {
				if !dropped {
					m.deliver(bytes.TrimSuffix(b[:k], []byte("\n")))
				}
				m.r += k // at the boundary line
				m.lineStart = true
				return nil
			}
			from = k + 1
		}
		from = max(0, len(b)-len(tok)-1)
		if len(b) > m.max {
			if !dropped {
				m.stats.Packets.Add(1)
				m.stats.Oversized.Add(1)
				dropped = true
			}
			// Keep only what may hold the start of the boundary line.
			m.r += from
			from = 0
		}
		if err := m.fill(); err != nil {
			if !dropped {
				// The stream ended after a part with no boundary behind
				// it: its JPEG counts if it is whole.
				var sc codec.JPEGScanner
				if n, e := sc.Next(b); n > 0 && e == nil {
					m.deliver(b)
				}
			}
			return err
		}
	}
}

// skip discards n bytes of the stream.
func (m *mjpegReader) skip(n int) error {
	for {
		k := min(n, m.w-m.r)
		m.r += k
		n -= k
		if n == 0 {
			return nil
		}
		if err := m.fill(); err != nil {
			return err
		}
	}
}

// runBare reads concatenated JPEGs: each starts at an SOI and ends at the
// EOI that JPEGScanner finds; anything between them is skipped.
func (m *mjpegReader) runBare() error {
	for {
		for {
			b := m.buf[m.r:m.w]
			if i := bytes.Index(b, soiPattern); i >= 0 {
				m.r += i
				break
			}
			if len(b) > 2 {
				m.r = m.w - 2
			}
			if err := m.fill(); err != nil {
				return err
			}
		}
		m.scan.Reset()
		for {
			b := m.buf[m.r:m.w]
			n, err := m.scan.Next(b)
			if err != nil {
				m.stats.Packets.Add(1)
				m.stats.Corrupt.Add(1)
				m.r += max(n, 2) // after a cut-short JPEG, n is the next SOI
				break
			}
			if n > 0 {
				m.stats.Packets.Add(1)
				m.emit(b[:n])
				m.r += n
				break
			}
			if len(b) > m.max {
				m.stats.Packets.Add(1)
				m.stats.Oversized.Add(1)
				m.r += 2 // the SOI search skips the rest of it
				break
			}
			if err := m.fill(); err != nil {
				return err
			}
		}
	}
}

package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/pion/rtp"

	"github.com/camrelay/camrelay/codec"
)

// ErrStalled is returned when a camera keeps its connection open but sends
// no media for longer than the stall timeout.
var ErrStalled = errors.New("no media received (camera stalled)")

// StatusError is an RTSP request answered with a status other than 200.
type StatusError struct {
	Method string
	Code   int
	Text   string
}

func (e *StatusError) Error() string {
	hint := ""
	switch e.Code {
	case 401:
		hint = " (check user and password)"
	case 404:
		hint = " (check the stream path)"
	case 403:
		hint = " (the account lacks permission)"
	}
	return fmt.Sprintf("%s: %d %s%s", strings.ToLower(e.Method), e.Code, e.Text, hint)
}

// Transport names accepted by RTSPSource.Transport.
const (
	TransportAuto = "auto"
	TransportTCP  = "tcp"
	TransportUDP  = "udp"
)

// RTSPSource pulls one camera over RTSP with a gortsplib v4 client and writes
// every RTP packet into a PacketWriter. Packets larger than codec.MaxPayload
// are re-fragmented (H.264, H.265) or dropped and counted.
type RTSPSource struct {
	// URL of the camera, credentials included (rtsp://user:pass@host/path).
	URL string
	// Transport is "tcp", "udp" or "auto" (UDP first, then TCP if no packet
	// arrives within 3 s). Empty means auto.
	Transport string
	// ReadTimeout bounds dialing and every RTSP request. Zero means 10 s.
	ReadTimeout time.Duration
	// StallTimeout is how long the camera may send no media before the
	// session is dropped, even if the connection stays up. Zero means 5 s.
	StallTimeout time.Duration
	// Stats, when set, receives the session's counters.
	Stats *SourceStats
	// Log, when set, gets debug messages (never credentials).
	Log *slog.Logger
}

func (s *RTSPSource) readTimeout() time.Duration {
	if s.ReadTimeout > 0 {
		return s.ReadTimeout
	}
	return 10 * time.Second
}

func (s *RTSPSource) stallTimeout() time.Duration {
	if s.StallTimeout > 0 {
		return s.StallTimeout
	}
	return 5 * time.Second
}

// Run connects, copies every packet into w until the session fails, stalls
// or ctx ends, and returns why (nil when ctx ended). Errors never contain
// credentials.
func (s *RTSPSource) Run(ctx context.Context, w PacketWriter) error {
	return s.RunRTP(ctx, NewIngest(w, s.Stats))
}

// RunRTP is Run with the packets going to any RTPSink, e.g. a Depacketizer
// that feeds a transcoder.
func (s *RTSPSource) RunRTP(ctx context.Context, sink RTPSink) error {
	err := s.run(ctx, sink)
	if ctx.Err() != nil {
		return nil
	}
	return Scrub(err, s.URL)
}

func (s *RTSPSource) run(ctx context.Context, in RTPSink) error {
	u, err := base.ParseURL(s.URL)
	if err != nil {
		return fmt.Errorf("invalid source URL %s: %w", RedactURL(s.URL), err)
	}
	stats := s.Stats
	if stats == nil {
		stats = &SourceStats{}
	}
	var transport *gortsplib.Transport
	switch s.Transport {
	case "", TransportAuto:
	case TransportTCP:
		return s.runTCP(ctx, u, in, stats)
	case TransportUDP:
		transport = ptr(gortsplib.TransportUDP)
	default:
		return fmt.Errorf("unknown transport %q (want tcp, udp or auto)", s.Transport)
	}

	auth := newClientAuth(u)

	// UDP listeners bind to the local address the RTSP connection uses, so a
	// camera on loopback is answered on loopback and a camera on the LAN on
	// the interface that reaches it, never on every interface.
	var localIP net.IP
	var localMu sync.Mutex
	dialer := &net.Dialer{}
	c := &gortsplib.Client{
		Scheme:       u.Scheme,
		Host:         u.Host,
		Transport:    transport,
		ReadTimeout:  s.readTimeout(),
		WriteTimeout: s.readTimeout(),
		UserAgent:    userAgent,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := dialer.DialContext(ctx, network, addr)
			if err == nil {
				if a, ok := nc.LocalAddr().(*net.TCPAddr); ok {
					localMu.Lock()
					localIP = a.IP
					localMu.Unlock()
				}
			}
			return nc, err
		},
		ListenPacket: func(network, addr string) (net.PacketConn, error) {
			localMu.Lock()
			ip := localIP
			localMu.Unlock()
			if ip != nil {
				if _, port, err := net.SplitHostPort(addr); err == nil {
					addr = net.JoinHostPort(ip.String(), port)
				}
			}
			return net.ListenPacket(network, addr)
		},
		OnRequest:     auth.onRequest,
		OnResponse:    auth.onResponse,
		OnPacketsLost: func(n uint64) { stats.Lost.Add(n) },
		OnDecodeError: func(error) { stats.Corrupt.Add(1) },
	}
	if err := c.Start2(); err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, c.Close)
	defer stop()

	desc, err := auth.describe(c, u)
	if err != nil {
		return err
	}

	medias, tracks, err := beginTracks(desc, 255, in)
	if err != nil {
		return err
	}
	for i, m := range medias {
		if _, err := c.Setup(desc.BaseURL, m, 0, 0); err != nil {
			return requestError("SETUP", err)
		}
		c.OnPacketRTP(m, m.Formats[0], func(pkt *rtp.Packet) { in.WriteRTP(i, pkt, codec.Now()) })
	}

	if _, err := c.Play(nil); err != nil {
		return requestError("PLAY", err)
	}
	if s.Log != nil {
		s.Log.Debug("source playing", "url", RedactURL(s.URL), "tracks", fmt.Sprint(tracks))
	}

	stall := s.stallTimeout()
	watch := watchStall(stall, stats.Last.Load, c.Close)
	err = c.Wait()
	if watch.stop() {
		return fmt.Errorf("%w for %v", ErrStalled, stall)
	}
	return sessionError(err)
}

// beginTracks picks the camera's medias camrelay plays (not back channels, at
// most limit of them), begins the sink's session with their tracks (each
// with its first format) and hands it the parameter sets the SDP carries.
func beginTracks(desc *description.Session, limit int, in RTPSink) ([]*description.Media, []codec.Track, error) {
	var medias []*description.Media
	var tracks []codec.Track
	for _, m := range desc.Medias {
		if m.IsBackChannel || len(m.Formats) == 0 || len(medias) == limit {
			continue
		}
		medias = append(medias, m)
		tracks = append(tracks, trackOf(m, m.Formats[0]))
	}
	if len(medias) == 0 {
		return nil, nil, errors.New("describe: the camera offers no usable media")
	}
	if err := in.Begin(tracks); err != nil {
		return nil, nil, err
	}
	for i, m := range medias {
		switch f := m.Formats[0].(type) {
		case *format.H264:
			if len(f.SPS) > 0 {
				in.NoteSPS(i, f.SPS)
			}
		case *format.H265:
			if len(f.SPS) > 0 {
				in.NoteSPS(i, f.SPS)
			}
		}
	}
	return medias, tracks, nil
}

func ptr[T any](v T) *T { return &v }

// clientAuth gives gortsplib's client camrelay's authenticator through its
// hooks: gortsplib answers Digest the RFC 2069 way only, which cameras that
// ask for qop="auth" refuse, and gives up on a second 401 even when it
// carries a fresh nonce. OnResponse hands each 401's challenge to the
// authenticator; OnRequest replaces the Authorization gortsplib adds (or
// adds one) with the authenticator's answer. The hooks run on the client's
// goroutine.
type clientAuth struct {
	auth  *authenticator
	retry atomic.Bool // the last 401 is worth sending the request again for
}

func newClientAuth(u *base.URL) *clientAuth { return &clientAuth{auth: authenticatorFor(u)} }

func (a *clientAuth) onResponse(res *base.Response) {
	if res.StatusCode == base.StatusUnauthorized {
		a.retry.Store(a.auth.Challenge(res.Header["WWW-Authenticate"]))
	}
}

func (a *clientAuth) onRequest(req *base.Request) {
	if v := a.auth.Authorization(string(req.Method), req.URL.CloneWithoutCredentials().String()); v != "" {
		req.Header["Authorization"] = base.HeaderValue{v}
	}
}

// describe runs DESCRIBE; gortsplib sends it again once with credentials
// after a first 401, and describe once more after a 401 with a fresh nonce
// (some firmware rotates the nonce after the first authenticated request).
func (a *clientAuth) describe(c *gortsplib.Client, u *base.URL) (*description.Session, error) {
	desc, _, err := c.Describe(u)
	if err != nil && a.retry.Load() && (isStatus(err, 401) || errors.As(err, new(liberrors.ErrClientAuthSetup))) {
		desc, _, err = c.Describe(u)
	}
	if err != nil {
		return nil, requestError("DESCRIBE", err)
	}
	return desc, nil
}

func isStatus(err error, code int) bool {
	var bs liberrors.ErrClientBadStatusCode
	return errors.As(err, &bs) && int(bs.Code) == code
}

// requestError turns gortsplib's errors into ones that say what failed.
func requestError(method string, err error) error {
	var bs liberrors.ErrClientBadStatusCode
	if errors.As(err, &bs) {
		return &StatusError{Method: method, Code: int(bs.Code), Text: bs.Message}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%s: timed out: %w", strings.ToLower(method), err)
	}
	return fmt.Errorf("%s: %w", strings.ToLower(method), err)
}

func sessionError(err error) error {
	switch {
	case errors.As(err, new(liberrors.ErrClientTCPTimeout)), errors.As(err, new(liberrors.ErrClientUDPTimeout)):
		return fmt.Errorf("camera connection timed out: %w", err)
	case err == nil:
		return errors.New("camera closed the session")
	}
	return fmt.Errorf("camera session ended: %w", err)
}

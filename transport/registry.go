package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SourceOptions are the settings every kind of camera source takes.
type SourceOptions struct {
	// URL of the camera, credentials included.
	URL string
	// Transport is tcp, udp or auto, for kinds that take one (RTSP).
	Transport string
	// ReadTimeout bounds dialing and every request. Zero: the kind's default.
	ReadTimeout time.Duration
	// StallTimeout is how long the camera may send no media before the
	// session is dropped. Zero: the kind's default.
	StallTimeout time.Duration
	// Stats, when set, receives the session's counters.
	Stats *SourceStats
	// Log, when set, gets debug messages (never credentials).
	Log *slog.Logger
}

// PacketSource is a camera session that feeds RTP packets as the camera sent
// them (copy mode). Run handles one session and returns why it ended (nil
// when ctx ended).
type PacketSource interface {
	Run(ctx context.Context, w PacketWriter) error
}

// FrameSource is a camera session that feeds pictures (and audio packets)
// to a transcoder.
type FrameSource interface {
	RunFrames(ctx context.Context, sink TranscodeSink) error
}

// SourceKind is one kind of camera source, keyed by URL scheme: how to open
// it, what it can feed, which modes it allows, how to probe it. Config
// validation, the supervisor, the transcoder wiring, `camrelay probe` and
// MediaMTX provisioning ask the registry instead of switching on schemes.
type SourceKind struct {
	// Name is what users call it in messages ("RTSP", "MJPEG over HTTP").
	Name string
	// Schemes are the URL schemes of this kind, lower case, with their
	// default ports.
	Schemes map[string]int
	// Open starts a source of this kind: its result implements PacketSource
	// when Packets is set and FrameSource when Frames is set. Nil for kinds
	// that only MediaMTX pulls (Direct).
	Open func(o SourceOptions) any
	// Packets: the camera's packets can be relayed as they are (copy).
	Packets bool
	// Frames: the camera's pictures can feed a transcoder (transcode).
	Frames bool
	// Direct: MediaMTX can pull this kind itself (mode: direct).
	Direct bool
	// Transports: the kind takes transport: tcp, udp or auto; MediaMTX's
	// rtspTransport for a direct camera.
	Transports bool
	// Probe watches a camera for d and reports what it sends. Nil: the kind
	// cannot be probed.
	Probe func(ctx context.Context, o SourceOptions, d time.Duration) (*ProbeResult, error)
}

// Registry lists the source kinds a binary knows.
type Registry []*SourceKind

// Sources is every kind of camera source camrelay knows. A new kind is one
// file in this package and one line here.
var Sources = Registry{
	rtspKind,
	mjpegKind,
	rtmpKind,
	directOnlyKind,
}

// Lookup finds the kind of a URL by its scheme.
func (r Registry) Lookup(rawURL string) (*SourceKind, bool) {
	s := Scheme(rawURL)
	for _, k := range r {
		if _, ok := k.Schemes[s]; ok && s != "" {
			return k, true
		}
	}
	return nil, false
}

// SchemeList names every scheme of the registry, for messages.
func (r Registry) SchemeList() string {
	var out []string
	for _, k := range r {
		out = append(out, slices.Sorted(maps.Keys(k.Schemes))...)
	}
	return strings.Join(out, ", ")
}

// Scheme is the lower-case scheme of a URL ("" when it has none).
func Scheme(rawURL string) string {
	if i := strings.Index(rawURL, "://"); i > 0 {
		return strings.ToLower(rawURL[:i])
	}
	return ""
}

// HostPort is the address to dial for u: its host and port, or the
// scheme's default port (from the registry: RTSP 554, RTSPS 322...) when
// the URL has none.
func HostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	port := 0
	if k, ok := Sources.Lookup(u.Scheme + "://"); ok {
		port = k.Schemes[strings.ToLower(u.Scheme)]
	}
	return net.JoinHostPort(u.Hostname(), strconv.Itoa(port))
}

var rtspKind = &SourceKind{
	Name:       "RTSP",
	Schemes:    map[string]int{"rtsp": 554, "rtsps": 322},
	Packets:    true,
	Frames:     true,
	Direct:     true,
	Transports: true,
	Open: func(o SourceOptions) any {
		return &RTSPSource{URL: o.URL, Transport: o.Transport, ReadTimeout: o.ReadTimeout,
			StallTimeout: o.StallTimeout, Stats: o.Stats, Log: o.Log}
	},
	Probe: func(ctx context.Context, o SourceOptions, d time.Duration) (*ProbeResult, error) {
		return ProbeRTSP(ctx, o.URL, o.Transport, d)
	},
}

// RunFrames feeds a transcoder: access units reassembled from the camera's
// RTP packets.
func (s *RTSPSource) RunFrames(ctx context.Context, sink TranscodeSink) error {
	return s.RunRTP(ctx, NewDepacketizer(sink, s.Stats))
}

var mjpegKind = &SourceKind{
	Name:    "MJPEG over HTTP",
	Schemes: map[string]int{"http": 80, "https": 443},
	Frames:  true,
	Open: func(o SourceOptions) any {
		return mjpegFrames{&MJPEGSource{URL: o.URL, ReadTimeout: o.ReadTimeout,
			StallTimeout: o.StallTimeout, Stats: o.Stats, Log: o.Log}}
	},
	Probe: ProbeMJPEG,
}

type mjpegFrames struct{ *MJPEGSource }

func (m mjpegFrames) RunFrames(ctx context.Context, sink TranscodeSink) error {
	return m.MJPEGSource.Run(ctx, sink)
}

// directOnlyKind are the sources camrelay does not read itself but
// MediaMTX can pull (mode: direct).
var directOnlyKind = &SourceKind{
	Name:    "MediaMTX source",
	Schemes: map[string]int{"srt": 0, "udp": 0, "whep": 80, "wheps": 443},
	Direct:  true,
}

// ErrNotProbed is returned for kinds that cannot be probed.
var ErrNotProbed = errors.New("this kind of source cannot be probed")

// Probe looks up the kind of o.URL and probes it.
func (r Registry) Probe(ctx context.Context, o SourceOptions, d time.Duration) (*ProbeResult, error) {
	k, ok := r.Lookup(o.URL)
	if !ok {
		return nil, fmt.Errorf("unsupported URL scheme %q (want one of %s)", Scheme(o.URL), r.SchemeList())
	}
	if k.Probe == nil {
		return nil, fmt.Errorf("%s: %w", k.Name, ErrNotProbed)
	}
	return k.Probe(ctx, o, d)
}

// SinkOptions are the settings of a camera's output.
type SinkOptions struct {
	// URL to publish to, credentials included.
	URL string
	// URLFunc, when set, gives the URL at each connection instead of URL.
	URLFunc        func() (string, error)
	ReadTimeout    time.Duration
	PublishTimeout time.Duration
	Stats          *SinkStats
	Log            *slog.Logger
}

// SinkKind is one kind of output, keyed by URL scheme.
type SinkKind struct {
	Name    string
	Schemes map[string]int
	Open    func(o SinkOptions) PacketSink
}

// PacketSink publishes one camera: it reads its ring until ctx ends or the
// session fails, and returns why (nil when ctx ended).
type PacketSink interface {
	Run(ctx context.Context, r PacketReader) error
}

// Sinks is every kind of output camrelay publishes to.
var Sinks = []*SinkKind{rtspSinkKind}

var rtspSinkKind = &SinkKind{
	Name:    "RTSP",
	Schemes: rtspKind.Schemes,
	Open: func(o SinkOptions) PacketSink {
		return &RTSPPublisher{URL: o.URL, URLFunc: o.URLFunc, ReadTimeout: o.ReadTimeout,
			PublishTimeout: o.PublishTimeout, Stats: o.Stats, Log: o.Log}
	},
}

// LookupSink finds the kind of an output URL by its scheme.
func LookupSink(rawURL string) (*SinkKind, bool) {
	s := Scheme(rawURL)
	for _, k := range Sinks {
		if _, ok := k.Schemes[s]; ok && s != "" {
			return k, true
		}
	}
	return nil, false
}

// SinkSchemeList names every output scheme, for messages.
func SinkSchemeList() string {
	var out []string
	for _, k := range Sinks {
		out = append(out, slices.Sorted(maps.Keys(k.Schemes))...)
	}
	return strings.Join(out, ", ")
}

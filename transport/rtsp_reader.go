package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph265"
	"github.com/pion/rtp"

	"github.com/camrelay/camrelay/codec"
)

// RTSPReader watches a stream the way a viewer does: it plays every track,
// reassembles H.264/H.265 access units, and measures what arrives: frames,
// packets, picture size, and the send-time stamps camsim puts in SEI (so
// latency from the camera to this reader). camrelay probe, the tests and the
// benchmark harness use it as an independent client.
type RTSPReader struct {
	URL       string
	Transport string        // tcp (default), udp or auto
	Timeout   time.Duration // per request; zero means 10 s
	// OnStamp, when set, is called for every stamp read, with its arrival
	// time (Unix nanoseconds).
	OnStamp func(s codec.Stamp, arrival int64)
	// OnFrame, when set, gets every video access unit (NAL units, borrowed)
	// with its arrival time (Unix nanoseconds), e.g. to decode pictures.
	OnFrame func(codecName string, au [][]byte, arrival int64)

	mu       sync.Mutex
	client   *gortsplib.Client
	stats    ReaderStats
	lastStmp uint64
	haveStmp bool
	done     chan struct{}
	err      error
}

// ReaderStats is a snapshot of what an RTSPReader received.
type ReaderStats struct {
	Tracks      []codec.Track
	Packets     []uint64 // per track
	Frames      uint64   // video access units
	Width       int
	Height      int
	Stamps      uint64 // SEI send-time stamps read
	StampGaps   uint64 // stamps whose frame number skipped ahead (lost frames)
	StampsBack  uint64 // stamps whose frame number went backwards or repeated
	FirstStamp  uint64
	LastStamp   uint64
	Latency     *Histogram // send time to arrival, from the stamps
	Started     time.Time
	DecodeError uint64
	// TimeJumps counts video RTP timestamps that went backwards or jumped
	// more than 5 s ahead of the previous one: breaks in the timeline a
	// player would stumble on.
	TimeJumps uint64
}

// Start connects and starts playing; it returns once PLAY succeeded.
func (r *RTSPReader) Start(ctx context.Context) error {
	u, err := base.ParseURL(r.URL)
	if err != nil {
		return fmt.Errorf("invalid URL %s: %w", RedactURL(r.URL), err)
	}
	timeout := orDefault(r.Timeout, 10*time.Second)
	var tr *gortsplib.Transport
	switch r.Transport {
	case "", TransportTCP:
		tr = ptr(gortsplib.TransportTCP)
	case TransportUDP:
		tr = ptr(gortsplib.TransportUDP)
	case TransportAuto:
	default:
		return fmt.Errorf("unknown transport %q", r.Transport)
	}
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: tr, ReadTimeout: timeout, WriteTimeout: timeout, UserAgent: "camrelay-probe",
		ListenPacket: func(network, addr string) (net.PacketConn, error) {
			// Readers in tests and benchmarks talk to loopback only.
			if _, port, err := net.SplitHostPort(addr); err == nil && isLoopbackHost(u.Hostname()) {
				addr = net.JoinHostPort("127.0.0.1", port)
			}
			return net.ListenPacket(network, addr)
		},
	}
	auth := newClientAuth(u)
	c.OnRequest, c.OnResponse = auth.onRequest, auth.onResponse
	r.stats = ReaderStats{Latency: &Histogram{}}
	r.done = make(chan struct{})
	c.OnDecodeError = func(error) {
		r.mu.Lock()
		r.stats.DecodeError++
		r.mu.Unlock()
	}
	if err := c.Start2(); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, c.Close)
	defer stop()
	fail := func(err error) error {
		c.Close()
		return Scrub(err, r.URL)
	}
	desc, err := auth.describe(c, u)
	if err != nil {
		return fail(err)
	}
	for i, m := range desc.Medias {
		if len(m.Formats) == 0 {
			continue
		}
		f := m.Formats[0]
		r.stats.Tracks = append(r.stats.Tracks, trackOf(m, f))
		r.stats.Packets = append(r.stats.Packets, 0)
		if _, err := c.Setup(desc.BaseURL, m, 0, 0); err != nil {
			return fail(requestError("SETUP", err))
		}
		idx := len(r.stats.Tracks) - 1
		onAU := r.auHandler(f)
		video := m.Type == "video"
		var lastTS uint32
		seen := false
		c.OnPacketRTP(m, f, func(pkt *rtp.Packet) {
			now := time.Now().UnixNano()
			r.mu.Lock()
			r.stats.Packets[idx]++
			if video {
				if d := int64(int32(pkt.Timestamp - lastTS)); seen && (d < 0 || d > 5*int64(f.ClockRate())) {
					r.stats.TimeJumps++
				}
				lastTS, seen = pkt.Timestamp, true
			}
			r.mu.Unlock()
			if onAU != nil {
				onAU(pkt, now)
			}
		})
		_ = i
	}
	if _, err := c.Play(nil); err != nil {
		return fail(requestError("PLAY", err))
	}
	r.stats.Started = time.Now()
	r.client = c
	go func() {
		err := c.Wait()
		r.mu.Lock()
		r.err = err
		r.mu.Unlock()
		close(r.done)
	}()
	return nil
}

func isLoopbackHost(h string) bool {
	ip := net.ParseIP(h)
	return h == "localhost" || (ip != nil && ip.IsLoopback())
}

// auHandler returns the per-packet decoder of a video format, or nil.
func (r *RTSPReader) auHandler(f format.Format) func(*rtp.Packet, int64) {
	var decode func(*rtp.Packet) ([][]byte, error)
	h265 := false
	name := ""
	switch f := f.(type) {
	case *format.H264:
		d, err := f.CreateDecoder()
		if err != nil {
			return nil
		}
		decode, name = d.Decode, "H264"
		if len(f.SPS) > 0 {
			r.noteSPS(name, f.SPS)
		}
	case *format.H265:
		d, err := f.CreateDecoder()
		if err != nil {
			return nil
		}
		decode, name, h265 = d.Decode, "H265", true
		if len(f.SPS) > 0 {
			r.noteSPS(name, f.SPS)
		}
	default:
		return nil
	}
	return func(pkt *rtp.Packet, now int64) {
		au, err := decode(pkt)
		if err != nil {
			if !errors.Is(err, rtph264.ErrMorePacketsNeeded) && !errors.Is(err, rtph265.ErrMorePacketsNeeded) &&
				!errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious) && !errors.Is(err, rtph265.ErrNonStartingPacketAndNoPrevious) {
				r.mu.Lock()
				r.stats.DecodeError++
				r.mu.Unlock()
			}
			return
		}
		r.onAU(name, h265, au, now)
	}
}

func (r *RTSPReader) noteSPS(name string, sps []byte) {
	if w, h, ok := Resolution(name, sps); ok {
		r.stats.Width, r.stats.Height = w, h
	}
}

func (r *RTSPReader) onAU(name string, h265 bool, au [][]byte, now int64) {
	r.mu.Lock()
	r.stats.Frames++
	var stamp *codec.Stamp
	for _, nal := range au {
		if len(nal) == 0 {
			continue
		}
		if codec.FindSPS(name, nal) != nil {
			r.noteSPS(name, nal)
		}
		if s, ok := codec.ParseStampSEI(nal, h265); ok {
			stamp = &s
			st := &r.stats
			st.Stamps++
			switch {
			case !r.haveStmp:
				st.FirstStamp = s.Frame
			case s.Frame <= r.lastStmp:
				st.StampsBack++
			case s.Frame > r.lastStmp+1:
				st.StampGaps++
			}
			r.haveStmp, r.lastStmp, st.LastStamp = true, s.Frame, s.Frame
			st.Latency.Observe(time.Duration(now - s.SendTime))
		}
	}
	cb, fcb := r.OnStamp, r.OnFrame
	r.mu.Unlock()
	if stamp != nil && cb != nil {
		cb(*stamp, now)
	}
	if fcb != nil {
		fcb(name, au, now)
	}
}

// Stats returns a snapshot.
func (r *RTSPReader) Stats() ReaderStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.Packets = append([]uint64(nil), r.stats.Packets...)
	s.Tracks = append([]codec.Track(nil), r.stats.Tracks...)
	return s
}

// Done is closed when the session ends (server closed it, or Close).
func (r *RTSPReader) Done() <-chan struct{} { return r.done }

// Err is why the session ended (after Done).
func (r *RTSPReader) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Scrub(r.err, r.URL)
}

// Close ends the session and waits for it.
func (r *RTSPReader) Close() {
	if r.client != nil {
		r.client.Close()
		<-r.done
	}
}

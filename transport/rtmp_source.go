package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	rformat "github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/pion/rtp"

	"github.com/camrelay/camrelay/codec"
)

// rtmpKind: cameras and encoders that offer RTMP (rtmp://cam/bcs/channel0_main.bcs?...).
var rtmpKind = &SourceKind{
	Name:    "RTMP",
	Schemes: map[string]int{"rtmp": 1935, "rtmps": 443},
	Packets: true,
	Frames:  true,
	Direct:  true,
	Open: func(o SourceOptions) any {
		return &RTMPSource{URL: o.URL, ReadTimeout: o.ReadTimeout, StallTimeout: o.StallTimeout, Stats: o.Stats, Log: o.Log}
	},
	Probe: func(ctx context.Context, o SourceOptions, d time.Duration) (*ProbeResult, error) {
		return probeSource(ctx, d, func(st *SourceStats) PacketSource {
			return &RTMPSource{URL: o.URL, ReadTimeout: o.ReadTimeout, Stats: st}
		})
	},
}

// RTMPSource pulls one camera over RTMP with gortmplib, MediaMTX's own RTMP
// stack. Its H.264 or H.265 video (with SPS/PPS put in band before every
// IDR, as RTSP viewers expect) and AAC audio become RTP packets of the same
// tracks an RTSP camera would announce, so the rest of the pipeline cannot
// tell the difference. Other audio codecs are left out.
type RTMPSource struct {
	// URL of the camera, rtmp:// or rtmps://, credentials included.
	URL string
	// ReadTimeout bounds the handshake and every read. Zero means 10 s.
	ReadTimeout time.Duration
	// StallTimeout: no media for this long ends the session. Zero means 5 s.
	StallTimeout time.Duration
	// Stats, when set, receives the session's counters.
	Stats *SourceStats
	// Log, when set, gets debug messages (never credentials).
	Log *slog.Logger
}

// Run relays the camera's packets into w (copy mode).
func (s *RTMPSource) Run(ctx context.Context, w PacketWriter) error {
	return s.RunRTP(ctx, NewIngest(w, s.Stats))
}

// RunFrames feeds a transcoder.
func (s *RTMPSource) RunFrames(ctx context.Context, sink TranscodeSink) error {
	return s.RunRTP(ctx, NewDepacketizer(sink, s.Stats))
}

// RunRTP runs one session into any RTPSink and returns why it ended (nil
// when ctx ended). Errors never contain credentials.
func (s *RTMPSource) RunRTP(ctx context.Context, in RTPSink) error {
	err := s.run(ctx, in)
	if ctx.Err() != nil {
		return nil
	}
	return Scrub(err, s.URL)
}

func (s *RTMPSource) run(ctx context.Context, in RTPSink) error {
	u, err := url.Parse(s.URL)
	if err != nil {
		return fmt.Errorf("invalid source URL %s", RedactURL(s.URL))
	}
	stats := s.Stats
	if stats == nil {
		stats = &SourceStats{}
	}
	timeout := orDefault(s.ReadTimeout, 10*time.Second)
	dial := *u
	dial.Host = HostPort(u)
	hctx, cancel := context.WithTimeout(ctx, timeout)
	c := &gortmplib.Client{URL: &dial, TLSConfig: &tls.Config{ServerName: u.Hostname()}}
	err = c.Initialize(hctx)
	cancel()
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	nc := c.NetConn()
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()

	nc.SetReadDeadline(time.Now().Add(timeout))
	r := &gortmplib.Reader{Conn: c}
	if err := r.Initialize(); err != nil {
		return fmt.Errorf("read tracks: %w", err)
	}
	var tracks []codec.Track
	var spss [][]byte // per track
	var hooks []func(i int)
	for _, f := range r.Tracks() {
		switch f := f.(type) {
		case *rformat.H264:
			tracks, spss = append(tracks, h264Track(f.SPS, f.PPS)), append(spss, f.SPS)
			hooks = append(hooks, func(i int) {
				p := &rtmpPacketizer{in: in, track: i, clock: 90000, ps: [][]byte{f.SPS, f.PPS}, h264: true}
				r.OnDataH264(f, p.writeAU)
			})
		case *rformat.H265:
			tracks, spss = append(tracks, h265Track(f.VPS, f.SPS, f.PPS)), append(spss, f.SPS)
			hooks = append(hooks, func(i int) {
				p := &rtmpPacketizer{in: in, track: i, clock: 90000, ps: [][]byte{f.VPS, f.SPS, f.PPS}}
				r.OnDataH265(f, p.writeAU)
			})
		case *rformat.MPEG4Audio:
			af := &format.MPEG4Audio{PayloadTyp: 97, Config: f.Config, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
			enc, err := af.CreateEncoder()
			if err != nil {
				continue
			}
			tracks, spss = append(tracks, trackOf(&mediaAudio, af)), append(spss, nil)
			clock := af.ClockRate()
			hooks = append(hooks, func(i int) {
				r.OnDataMPEG4Audio(f, func(pts time.Duration, au []byte) {
					pkts, err := enc.Encode([][]byte{au})
					if err != nil {
						stats.Corrupt.Add(1)
						return
					}
					now := codec.Now()
					for _, p := range pkts {
						p.Timestamp = rtpTime(pts, clock)
						in.WriteRTP(i, p, now)
					}
				})
			})
		default:
			if s.Log != nil {
				s.Log.Debug("rtmp: track left out", "codec", fmt.Sprintf("%T", f))
			}
		}
	}
	if len(tracks) == 0 {
		return errors.New("read tracks: the camera offers no H.264, H.265 or AAC track")
	}
	if err := in.Begin(tracks); err != nil {
		return err
	}
	for i, h := range hooks {
		h(i)
	}
	for i, sps := range spss {
		if len(sps) > 0 {
			in.NoteSPS(i, sps) // the picture size, before the first IDR
		}
	}
	if s.Log != nil {
		s.Log.Debug("source playing", "url", RedactURL(s.URL), "tracks", fmt.Sprint(tracks))
	}

	stall := orDefault(s.StallTimeout, 5*time.Second)
	watch := watchStall(stall, stats.Last.Load, func() { nc.Close() })
	var renewed time.Time
	for {
		// A deadline update is a timer update: renew it once a second.
		if now := time.Now(); now.Sub(renewed) > time.Second {
			nc.SetReadDeadline(now.Add(timeout))
			renewed = now
		}
		if err = r.Read(); err != nil {
			break
		}
	}
	if watch.stop() {
		return fmt.Errorf("%w for %v", ErrStalled, stall)
	}
	return sessionReadError(err)
}

var (
	mediaVideo = description.Media{Type: description.MediaTypeVideo}
	mediaAudio = description.Media{Type: description.MediaTypeAudio}
)

func h264Track(sps, pps []byte) codec.Track {
	f := &format.H264{PayloadTyp: 96, SPS: sps, PPS: pps, PacketizationMode: 1}
	return trackOf(&mediaVideo, f)
}

func h265Track(vps, sps, pps []byte) codec.Track {
	f := &format.H265{PayloadTyp: 96, VPS: vps, SPS: sps, PPS: pps}
	return trackOf(&mediaVideo, f)
}

// rtmpPacketizer turns access units into one RTP packet per NAL unit (the
// Ingest fragments those over the payload limit), parameter sets put in
// front of IDR pictures that lack them.
type rtmpPacketizer struct {
	in    RTPSink
	track int
	clock int
	ps    [][]byte // parameter sets from the stream's configuration
	h264  bool
	seq   uint16
	pkt   rtp.Packet
}

func (p *rtmpPacketizer) writeAU(pts, _ time.Duration, au [][]byte) {
	now := codec.Now()
	ts := rtpTime(pts, p.clock)
	idr, hasPS, last := false, false, -1
	for i, n := range au {
		if len(n) == 0 {
			continue
		}
		switch ps := p.paramSet(n); {
		case ps >= 0:
			hasPS = true
			p.ps[ps] = append(p.ps[ps][:0], n...) // au is borrowed
		case p.isIDR(n):
			idr = true
			last = i
		default:
			last = i
		}
	}
	if last < 0 {
		return // parameter sets alone (the stream's configuration): kept for the next IDR
	}
	if idr && !hasPS {
		for _, n := range p.ps {
			if len(n) > 0 {
				p.write(n, ts, false, now)
			}
		}
	}
	for i, n := range au[:last+1] {
		if len(n) > 0 {
			p.write(n, ts, i == last, now)
		}
	}
}

// paramSet is the index in p.ps of a parameter set NAL unit, -1 for others.
func (p *rtmpPacketizer) paramSet(n []byte) int {
	if p.h264 {
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			return 0
		case h264.NALUTypePPS:
			return 1
		}
		return -1
	}
	switch h265.NALUType((n[0] >> 1) & 0x3f) {
	case h265.NALUType_VPS_NUT:
		return 0
	case h265.NALUType_SPS_NUT:
		return 1
	case h265.NALUType_PPS_NUT:
		return 2
	}
	return -1
}

func (p *rtmpPacketizer) isIDR(n []byte) bool {
	if p.h264 {
		return h264.NALUType(n[0]&0x1f) == h264.NALUTypeIDR
	}
	switch h265.NALUType((n[0] >> 1) & 0x3f) {
	case h265.NALUType_IDR_W_RADL, h265.NALUType_IDR_N_LP, h265.NALUType_CRA_NUT:
		return true
	}
	return false
}

func (p *rtmpPacketizer) write(nalu []byte, ts uint32, marker bool, now int64) {
	p.seq++
	p.pkt.Header = rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: p.seq, Timestamp: ts, Marker: marker}
	p.pkt.Payload = nalu
	p.in.WriteRTP(p.track, &p.pkt, now)
}

func rtpTime(d time.Duration, clock int) uint32 {
	return uint32(int64(d) * int64(clock) / int64(time.Second))
}

package transport

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph265"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpmjpeg"
	"github.com/pion/rtp"

	"github.com/camrelay/camrelay/codec"
)

// TranscodeSink is what a Depacketizer feeds: codec.Transcoder is one.
type TranscodeSink interface {
	FrameSink
	WriteAudio(p *codec.Packet)
}

// Depacketizer is the RTPSink of an RTSP camera that is transcoded: it
// reassembles the video track's access units (H.264, H.265, or JPEG images
// per RFC 2435) into frames, passes audio packets on, and keeps the source
// counters. Packets of any size are accepted (no re-fragmentation: they are
// not relayed as they are).
type Depacketizer struct {
	sink  TranscodeSink
	stats *SourceStats

	mu     sync.Mutex
	video  int // index of the video track, -1 when none
	codec  string
	decode func(*rtp.Packet) ([][]byte, []byte, error)
	clock  int
	haveTS bool
	lastTS uint32
	ticks  int64 // unwrapped RTP time of the last frame
	frame  codec.Frame
	apkt   codec.Packet
	tracks []codec.Track
}

// NewDepacketizer feeds sink; stats may be nil.
func NewDepacketizer(sink TranscodeSink, stats *SourceStats) *Depacketizer {
	if stats == nil {
		stats = &SourceStats{}
	}
	return &Depacketizer{sink: sink, stats: stats, video: -1}
}

// Begin prepares the video decoder and starts the transcoder's session; it
// fails when the camera has no video the transcoder can take.
func (d *Depacketizer) Begin(tracks []codec.Track) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.video, d.decode, d.haveTS, d.tracks = -1, nil, false, tracks
	for i, t := range tracks {
		if t.Kind != codec.KindVideo {
			continue
		}
		f, err := formatOf(t)
		if err != nil {
			return fmt.Errorf("video track: %w", err)
		}
		switch f := f.(type) {
		case *format.H264:
			dec, err := f.CreateDecoder()
			if err != nil {
				return err
			}
			d.decode = func(p *rtp.Packet) ([][]byte, []byte, error) { au, err := dec.Decode(p); return au, nil, err }
		case *format.H265:
			dec, err := f.CreateDecoder()
			if err != nil {
				return err
			}
			d.decode = func(p *rtp.Packet) ([][]byte, []byte, error) { au, err := dec.Decode(p); return au, nil, err }
		case *format.MJPEG:
			dec, err := f.CreateDecoder()
			if err != nil {
				return err
			}
			d.decode = func(p *rtp.Packet) ([][]byte, []byte, error) { img, err := dec.Decode(p); return nil, img, err }
		default:
			return fmt.Errorf("cannot transcode %s video (H.264, H.265 and MJPEG can be)", t.Codec)
		}
		d.video, d.codec, d.clock = i, t.Codec, t.ClockRate
		break
	}
	if d.video < 0 {
		return errors.New("the camera sends no video to transcode")
	}
	return d.sink.Begin(tracks)
}

// NoteSPS records the picture size of an out-of-band SPS.
func (d *Depacketizer) NoteSPS(_ int, sps []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if w, h, ok := Resolution(d.codec, sps); ok {
		d.stats.Width.Store(int32(w))
		d.stats.Height.Store(int32(h))
	}
}

func moreNeeded(err error) bool {
	return errors.Is(err, rtph264.ErrMorePacketsNeeded) || errors.Is(err, rtph265.ErrMorePacketsNeeded) ||
		errors.Is(err, rtpmjpeg.ErrMorePacketsNeeded) || errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious) ||
		errors.Is(err, rtph265.ErrNonStartingPacketAndNoPrevious) || errors.Is(err, rtpmjpeg.ErrNonStartingPacketAndNoPrevious)
}

// WriteRTP takes one packet of track i.
func (d *Depacketizer) WriteRTP(i int, pkt *rtp.Packet, now int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.stats
	st.Last.Store(now)
	st.Packets.Add(1)
	st.Bytes.Add(uint64(len(pkt.Payload)))
	if i != d.video {
		if i < len(d.tracks) && d.tracks[i].Kind == codec.KindAudio {
			p := &d.apkt
			*p = codec.Packet{Track: uint8(i), PayloadType: pkt.PayloadType, SequenceNumber: pkt.SequenceNumber,
				Timestamp: pkt.Timestamp, Received: now, Payload: pkt.Payload}
			if pkt.Marker {
				p.Flags |= codec.FlagMarker
			}
			d.sink.WriteAudio(p)
		}
		return
	}
	nalus, img, err := d.decode(pkt)
	if err != nil {
		if !moreNeeded(err) {
			st.Corrupt.Add(1)
		}
		return
	}
	st.Frames.Add(1)
	// Unwrap the 32-bit RTP clock into a timeline that keeps increasing.
	if d.haveTS {
		d.ticks += int64(int32(pkt.Timestamp - d.lastTS))
	}
	d.haveTS, d.lastTS = true, pkt.Timestamp
	f := &d.frame
	*f = codec.Frame{Codec: d.codec, NALUs: nalus, JPEG: img, Received: now,
		PTS: time.Duration(d.ticks * int64(time.Second) / int64(max(d.clock, 1)))}
	if img != nil {
		var sc codec.JPEGScanner
		if _, err := sc.Next(img); err == nil && sc.Width > 0 {
			st.Width.Store(int32(sc.Width))
			st.Height.Store(int32(sc.Height))
		}
	} else {
		for _, n := range nalus {
			if codec.FindSPS(d.codec, n) != nil {
				if w, h, ok := Resolution(d.codec, n); ok {
					st.Width.Store(int32(w))
					st.Height.Store(int32(h))
				}
			}
		}
	}
	d.sink.WriteFrame(f)
}

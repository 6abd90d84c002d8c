package transport

import (
	"bytes"
	"sync"

	"github.com/pion/rtp"

	"github.com/camrelay/camrelay/codec"
)

// RTPSink takes the RTP packets of a source session as they come off the
// camera: an Ingest (copy mode: into the ring) or a Depacketizer (transcode
// mode: access units into a transcoder). Begin may refuse the tracks.
type RTPSink interface {
	Begin(tracks []codec.Track) error
	// NoteSPS hands over a parameter set known from the SDP.
	NoteSPS(track int, sps []byte)
	WriteRTP(track int, pkt *rtp.Packet, now int64)
}

// Ingest is the packet path of a source session: it takes the camera's RTP
// packets, flags keyframe starts, re-fragments packets over
// codec.MaxPayload (or drops and counts those it cannot split), notes the
// picture size from SPS, keeps the counters, and writes into a
// PacketWriter. RTSPSource uses one per session; other producers of RTP
// (an MJPEG source's transcoder) can too. It allocates nothing per packet.
//
// With UDP, gortsplib delivers each track from its own goroutine; the mutex
// makes the Ingest its PacketWriter's single writer.
type Ingest struct {
	w      PacketWriter
	stats  *SourceStats
	tracks []codec.Track

	mu    sync.Mutex
	state []trackState
	pkt   codec.Packet
	frag  codec.Fragmenter
}

type trackState struct {
	codec   string
	video   bool
	sync    codec.SyncDetector
	lastSPS []byte
}

// NewIngest prepares the packet path of a source that writes into w.
func NewIngest(w PacketWriter, stats *SourceStats) *Ingest {
	if stats == nil {
		stats = &SourceStats{}
	}
	return &Ingest{w: w, stats: stats}
}

// Begin starts a session with these tracks and announces them to the
// writer: a new epoch begins. It never fails.
func (in *Ingest) Begin(tracks []codec.Track) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.tracks = tracks
	in.state = in.state[:0]
	hasVideo := false
	for _, t := range tracks {
		hasVideo = hasVideo || t.Kind == codec.KindVideo
	}
	for _, t := range tracks {
		in.state = append(in.state, trackState{
			codec: t.Codec,
			video: t.Kind == codec.KindVideo,
			sync:  codec.SyncDetector{Codec: t.Codec, AlwaysSync: !hasVideo},
		})
	}
	in.w.SetTracks(tracks)
	return nil
}

// NoteSPS records a parameter set known out of band (from the SDP), for
// the picture size in the status.
func (in *Ingest) NoteSPS(track int, sps []byte) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.noteSPS(track, sps)
}

func (in *Ingest) noteSPS(i int, sps []byte) {
	st := &in.state[i]
	if bytes.Equal(sps, st.lastSPS) {
		return
	}
	st.lastSPS = append(st.lastSPS[:0], sps...)
	if w, h, ok := Resolution(st.codec, sps); ok {
		in.stats.Width.Store(int32(w))
		in.stats.Height.Store(int32(h))
	}
}

// WriteRTP takes one packet of track i, received at now (codec.Now()).
func (in *Ingest) WriteRTP(i int, pkt *rtp.Packet, now int64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	st := &in.state[i]
	stats := in.stats
	stats.Last.Store(now)
	stats.Packets.Add(1)
	stats.Bytes.Add(uint64(len(pkt.Payload)))

	var flags codec.Flags
	if st.sync.IsSync(pkt.Payload, pkt.Timestamp) {
		flags |= codec.FlagSync
	}
	if st.video {
		if pkt.Marker {
			stats.Frames.Add(1)
		}
		if sps := codec.FindSPS(st.codec, pkt.Payload); sps != nil {
			in.noteSPS(i, sps)
		}
	}
	p := &in.pkt
	p.Track = uint8(i)
	p.PayloadType = pkt.PayloadType
	p.SequenceNumber = pkt.SequenceNumber
	p.Timestamp = pkt.Timestamp
	p.Received = now
	if len(pkt.Payload) <= codec.MaxPayload {
		p.Flags = flags
		if pkt.Marker {
			p.Flags |= codec.FlagMarker
		}
		p.Payload = pkt.Payload
		in.w.WritePacket(p)
		return
	}
	if !in.frag.Reset(st.codec, pkt.Payload, codec.MaxPayload) {
		stats.Oversized.Add(1)
		return
	}
	stats.Split.Add(1)
	for {
		payload, last, ok := in.frag.Next()
		if !ok {
			break
		}
		p.Flags = flags
		flags &^= codec.FlagSync // only the first piece starts the keyframe
		if last && pkt.Marker {
			p.Flags |= codec.FlagMarker
		}
		p.Payload = payload
		in.w.WritePacket(p)
	}
}

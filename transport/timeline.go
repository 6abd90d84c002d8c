package transport

import (
	"crypto/rand"
	"encoding/binary"

	"github.com/camrelay/camrelay/codec"
)

// timeline maps the packets of a camera's ring onto one continuous output
// stream, whatever happens at the camera: when the source reconnects (a new
// epoch) with the same tracks, sequence numbers and timestamps continue
// where they were, video resumes at the next keyframe, and the server and
// its viewers never see a break; when the tracks changed, the output must be
// announced again (ErrTracksChanged). The RTSP publisher and the on-demand
// RTSP server both send through one.
type timeline struct {
	announce []codec.Track
	tracks   []pubTrack
	epoch    uint32
	stats    *SinkStats
}

func newTimeline(announce []codec.Track, epoch uint32, stats *SinkStats) *timeline {
	tl := &timeline{announce: announce, epoch: epoch, stats: stats, tracks: make([]pubTrack, len(announce))}
	for i := range announce {
		var b [4]byte
		_, _ = rand.Read(b[:])
		tl.tracks[i].track = announce[i]
		tl.tracks[i].ssrc = binary.BigEndian.Uint32(b[:])
	}
	return tl
}

// next places p on the output timeline. It returns the packet's track and
// its output sequence number and timestamp, or a nil track when p is to be
// skipped (with ErrTracksChanged when the stream must be announced again).
func (tl *timeline) next(r PacketReader, p *codec.Packet) (*pubTrack, uint16, uint32, error) {
	if p.Epoch != tl.epoch {
		if _, tracks := r.Tracks(); !codec.SameTracks(tl.announce, tracks) {
			return nil, 0, 0, ErrTracksChanged
		}
		tl.epoch = p.Epoch
		for i := range tl.tracks {
			tl.tracks[i].discont = true
			tl.tracks[i].waitKey = tl.tracks[i].track.Kind == codec.KindVideo
		}
	}
	if int(p.Track) >= len(tl.tracks) {
		return nil, 0, 0, nil
	}
	t := &tl.tracks[p.Track]
	if t.waitKey {
		if p.Flags&codec.FlagSync == 0 {
			tl.stats.Skipped.Add(1)
			t.discont = true // keep measuring the gap from the last packet sent
			return nil, 0, 0, nil
		}
		t.waitKey = false
	}
	seq, ts, rebased := t.rebase(p)
	if rebased {
		tl.stats.Rebases.Add(1)
	}
	return t, seq, ts, nil
}

// pubTrack is the rebasing state of one published track.
type pubTrack struct {
	track codec.Track
	ssrc  uint32 // random per output session

	started bool
	discont bool // the next packet starts a new source session
	waitKey bool // drop video until a keyframe after a discontinuity
	inSeq   uint16
	inTS    uint32
	outSeq  uint16
	outTS   uint32
	offset  uint32 // out timestamp = in timestamp + offset
	recv    int64
}

// rebase maps a camera packet onto the published timeline. Sequence numbers
// continue by one (or by the camera's own gap, so real losses stay visible);
// timestamps continue from the last one sent, advanced by the wall-clock time
// that passed, whenever the source reconnected or its clock jumped.
func (t *pubTrack) rebase(p *codec.Packet) (seq uint16, ts uint32, rebased bool) {
	clock := t.track.ClockRate
	switch {
	case !t.started:
		t.started = true
		t.outSeq = p.SequenceNumber - 1
		t.offset = 0
	case t.discont || t.jumped(p):
		t.offset = t.outTS + max(codec.Elapsed(p.Received-t.recv, clock), 1) - p.Timestamp
		rebased = true
	default:
		if gap := p.SequenceNumber - t.inSeq; gap >= 1 && gap < 1000 {
			t.outSeq += gap - 1
		}
	}
	t.discont = false
	t.outSeq++
	t.inSeq, t.inTS, t.recv = p.SequenceNumber, p.Timestamp, p.Received
	t.outTS = p.Timestamp + t.offset
	return t.outSeq, t.outTS, rebased
}

// jumped reports a timestamp discontinuity inside one source session: the
// camera's clock went back more than 5 s, or ahead more than 10 s beyond the
// time that passed.
func (t *pubTrack) jumped(p *codec.Packet) bool {
	clock := int64(t.track.ClockRate)
	if clock <= 0 {
		return false
	}
	dIn := int64(int32(p.Timestamp - t.inTS))
	dWall := int64(codec.Elapsed(p.Received-t.recv, t.track.ClockRate))
	return dIn < -5*clock || dIn-dWall > 10*clock
}

package transport

import (
	"errors"
	"fmt"

	"github.com/pion/rtp"

	"github.com/camrelay/camrelay/codec"
)

// AssembleFrame reassembles one video frame from the RTP packets of track
// (as a ring holds them, in order): the NAL units of an H.264 or H.265
// access unit (single NAL units, STAP-A/AP aggregates, FU-A/FU fragments),
// or an RTP/JPEG image (RFC 2435) made whole again. The packets are those of
// one frame; the last one ends it whether or not the camera set its marker.
// It is not on any packet path: relay uses it to take a snapshot of a copy
// camera's newest keyframe.
func AssembleFrame(track codec.Track, pkts []codec.Packet) (*codec.Frame, error) {
	if len(pkts) == 0 {
		return nil, errors.New("assemble: no packets")
	}
	var got *codec.Frame
	d := NewDepacketizer(frameCatcher{&got}, nil)
	tracks := []codec.Track{track}
	if err := d.Begin(tracks); err != nil {
		return nil, fmt.Errorf("assemble: %w", err)
	}
	for i := range pkts {
		p := &pkts[i]
		// Sequence numbers are the ring's order: packets a source
		// re-fragmented share the camera's number.
		r := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: p.PayloadType, SequenceNumber: uint16(i),
			Timestamp: p.Timestamp, Marker: p.Marker() || i == len(pkts)-1}, Payload: p.Payload}
		d.WriteRTP(0, &r, p.Received)
		if got != nil {
			break
		}
	}
	if got == nil {
		return nil, fmt.Errorf("assemble: %d %s packets make no whole frame", len(pkts), track.Codec)
	}
	return got, nil
}

// frameCatcher keeps the first frame a Depacketizer completes.
type frameCatcher struct{ f **codec.Frame }

func (c frameCatcher) Begin([]codec.Track) error { return nil }

func (c frameCatcher) WriteFrame(f *codec.Frame) {
	if *c.f != nil {
		return
	}
	g := *f // the Depacketizer reuses its frame
	*c.f = &g
}

func (c frameCatcher) WriteAudio(*codec.Packet) {}

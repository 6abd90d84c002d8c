package relay

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/camrelay/camrelay/codec"
	"github.com/camrelay/camrelay/relay/ring"
)

// readAll drains a ring reader.
func readAll(rd *ring.Reader) []codec.Packet {
	var out []codec.Packet
	p := codec.Packet{Payload: make([]byte, codec.MaxPayload)}
	for rd.TryRead(&p) {
		q := p
		q.Payload = append([]byte(nil), p.Payload...)
		out = append(out, q)
		p.Payload = p.Payload[:cap(p.Payload)]
	}
	return out
}

// audio: drop on a copy camera removes the audio track (wherever it is
// among the tracks) and passes video through byte for byte, without
// allocating.
func TestAudioFilterDrop(t *testing.T) {
	for _, order := range []string{"video-audio", "audio-video"} {
		t.Run(order, func(t *testing.T) {
			r := ring.New(ring.MinSize)
			rd := r.NewReader(ring.NextSync)
			defer rd.Close()
			f := newAudioFilter(r, codec.AudioDrop, slog.Default())
			video := codec.Track{Kind: codec.KindVideo, Codec: "H264", ClockRate: 90000, PayloadType: 96, RTPMap: "H264/90000"}
			audio := codec.Track{Kind: codec.KindAudio, Codec: "PCMU", ClockRate: 8000, Channels: 1}
			tracks, vi, ai := []codec.Track{video, audio}, uint8(0), uint8(1)
			if order == "audio-video" {
				tracks, vi, ai = []codec.Track{audio, video}, 1, 0
			}
			f.SetTracks(tracks)
			if _, got := r.Tracks(); len(got) != 1 || got[0].Codec != "H264" {
				t.Fatalf("announced %v, want the video track only", got)
			}
			idr := []byte{0x65, 1, 2, 3}
			vp := codec.Packet{Track: vi, Flags: codec.FlagSync | codec.FlagMarker, PayloadType: 96, SequenceNumber: 7, Timestamp: 9000, Payload: idr}
			ap := codec.Packet{Track: ai, Flags: codec.FlagMarker, SequenceNumber: 3, Timestamp: 160, Payload: make([]byte, 160)}
			f.WritePacket(&vp)
			f.WritePacket(&ap)
			got := readAll(rd)
			if len(got) != 1 || got[0].Track != 0 || !bytes.Equal(got[0].Payload, idr) || got[0].SequenceNumber != 7 || got[0].Timestamp != 9000 {
				t.Fatalf("ring holds %+v, want the one video packet as it was, on track 0", got)
			}
			if vp.Track != vi {
				t.Error("the filter changed the source's packet")
			}
			if n := testing.AllocsPerRun(200, func() { f.WritePacket(&vp); f.WritePacket(&ap) }); n != 0 {
				t.Errorf("%v allocations per packet", n)
			}
		})
	}
}

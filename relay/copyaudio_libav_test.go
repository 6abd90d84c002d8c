//go:build libav

package relay

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/camrelay/camrelay/codec"
	"github.com/camrelay/camrelay/relay/ring"
)

// audio: opus or aac on a copy camera: the ring announces the video track
// as the camera did and the audio re-encoded; video packets come out byte
// for byte, audio packets as Opus (or AAC) on the audio's track.
func TestAudioFilterTranscodes(t *testing.T) {
	for _, c := range []struct{ mode, codec string }{{codec.AudioOpus, "OPUS"}, {codec.AudioAAC, "MPEG4-GENERIC"}} {
		t.Run(c.mode, func(t *testing.T) {
			r := ring.New(1 << 20)
			rd := r.NewReader(ring.NextSync)
			defer rd.Close()
			f := newAudioFilter(r, c.mode, slog.Default())
			defer f.close()
			video := codec.Track{Kind: codec.KindVideo, Codec: "H264", ClockRate: 90000, PayloadType: 96, RTPMap: "H264/90000",
				FMTP: map[string]string{"packetization-mode": "1"}}
			f.SetTracks([]codec.Track{video, {Kind: codec.KindAudio, Codec: "PCMU", ClockRate: 8000, Channels: 1}})
			_, tracks := r.Tracks()
			if len(tracks) != 2 || !tracks[0].SameStream(video) || tracks[0].RTPMap != video.RTPMap || tracks[1].Codec != c.codec || tracks[1].ClockRate != 48000 {
				t.Fatalf("announced %v", tracks)
			}
			pcm := bytes.Repeat([]byte{0xff}, 160)
			var sent [][]byte
			for i := range 100 { // 2 s of audio, 25 video frames
				now := codec.Now()
				if i%4 == 0 {
					nal := []byte{0x65, byte(i), 0xaa, 0xbb}
					if i > 0 {
						nal[0] = 0x41
					}
					flags := codec.FlagMarker
					if i == 0 {
						flags |= codec.FlagSync
					}
					vp := codec.Packet{Track: 0, Flags: flags, PayloadType: 96, SequenceNumber: uint16(i), Timestamp: uint32(i * 1800), Received: now, Payload: nal}
					f.WritePacket(&vp)
					sent = append(sent, nal)
				}
				ap := codec.Packet{Track: 1, Flags: codec.FlagMarker, PayloadType: 0, SequenceNumber: uint16(i), Timestamp: uint32(i * 160), Received: now, Payload: pcm}
				f.WritePacket(&ap)
			}
			var video0, audio1 int
			for _, p := range readAll(rd) {
				switch p.Track {
				case 0:
					if video0 >= len(sent) || !bytes.Equal(p.Payload, sent[video0]) {
						t.Fatalf("video packet %d differs from what the camera sent", video0)
					}
					video0++
				case 1:
					if p.PayloadType != tracks[1].PayloadType || len(p.Payload) == 0 {
						t.Fatalf("audio packet %+v", p)
					}
					audio1++
				default:
					t.Fatalf("a packet on track %d", p.Track)
				}
			}
			if video0 != len(sent) || audio1 < 20 {
				t.Errorf("%d of %d video packets, %d audio packets", video0, len(sent), audio1)
			}
		})
	}
}

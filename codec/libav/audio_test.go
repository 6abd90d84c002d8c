//go:build libav

package libav

import (
	"bytes"
	"errors"
	"math"
	"os"
	"testing"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/camrelay/camrelay/codec"
)

var pcmuTrack = codec.Track{Kind: codec.KindAudio, Codec: "PCMU", ClockRate: 8000, Channels: 1, PayloadType: 0, RTPMap: "PCMU/8000"}

// runAudio transcodes 2 s of a 440 Hz G.711 tone (20 ms packets) beside
// 320x240 JPEG video and returns what came out.
func runAudio(t *testing.T, mode string) (*sink, []byte) {
	t.Helper()
	tone, err := os.ReadFile("../../testdata/clips/g711u_8000.ulaw")
	if err != nil {
		t.Fatal(err)
	}
	cfg := video(320, 240, 25)
	cfg.Audio = mode
	tc, s := newTranscoder(t, cfg, jpegTrack, pcmuTrack)
	jpg := testJPEG(t, 320, 240, 0)
	for i := 0; (i+1)*160 <= len(tone); i++ {
		now := codec.Now()
		if i%2 == 0 {
			tc.WriteFrame(&codec.Frame{Codec: "JPEG", JPEG: jpg, PTS: time.Duration(i) * 20 * ms, Received: now})
		}
		tc.WriteAudio(&codec.Packet{Track: 1, Flags: codec.FlagSync, PayloadType: 0, SequenceNumber: uint16(i),
			Timestamp: 1000 + uint32(i*160), Received: now, Payload: tone[i*160 : (i+1)*160]})
	}
	// Packets of another track are not audio of this session.
	tc.WriteAudio(&codec.Packet{Track: 5, Payload: tone[:160]})
	return s, tone
}

// decodeAudio decodes packets with a libav decoder and returns the samples
// of the first channel as float64.
func decodeAudio(t *testing.T, id astiav.CodecID, extradata []byte, channels int, pkts [][]byte) []float64 {
	t.Helper()
	c := astiav.FindDecoder(id)
	cc := astiav.AllocCodecContext(c)
	defer cc.Free()
	cc.SetSampleRate(48000)
	if channels == 2 {
		cc.SetChannelLayout(astiav.ChannelLayoutStereo)
	} else {
		cc.SetChannelLayout(astiav.ChannelLayoutMono)
	}
	if extradata != nil {
		if err := cc.SetExtraData(extradata); err != nil {
			t.Fatal(err)
		}
	}
	if err := cc.Open(c, nil); err != nil {
		t.Fatal(err)
	}
	pkt, f := astiav.AllocPacket(), astiav.AllocFrame()
	defer pkt.Free()
	defer f.Free()
	var out []float64
	for i, p := range pkts {
		if err := fillPacket(pkt, p); err != nil {
			t.Fatal(err)
		}
		err := cc.SendPacket(pkt)
		pkt.Unref()
		if err != nil {
			t.Fatalf("packet %d does not decode: %v", i, err)
		}
		for {
			if err := cc.ReceiveFrame(f); err != nil {
				if !errors.Is(err, astiav.ErrEagain) {
					t.Fatalf("packet %d: %v", i, err)
				}
				break
			}
			n := f.NbSamples()
			plane0, _ := plane(f, 0, 1)
			switch f.SampleFormat() {
			case astiav.SampleFormatFltp, astiav.SampleFormatFlt:
				step := 1
				if f.SampleFormat() == astiav.SampleFormatFlt {
					step = channels
				}
				for j := 0; j < n; j++ {
					b := plane0[4*j*step:]
					out = append(out, float64(math.Float32frombits(uint32(b[0])|uint32(b[1])<<8|uint32(b[2])<<16|uint32(b[3])<<24)))
				}
			case astiav.SampleFormatS16:
				for j := 0; j < n; j++ {
					b := plane0[2*j*channels:]
					out = append(out, float64(int16(uint16(b[0])|uint16(b[1])<<8))/32768)
				}
			default:
				t.Fatalf("sample format %s", f.SampleFormat())
			}
		}
	}
	return out
}

// toneLevel is the RMS of samples after the first 100 ms (codec warm-up).
func toneLevel(s []float64) float64 {
	if len(s) < 4800 {
		return 0
	}
	sum := 0.0
	for _, v := range s[4800:] {
		sum += v * v
	}
	return math.Sqrt(sum / float64(len(s)-4800))
}

func TestAudioCopy(t *testing.T) {
	s, tone := runAudio(t, codec.AudioCopy)
	tracks := s.lastTracks()
	if len(tracks) != 2 || tracks[1].Codec != "PCMU" || tracks[1].ClockRate != 8000 {
		t.Fatalf("tracks %+v", tracks)
	}
	pkts := s.packets(1)
	if len(pkts) != len(tone)/160 {
		t.Fatalf("%d audio packets", len(pkts))
	}
	for i, p := range pkts {
		if p.Flags&codec.FlagSync != 0 || !bytes.Equal(p.Payload, tone[i*160:(i+1)*160]) || p.Timestamp != 1000+uint32(i*160) {
			t.Fatalf("packet %d: %+v", i, p)
		}
	}
}

func TestAudioDrop(t *testing.T) {
	s, _ := runAudio(t, codec.AudioDrop)
	if tracks := s.lastTracks(); len(tracks) != 1 || tracks[0].Kind != codec.KindVideo {
		t.Fatalf("tracks %+v", tracks)
	}
	if n := len(s.packets(1)); n != 0 {
		t.Fatalf("%d audio packets", n)
	}
}

func TestAudioOpus(t *testing.T) {
	s, _ := runAudio(t, codec.AudioOpus)
	tracks := s.lastTracks()
	if len(tracks) != 2 {
		t.Fatalf("tracks %+v", tracks)
	}
	tr := tracks[1]
	if tr.Codec != "OPUS" || tr.ClockRate != 48000 || tr.Channels != 2 || tr.RTPMap != "OPUS/48000/2" || tr.PayloadType != 97 {
		t.Fatalf("opus track %+v", tr)
	}
	pkts := s.packets(1)
	var payloads [][]byte
	for i, p := range pkts {
		if p.Flags&codec.FlagSync != 0 || p.PayloadType != 97 {
			t.Fatalf("packet %d flags %v pt %d", i, p.Flags, p.PayloadType)
		}
		if i > 0 && (p.Timestamp-pkts[i-1].Timestamp != 960 || p.SequenceNumber != pkts[i-1].SequenceNumber+1) {
			t.Fatalf("packet %d: ts +%d seq %d after %d", i, p.Timestamp-pkts[i-1].Timestamp, p.SequenceNumber, pkts[i-1].SequenceNumber)
		}
		payloads = append(payloads, p.Payload)
	}
	samples := decodeAudio(t, astiav.CodecIDOpus, nil, 2, payloads)
	// 2 s in; a frame or two stays in the resampler and the encoder.
	if d := len(samples); d < 48000*19/10 || d > 48000*2 {
		t.Errorf("%d samples decoded, want about 2 s", d)
	}
	// ffmpeg's sine source makes the tone at amplitude 1/8 (RMS 0.088):
	// check it is there, not silence or noise.
	if l := toneLevel(samples); l < 0.07 || l > 0.11 {
		t.Errorf("decoded level %.3f", l)
	}
}

func TestAudioAAC(t *testing.T) {
	s, _ := runAudio(t, codec.AudioAAC)
	tracks := s.lastTracks()
	if len(tracks) != 2 {
		t.Fatalf("tracks %+v", tracks)
	}
	tr := tracks[1]
	if tr.Codec != "MPEG4-GENERIC" || tr.ClockRate != 48000 || tr.Channels != 1 || tr.RTPMap != "MPEG4-GENERIC/48000/1" || tr.FMTP["mode"] != "AAC-hbr" {
		t.Fatalf("aac track %+v", tr)
	}
	p, err := parseAACParams(tr.FMTP)
	if err != nil {
		t.Fatal(err)
	}
	d := &aacDepacketizer{p: p}
	var aus [][]byte
	pkts := s.packets(1)
	for i, q := range pkts {
		if q.Flags&codec.FlagSync != 0 || !q.Marker() {
			t.Fatalf("packet %d flags %v", i, q.Flags)
		}
		if i > 0 && q.Timestamp-pkts[i-1].Timestamp != 1024 {
			t.Fatalf("packet %d: ts +%d", i, q.Timestamp-pkts[i-1].Timestamp)
		}
		got, err := d.unpack(q.Payload, q.Marker())
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		for _, a := range got {
			aus = append(aus, bytes.Clone(a))
		}
	}
	samples := decodeAudio(t, astiav.CodecIDAac, p.config, 1, aus)
	if n := len(samples); n < 48000*18/10 || n > 48000*2 {
		t.Errorf("%d samples decoded, want about 2 s", n)
	}
	if l := toneLevel(samples); l < 0.07 || l > 0.11 {
		t.Errorf("decoded level %.3f", l)
	}
}

func TestAudioAACInput(t *testing.T) {
	// AAC in (what RTSP cameras send), Opus out: make AAC with the
	// transcoder itself, then feed its packets back in.
	s, _ := runAudio(t, codec.AudioAAC)
	aacTrack := s.lastTracks()[1]
	aacPkts := s.packets(1)

	cfg := video(320, 240, 25)
	cfg.Audio = codec.AudioOpus
	tc, s2 := newTranscoder(t, cfg, jpegTrack, aacTrack)
	jpg := testJPEG(t, 320, 240, 0)
	tc.WriteFrame(&codec.Frame{Codec: "JPEG", JPEG: jpg})
	for _, p := range aacPkts {
		tc.WriteAudio(&p)
	}
	var payloads [][]byte
	for _, p := range s2.packets(1) {
		payloads = append(payloads, p.Payload)
	}
	samples := decodeAudio(t, astiav.CodecIDOpus, nil, 2, payloads)
	if n := len(samples); n < 48000*17/10 {
		t.Errorf("%d samples decoded, want about 2 s", n)
	}
	if l := toneLevel(samples); l < 0.07 || l > 0.11 {
		t.Errorf("decoded level %.3f", l)
	}
}

func TestAudioUnsupportedIsDropped(t *testing.T) {
	cfg := video(320, 240, 25)
	cfg.Audio = codec.AudioOpus
	_, s := newTranscoder(t, cfg, jpegTrack, codec.Track{Kind: codec.KindAudio, Codec: "G722", ClockRate: 8000})
	if tracks := s.lastTracks(); len(tracks) != 1 {
		t.Fatalf("tracks %+v: unsupported audio should be left out, video kept", tracks)
	}
}

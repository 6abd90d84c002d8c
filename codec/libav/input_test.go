//go:build libav

package libav

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/camrelay/camrelay/codec"
)

// limitedFrame is a w x h limited-range yuv420p picture of luma y with a
// vertical bar at x0..x0+w/8 of luma 235, for tests that make their own
// input with libav.
func limitedFrame(t *testing.T, w, h int, y byte, x0 int) *astiav.Frame {
	t.Helper()
	f := astiav.AllocFrame()
	f.SetWidth(w)
	f.SetHeight(h)
	f.SetPixelFormat(astiav.PixelFormatYuv420P)
	f.SetColorRange(astiav.ColorRangeMpeg)
	if err := f.AllocBuffer(0); err != nil {
		t.Fatal(err)
	}
	if err := f.ImageFillBlack(); err != nil {
		t.Fatal(err)
	}
	luma, stride := plane(f, 0, h)
	for r := 0; r < h; r++ {
		for c := 0; c < w; c++ {
			v := y
			if c >= x0 && c < x0+w/8 {
				v = 235
			}
			luma[r*stride+c] = v
		}
	}
	return f
}

func TestJPEGSamplings(t *testing.T) {
	// Cameras send 4:2:2 (and sometimes 4:4:4) full-range JPEG; the output
	// is 4:2:0, full range like the JPEG: limited 180 is full 191.
	for _, pf := range []astiav.PixelFormat{astiav.PixelFormatYuvj420P, astiav.PixelFormatYuvj422P, astiav.PixelFormatYuvj444P} {
		t.Run(pf.String(), func(t *testing.T) {
			f := limitedFrame(t, 320, 240, 180, 1000)
			jpg, err := encodeJPEGAs(f, pf)
			f.Free()
			if err != nil {
				t.Fatal(err)
			}
			p := transcodeFlat(t, video(640, 480, 25), jpg)
			if got := lumaAt(p, 320, 240, 8); got < 188 || got > 194 {
				t.Errorf("luma %d, want 191", got)
			}
		})
	}
}

func TestParameterSetsOutOfBand(t *testing.T) {
	// A camera that sends SPS and PPS only in the SDP.
	clip := readClip(t, "../../testdata/clips/h264_320x240_25.h264", "H264")
	var sps, pps []byte
	var stripped [][][]byte
	for _, au := range clip {
		var keep [][]byte
		for _, n := range au {
			switch n[0] & 0x1f {
			case 7:
				sps = n
			case 8:
				pps = n
			default:
				keep = append(keep, n)
			}
		}
		stripped = append(stripped, keep)
	}
	track := codec.Track{Kind: codec.KindVideo, Codec: "H264", ClockRate: 90000, FMTP: map[string]string{
		"packetization-mode":   "1",
		"sprop-parameter-sets": base64.StdEncoding.EncodeToString(sps) + "," + base64.StdEncoding.EncodeToString(pps),
	}}
	tc, s := newTranscoder(t, video(320, 240, 25), track)
	for i, au := range stripped {
		tc.WriteFrame(&codec.Frame{Codec: "H264", NALUs: au, PTS: time.Duration(i) * 40 * ms})
	}
	if st := tc.Stats(); st.FramesDecoded != uint64(len(clip)) || st.DecodeErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
	decodeAll(t, "H264", depacketize(t, s.packets(0)))
}

func TestH264Damaged(t *testing.T) {
	clip := readClip(t, "../../testdata/clips/h264_320x240_25.h264", "H264")
	tc, s := newTranscoder(t, video(320, 240, 25), codec.Track{Kind: codec.KindVideo, Codec: "H264", ClockRate: 90000})
	for i, au := range clip {
		if i == 5 {
			// The slice of a P-frame cut short, as a lost packet leaves it.
			var cut [][]byte
			for _, n := range au {
				if n[0]&0x1f == 1 {
					n = n[:len(n)/3]
				}
				cut = append(cut, n)
			}
			au = cut
		}
		if i == 8 {
			au = [][]byte{{0x65, 0xff, 0xff, 0x00, 0x13}} // an IDR slice of garbage
		}
		tc.WriteFrame(&codec.Frame{Codec: "H264", NALUs: au, PTS: time.Duration(i) * 40 * ms})
	}
	st := tc.Stats()
	aus := depacketize(t, s.packets(0))
	t.Logf("stats %+v", st)
	if st.DecodeErrors == 0 {
		t.Error("damaged frames not counted")
	}
	// Skipped pictures are replaced by repeats: the output keeps its rate
	// and stays decodable.
	if len(aus) != len(clip) {
		t.Errorf("%d frames out for %d in", len(aus), len(clip))
	}
	checkTimeline(t, aus, 25)
	decodeAll(t, "H264", aus)
}

func TestH264WithBFrames(t *testing.T) {
	// Some cameras send B-frames: the decoder returns pictures later and in
	// display order; the transcoder must place them by their own PTS.
	const n = 30
	c := astiav.FindEncoderByName("libx264")
	cc := astiav.AllocCodecContext(c)
	defer cc.Free()
	cc.SetWidth(320)
	cc.SetHeight(240)
	cc.SetPixelFormat(astiav.PixelFormatYuv420P)
	cc.SetTimeBase(astiav.NewRational(1, 25))
	cc.SetFramerate(astiav.NewRational(25, 1))
	if err := openWithOptions(cc, c, [][2]string{{"preset", "ultrafast"}, {"bf", "2"}, {"threads", "1"}, {"x264-params", "b-adapt=0"}}); err != nil {
		t.Fatal(err)
	}
	pkt := astiav.AllocPacket()
	defer pkt.Free()
	type encoded struct {
		nalus [][]byte
		pts   int64
	}
	var stream []encoded
	drain := func() {
		for {
			pkt.Unref()
			if err := cc.ReceivePacket(pkt); err != nil {
				if !errors.Is(err, astiav.ErrEagain) && !errors.Is(err, astiav.ErrEof) {
					t.Fatal(err)
				}
				return
			}
			var e encoded
			for nal, rest := codec.NextAnnexB(packetBytes(pkt)); nal != nil; nal, rest = codec.NextAnnexB(rest) {
				e.nalus = append(e.nalus, append([]byte(nil), nal...))
			}
			e.pts = pkt.Pts()
			stream = append(stream, e)
		}
	}
	for i := range n {
		f := limitedFrame(t, 320, 240, 100, i*8)
		f.SetPts(int64(i))
		if err := cc.SendFrame(f); err != nil {
			t.Fatal(err)
		}
		f.Free()
		drain()
	}
	if err := cc.SendFrame(nil); err != nil {
		t.Fatal(err)
	}
	drain()
	reordered := false
	for i := 1; i < len(stream); i++ {
		reordered = reordered || stream[i].pts < stream[i-1].pts
	}
	if len(stream) != n || !reordered {
		t.Fatalf("%d packets, reordered %v: the test needs B-frames", len(stream), reordered)
	}

	tc, s := newTranscoder(t, video(320, 240, 25), codec.Track{Kind: codec.KindVideo, Codec: "H264", ClockRate: 90000})
	for _, e := range stream {
		tc.WriteFrame(&codec.Frame{Codec: "H264", NALUs: e.nalus, PTS: time.Duration(e.pts) * 40 * ms, Received: codec.Now()})
	}
	st := tc.Stats()
	aus := depacketize(t, s.packets(0))
	// A picture or two stays in the decoder's reorder buffer.
	if st.DecodeErrors != 0 || st.Dropped != 0 || st.Repeated != 0 || len(aus) < n-3 {
		t.Fatalf("%d frames out of %d, stats %+v", len(aus), n, st)
	}
	checkTimeline(t, aus, 25)
	// Display order survived: the bar moves right by 8 pixels a frame.
	pics := decodeAll(t, "H264", aus)
	for i, p := range pics {
		x := i*8 + 4
		if x+8 > p.Width {
			break
		}
		if l := lumaAt(p, x, 120, 2); l < 200 {
			t.Fatalf("picture %d: no bar at x=%d (luma %d): pictures out of order", i, x, l)
		}
	}
}

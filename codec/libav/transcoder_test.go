//go:build libav

package libav

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"image/jpeg"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"go.uber.org/goleak"

	"github.com/camrelay/camrelay/codec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const ms = time.Millisecond

func newTranscoder(t testing.TB, cfg codec.TranscodeConfig, tracks ...codec.Track) (codec.Transcoder, *sink) {
	t.Helper()
	s := &sink{}
	tc, err := New(cfg, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	if len(tracks) == 0 {
		tracks = []codec.Track{jpegTrack}
	}
	if err := tc.Begin(tracks); err != nil {
		t.Fatal(err)
	}
	return tc, s
}

func video(w, h, fps int) codec.TranscodeConfig {
	return codec.TranscodeConfig{Video: codec.VideoConfig{Width: w, Height: h, FPS: fps}, Audio: codec.AudioDrop}
}

// checkTimeline checks that access units are one slot apart at fps.
func checkTimeline(t *testing.T, aus []au, fps int) {
	t.Helper()
	for i := 1; i < len(aus); i++ {
		want := uint32(i) * 90000 / uint32(fps)
		if got := aus[i].ts - aus[0].ts; got != want {
			t.Fatalf("access unit %d at +%d ticks, want +%d (a gap or a jump in the output timeline)", i, got, want)
		}
	}
}

func TestJPEGVariableRate(t *testing.T) {
	tc, s := newTranscoder(t, video(1280, 720, 25))
	var jpegs [][]byte
	for i := range 10 {
		jpegs = append(jpegs, testJPEG(t, 640, 480, i*7))
	}
	// Intervals between 20 and 70 ms, 40 ms on average, shuffled.
	intervals := []int{20, 70, 30, 40, 25, 55, 35, 45}
	r := rand.New(rand.NewPCG(1, 2))
	var pts time.Duration
	n := 0
	for cycle := 0; pts < 4*time.Second; cycle++ {
		for _, i := range r.Perm(len(intervals)) {
			tc.WriteFrame(&codec.Frame{Codec: "JPEG", JPEG: jpegs[n%len(jpegs)], PTS: pts, Received: codec.Now()})
			n++
			pts += time.Duration(intervals[i]) * ms
		}
	}
	lastPTS := pts - 45*ms // roughly; the exact last interval does not matter within a slot
	st := tc.Stats()
	aus := depacketize(t, s.packets(0))
	want := int(lastPTS/(40*ms)) + 1
	if d := len(aus) - want; d < -1 || d > 1 {
		t.Errorf("%d output frames for %v of input at 25 fps, want %d ± 1", len(aus), lastPTS, want)
	}
	checkTimeline(t, aus, 25)
	pics := decodeAll(t, "H264", aus)
	if len(pics) != len(aus) {
		t.Fatalf("%d pictures from %d access units", len(pics), len(aus))
	}
	for i, p := range pics {
		if p.Width != 1280 || p.Height != 720 {
			t.Fatalf("picture %d is %dx%d", i, p.Width, p.Height)
		}
	}
	if st.FramesIn != uint64(n) || st.FramesDecoded != uint64(n) || st.DecodeErrors != 0 {
		t.Errorf("stats %+v, %d frames in", st, n)
	}
	if st.FramesOut != uint64(len(aus)) {
		t.Errorf("FramesOut %d, %d access units written", st.FramesOut, len(aus))
	}
	// Every input frame is either encoded or dropped; every output frame
	// is an input frame or a repeat.
	if st.FramesIn-st.Dropped+st.Repeated != st.FramesOut || st.Dropped == 0 || st.Repeated == 0 {
		t.Errorf("in %d - dropped %d + repeated %d != out %d (or no drops/repeats with this jitter)",
			st.FramesIn, st.Dropped, st.Repeated, st.FramesOut)
	}
	if st.Latency.Count != st.FramesOut-st.Repeated || st.Latency.Quantile(0.5) <= 0 {
		t.Errorf("latency: %d observations for %d fresh frames, p50 %v", st.Latency.Count, st.FramesOut-st.Repeated, st.Latency.Quantile(0.5))
	}
	if st.InWidth != 640 || st.InHeight != 480 || st.OutWidth != 1280 || st.OutHeight != 720 {
		t.Errorf("sizes in %dx%d out %dx%d", st.InWidth, st.InHeight, st.OutWidth, st.OutHeight)
	}
	t.Logf("%d in, %d out, %d dropped, %d repeated, latency p50 %v p99 %v", st.FramesIn, st.FramesOut, st.Dropped, st.Repeated,
		st.Latency.Quantile(0.5), st.Latency.Quantile(0.99))
}

// transcodeFlat sends a few identical flat pictures and returns the first
// output picture.
func transcodeFlat(t *testing.T, cfg codec.TranscodeConfig, jpg []byte) Picture {
	t.Helper()
	tc, s := newTranscoder(t, cfg)
	for i := range 3 {
		tc.WriteFrame(&codec.Frame{Codec: "JPEG", JPEG: jpg, PTS: time.Duration(i) * 40 * ms})
	}
	pics := decodeAll(t, "H264", depacketize(t, s.packets(0)))
	if len(pics) != 3 {
		t.Fatalf("%d pictures", len(pics))
	}
	return pics[2]
}

func TestScaleFitAndStretch(t *testing.T) {
	// JPEG pictures are full range and the output stays so (see
	// TestJPEGStaysFullRange): 200 stays 200, black is 0.
	const limited200 = 200
	near := func(got, want int) bool { return got >= want-4 && got <= want+4 }
	for _, tc := range []struct {
		name             string
		scale            string
		inW, inH         int
		outW, outH       int
		barX, barY       int // a point in a bar (if fit)
		insideX, insideY int
	}{
		{"pillarbox 4:3 in 16:9", codec.ScaleFit, 640, 480, 1280, 720, 40, 360, 640, 360},
		{"letterbox 16:9 in 4:3", codec.ScaleFit, 1280, 720, 640, 480, 320, 20, 320, 240},
		{"stretch 4:3 to 16:9", codec.ScaleStretch, 640, 480, 1280, 720, 40, 360, 640, 360},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := video(tc.outW, tc.outH, 25)
			cfg.Video.Scale = tc.scale
			p := transcodeFlat(t, cfg, flatJPEG(t, tc.inW, tc.inH, 200))
			if p.Width != tc.outW || p.Height != tc.outH {
				t.Fatalf("output %dx%d", p.Width, p.Height)
			}
			bar, inside := lumaAt(p, tc.barX, tc.barY, 8), lumaAt(p, tc.insideX, tc.insideY, 8)
			if !near(inside, limited200) {
				t.Errorf("picture luma %d, want about %d", inside, limited200)
			}
			if tc.scale == codec.ScaleFit && !near(bar, 0) {
				t.Errorf("bar luma %d, want black (0)", bar)
			}
			if tc.scale == codec.ScaleStretch && !near(bar, limited200) {
				t.Errorf("edge luma %d, want the picture (%d): stretch pads nothing", bar, limited200)
			}
			if tc.scale == codec.ScaleFit {
				// The bars are symmetric: check the opposite side too.
				if b2 := lumaAt(p, tc.outW-tc.barX-8, tc.outH-tc.barY-8, 8); !near(b2, 0) {
					t.Errorf("opposite bar luma %d", b2)
				}
			}
		})
	}
}

// JPEG cameras are encoded in full range, signalled in the SPS, as ffmpeg
// does with MJPEG into libx264: the picture is copied, not converted, and
// keeps every level.
func TestJPEGStaysFullRange(t *testing.T) {
	for _, c := range []struct{ in, want int }{{0, 0}, {255, 255}, {128, 128}} {
		p := transcodeFlat(t, video(320, 240, 25), flatJPEG(t, 320, 240, byte(c.in)))
		if got := lumaAt(p, 160, 120, 8); got < c.want-3 || got > c.want+3 {
			t.Errorf("full-range luma %d came out as %d, want %d", c.in, got, c.want)
		}
	}
	tc, s := newTranscoder(t, video(320, 240, 25))
	tc.WriteFrame(&codec.Frame{Codec: "JPEG", JPEG: flatJPEG(t, 320, 240, 100)})
	var sps h264.SPS
	for _, au := range depacketize(t, s.packets(0)) {
		for _, n := range au.nalus {
			if n[0]&0x1f == 7 {
				if err := sps.Unmarshal(n); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if sps.VUI == nil || !sps.VUI.VideoFullRangeFlag {
		t.Fatalf("the SPS does not say full range: %+v", sps.VUI)
	}
}

func TestCorruptJPEG(t *testing.T) {
	tc, s := newTranscoder(t, video(320, 240, 25))
	good := testJPEG(t, 320, 240, 1)
	truncated := good[:len(good)/2]
	garbage := bytes.Repeat([]byte{0x12, 0x34, 0x56}, 500)
	badHeader := bytes.Clone(good)
	// Damage the quantisation and Huffman tables and the frame header but
	// keep SOI and EOI: this one gets past the framing check.
	for i := 2; i < 600 && i < len(badHeader)-2; i++ {
		badHeader[i] = 0xff
	}
	inputs := [][]byte{good, good, truncated, good, garbage, good, badHeader, good, nil, good, good}
	for i, in := range inputs {
		tc.WriteFrame(&codec.Frame{Codec: "JPEG", JPEG: in, PTS: time.Duration(i) * 40 * ms})
	}
	st := tc.Stats()
	if st.DecodeErrors != 4 {
		t.Errorf("%d decode errors, want 4 (truncated, garbage, bad header, empty)", st.DecodeErrors)
	}
	aus := depacketize(t, s.packets(0))
	// The damaged frames' slots repeat the previous picture: the output
	// keeps its rate.
	if len(aus) != len(inputs) {
		t.Errorf("%d output frames for %d input slots", len(aus), len(inputs))
	}
	checkTimeline(t, aus, 25)
	decodeAll(t, "H264", aus)
	if st.Repeated != 4 {
		t.Errorf("%d repeated, want 4", st.Repeated)
	}
}

func TestClipInputs(t *testing.T) {
	for _, c := range []struct {
		codec, path string
		outW, outH  int
	}{
		{"H265", "../../testdata/clips/h265_640x360_25.h265", 480, 270},
		{"H264", "../../testdata/clips/h264_320x240_25.h264", 640, 480},
	} {
		t.Run(c.codec, func(t *testing.T) {
			clip := readClip(t, c.path, c.codec)
			tc, s := newTranscoder(t, video(c.outW, c.outH, 25),
				codec.Track{Kind: codec.KindVideo, Codec: c.codec, ClockRate: 90000, PayloadType: 96})
			for i, nalus := range clip {
				tc.WriteFrame(&codec.Frame{Codec: c.codec, NALUs: nalus, PTS: time.Duration(i) * 40 * ms, Received: codec.Now()})
			}
			st := tc.Stats()
			aus := depacketize(t, s.packets(0))
			if len(aus) != len(clip) || st.DecodeErrors != 0 || st.FramesDecoded != uint64(len(clip)) {
				t.Fatalf("%d access units in, %d out; stats %+v", len(clip), len(aus), st)
			}
			checkTimeline(t, aus, 25)
			for i, p := range decodeAll(t, "H264", aus) {
				if p.Width != c.outW || p.Height != c.outH {
					t.Fatalf("picture %d is %dx%d, want %dx%d", i, p.Width, p.Height, c.outW, c.outH)
				}
			}
		})
	}
}

func TestKeepInputSize(t *testing.T) {
	// 0x0 keeps the input size, rounded down to even.
	tc, s := newTranscoder(t, video(0, 0, 10))
	if tr := s.lastTracks()[0]; tr.FMTP["sprop-parameter-sets"] != "" || tr.FMTP["packetization-mode"] != "1" {
		t.Errorf("track before the first picture: %+v", tr)
	}
	for i := range 3 {
		tc.WriteFrame(&codec.Frame{Codec: "JPEG", JPEG: testJPEG(t, 321, 241, i), PTS: time.Duration(i) * 100 * ms})
	}
	pics := decodeAll(t, "H264", depacketize(t, s.packets(0)))
	if len(pics) != 3 || pics[0].Width != 320 || pics[0].Height != 240 {
		t.Fatalf("%d pictures, first %dx%d", len(pics), pics[0].Width, pics[0].Height)
	}
	// The next session announces the parameter sets.
	if err := tc.Begin([]codec.Track{jpegTrack}); err != nil {
		t.Fatal(err)
	}
	if tr := s.lastTracks()[0]; tr.FMTP["sprop-parameter-sets"] == "" {
		t.Errorf("track after the encoder opened: %+v", tr)
	}
}

func TestResolutionChange(t *testing.T) {
	tc, s := newTranscoder(t, video(640, 360, 25))
	n := 0
	for _, size := range [][2]int{{640, 480}, {800, 600}, {640, 480}} {
		for range 10 {
			tc.WriteFrame(&codec.Frame{Codec: "JPEG", JPEG: testJPEG(t, size[0], size[1], n), PTS: time.Duration(n) * 40 * ms})
			n++
		}
	}
	st := tc.Stats()
	aus := depacketize(t, s.packets(0))
	if len(aus) != n || st.Reinits != 2 || st.DecodeErrors != 0 {
		t.Fatalf("%d frames in, %d out, stats %+v", n, len(aus), st)
	}
	checkTimeline(t, aus, 25)
	for i, p := range decodeAll(t, "H264", aus) {
		if p.Width != 640 || p.Height != 360 {
			t.Fatalf("picture %d is %dx%d", i, p.Width, p.Height)
		}
	}
	if st.InWidth != 640 || st.InHeight != 480 {
		t.Errorf("input size %dx%d", st.InWidth, st.InHeight)
	}
}

// sliceType reads slice_type from an H.264 slice NAL unit: 0/5 P, 1/6 B,
// 2/7 I.
func sliceType(nal []byte) int {
	var rbsp []byte
	for i := 1; i < len(nal) && len(rbsp) < 16; i++ {
		if i >= 3 && nal[i] == 3 && nal[i-1] == 0 && nal[i-2] == 0 {
			continue
		}
		rbsp = append(rbsp, nal[i])
	}
	pos := 0
	ue := func() int {
		zeros := 0
		for readBits(rbsp, pos, 1) == 0 {
			zeros++
			pos++
		}
		pos++
		v := (1 << zeros) - 1 + readBits(rbsp, pos, zeros)
		pos += zeros
		return v
	}
	ue() // first_mb_in_slice
	return ue() % 5
}

func TestGOPAndParameterSets(t *testing.T) {
	cfg := video(320, 240, 25)
	cfg.Video.GOP = 10
	// ultrafast uses no CABAC, and x264 then signals baseline whatever the
	// profile limit; superfast's CABAC makes main show.
	cfg.Video.Profile = "main"
	cfg.Video.Preset = "superfast"
	tc, s := newTranscoder(t, cfg)
	for i := range 35 {
		tc.WriteFrame(&codec.Frame{Codec: "JPEG", JPEG: testJPEG(t, 320, 240, i), PTS: time.Duration(i) * 40 * ms})
	}
	tr := s.lastTracks()[0]
	if tr.Codec != "H264" || tr.ClockRate != 90000 || tr.PayloadType != 96 || tr.RTPMap != "H264/90000" ||
		tr.FMTP["packetization-mode"] != "1" || !strings.HasPrefix(tr.FMTP["profile-level-id"], "4d") ||
		!strings.Contains(tr.FMTP["sprop-parameter-sets"], ",") {
		t.Errorf("output track %+v", tr)
	}
	sps, _ := base64.StdEncoding.DecodeString(strings.Split(tr.FMTP["sprop-parameter-sets"], ",")[0])
	if len(sps) < 4 || hex.EncodeToString(sps[1:4]) != tr.FMTP["profile-level-id"] {
		t.Errorf("profile-level-id %s, SPS %x", tr.FMTP["profile-level-id"], sps)
	}
	aus := depacketize(t, s.packets(0))
	if len(aus) != 35 {
		t.Fatalf("%d access units", len(aus))
	}
	for i, a := range aus {
		var types []int
		idr := false
		for _, n := range a.nalus {
			typ := int(n[0] & 0x1f)
			types = append(types, typ)
			if typ == 1 || typ == 5 {
				if st := sliceType(n); st == 1 {
					t.Fatalf("access unit %d has a B slice", i)
				}
			}
			if typ == 5 {
				idr = true
			}
		}
		if idr != (i%10 == 0) {
			t.Fatalf("access unit %d: IDR %v, want an IDR exactly every 10 frames (NAL types %v)", i, idr, types)
		}
		if a.sync != idr {
			t.Fatalf("access unit %d: FlagSync %v, IDR %v", i, a.sync, idr)
		}
		if idr {
			// SPS and PPS come before the IDR slice.
			sps, pps := -1, -1
			for j, typ := range types {
				switch typ {
				case 7:
					sps = j
				case 8:
					pps = j
				case 5:
					if sps < 0 || pps < 0 || sps > j || pps > j {
						t.Fatalf("access unit %d: NAL types %v, want SPS and PPS before the IDR", i, types)
					}
				}
			}
		}
	}
}

func TestBitrateCapped(t *testing.T) {
	// A busy 720p clip into 300 kbit/s: the encoder must hold the rate.
	const bitrate = 300_000
	clip := readClip(t, "../../testdata/clips/h264_1280x720_25.h264", "H264")
	cfg := video(640, 360, 25)
	cfg.Video.Bitrate = bitrate
	tc, s := newTranscoder(t, cfg, codec.Track{Kind: codec.KindVideo, Codec: "H264", ClockRate: 90000})
	for i, nalus := range clip {
		tc.WriteFrame(&codec.Frame{Codec: "H264", NALUs: nalus, PTS: time.Duration(i) * 40 * ms})
	}
	total := 0
	for _, p := range s.packets(0) {
		total += len(p.Payload)
	}
	secs := float64(len(clip)) / 25
	rate := float64(total*8) / secs
	t.Logf("%d frames, %.0f bit/s for %d configured", len(clip), rate, bitrate)
	if rate > bitrate*1.25 || rate < bitrate*0.3 {
		t.Errorf("output %.0f bit/s, configured %d", rate, bitrate)
	}
}

func TestReconnectKeepsTimeline(t *testing.T) {
	tc, s := newTranscoder(t, video(320, 240, 25))
	jpg := testJPEG(t, 320, 240, 0)
	for i := range 10 {
		tc.WriteFrame(&codec.Frame{Codec: "JPEG", JPEG: jpg, PTS: 5*time.Hour + time.Duration(i)*40*ms, Received: codec.Now()})
	}
	// The camera comes back with H.264 and a timeline that starts over.
	if err := tc.Begin([]codec.Track{{Kind: codec.KindVideo, Codec: "H264", ClockRate: 90000}}); err != nil {
		t.Fatal(err)
	}
	clip := readClip(t, "../../testdata/clips/h264_320x240_25.h264", "H264")
	for i, nalus := range clip[:10] {
		tc.WriteFrame(&codec.Frame{Codec: "H264", NALUs: nalus, PTS: time.Duration(i) * 40 * ms, Received: codec.Now()})
	}
	if n := len(s.tracks); n != 2 || !codec.SameTracks(s.tracks[0], s.tracks[1]) {
		t.Errorf("tracks announced %d times: %+v", n, s.tracks)
	}
	aus := depacketize(t, s.packets(0))
	if len(aus) != 20 {
		t.Fatalf("%d access units", len(aus))
	}
	for i := 1; i < len(aus); i++ {
		if d := int32(aus[i].ts - aus[i-1].ts); d <= 0 {
			t.Fatalf("access unit %d: timestamp went from %d to %d", i, aus[i-1].ts, aus[i].ts)
		}
	}
	decodeAll(t, "H264", aus)
	if err := tc.Begin([]codec.Track{{Kind: codec.KindVideo, Codec: "VP8", ClockRate: 90000}}); err == nil || !strings.Contains(err.Error(), "VP8") {
		t.Errorf("Begin with VP8: %v", err)
	}
	if err := tc.Begin([]codec.Track{{Kind: codec.KindAudio, Codec: "PCMU", ClockRate: 8000}}); err == nil {
		t.Error("Begin without video succeeded")
	}
}

func TestSnapshot(t *testing.T) {
	tc, _ := newTranscoder(t, video(640, 360, 25))
	if _, err := tc.Snapshot(); !errors.Is(err, codec.ErrNoPicture) {
		t.Fatalf("Snapshot before a picture: %v", err)
	}
	tc.WriteFrame(&codec.Frame{Codec: "JPEG", JPEG: flatJPEG(t, 640, 360, 200)})
	b, err := tc.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("snapshot is not a JPEG: %v", err)
	}
	if r := img.Bounds(); r.Dx() != 640 || r.Dy() != 360 {
		t.Fatalf("snapshot %v", r)
	}
	// Back to full range: the picture's 200 is 200 again.
	if y, _, _, _ := img.At(320, 180).RGBA(); y>>8 < 195 || y>>8 > 205 {
		t.Errorf("snapshot value %d, want about 200", y>>8)
	}
	tc.Close()
	if _, err := tc.Snapshot(); err == nil {
		t.Error("Snapshot after Close succeeded")
	}
	tc.WriteFrame(&codec.Frame{Codec: "JPEG", JPEG: flatJPEG(t, 640, 360, 200)}) // ignored, no crash
	tc.Close()
}

func TestConcurrentSnapshotAndStats(t *testing.T) {
	tc, s := newTranscoder(t, video(320, 240, 25))
	jpgs := [][]byte{testJPEG(t, 320, 240, 0), testJPEG(t, 320, 240, 5)}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			tc.Stats()
			if b, err := tc.Snapshot(); err == nil {
				if _, err := jpeg.DecodeConfig(bytes.NewReader(b)); err != nil {
					t.Errorf("snapshot: %v", err)
					return
				}
			}
		}
	}()
	for i := range 50 {
		tc.WriteFrame(&codec.Frame{Codec: "JPEG", JPEG: jpgs[i%2], PTS: time.Duration(i) * 40 * ms})
	}
	close(done)
	wg.Wait()
	decodeAll(t, "H264", depacketize(t, s.packets(0)))
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []codec.TranscodeConfig{
		{Video: codec.VideoConfig{FPS: -1}},
		{Video: codec.VideoConfig{Preset: "warp"}},
		{Video: codec.VideoConfig{Profile: "high10"}},
		{Video: codec.VideoConfig{Scale: "crop"}},
		{Audio: "mp3"},
	} {
		if _, err := New(cfg, &sink{}, nil); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func TestPacketLayout(t *testing.T) {
	// avPacket reads go-astiav's Packet internals; check it sees what
	// go-astiav's own accessors see.
	d, err := newVideoDecoder("JPEG", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	if err := fillPacket(d.pkt, []byte{1, 2, 3, 4, 5}); err != nil {
		t.Fatal(err)
	}
	defer d.pkt.Unref()
	if d.pkt.Size() != 5 || !bytes.Equal(packetBytes(d.pkt), d.pkt.Data()) {
		t.Fatalf("packet layout: size %d, bytes %x vs %x", d.pkt.Size(), packetBytes(d.pkt), d.pkt.Data())
	}
}

package camsim

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph265"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpmjpeg"
	"github.com/pion/rtp"

	"github.com/camrelay/camrelay/codec"
)

const clip265 = "../../testdata/clips/h265_640x360_25.h265"

// played is what one gortsplib client got from a camera.
type played struct {
	pkts  []rtp.Packet
	desc  *description.Session
	start time.Time
	err   error
}

// playAll plays every (path, transport) at once for d: the tests are
// sleep-bound, and t.Parallel would run only GOMAXPROCS of them at a time.
func playAll(t *testing.T, s *Server, paths []string, trs []gortsplib.Transport, d time.Duration) map[string]*played {
	t.Helper()
	out := map[string]*played{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, path := range paths {
		for _, tr := range trs {
			wg.Go(func() {
				p := &played{start: time.Now()}
				c, r, desc, err := gortsplibPlay(t, s.URL(path), tr)
				if err == nil {
					time.Sleep(d)
					c.Close()
					p.pkts, _ = r.snapshot()
					p.desc = desc
				}
				p.err = err
				mu.Lock()
				out[path+"/"+tr.String()] = p
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	return out
}

func TestLoadClipH265(t *testing.T) {
	t.Parallel()
	c, err := LoadClip(clip265, 0)
	if err != nil {
		t.Fatal(err)
	}
	if c.Codec != "H265" || c.Width != 640 || c.Height != 360 || c.Frames() != 50 {
		t.Fatalf("%s %dx%d, %d frames; want H265 640x360, 50 frames", c.Codec, c.Width, c.Height, c.Frames())
	}
	for i, au := range c.frames {
		vcl, irap, params := 0, false, 0
		for _, n := range au {
			switch typ := (n[0] >> 1) & 0x3f; {
			case typ < 32:
				vcl++
				irap = irap || (typ >= 16 && typ <= 23)
			case typ >= 32 && typ <= 34:
				params++
			}
		}
		if vcl != 1 {
			t.Errorf("frame %d: %d slices", i, vcl)
		}
		if irap != (i%25 == 0) || (irap && params != 3) {
			t.Errorf("frame %d: IRAP %v with %d parameter sets", i, irap, params)
		}
	}
	if _, err := LoadClipCodec(clip320, "H265", 25); err == nil {
		t.Error("an H.264 clip loaded as H.265")
	}
	if _, err := LoadClipCodec(clip265, "VP8", 25); err == nil {
		t.Error("codec VP8 accepted")
	}
}

// TestH265 plays H.265 cameras with gortsplib's client and depacketizes
// with its RFC 7798 decoder: whole access units, a stamp before every
// picture, parameter sets in the SDP (or only in band), FU for big NAL
// units, packets within 1472 bytes.
func TestH265(t *testing.T) {
	t.Parallel()
	s, _ := startServer(t,
		CameraConfig{Path: "h265", Codec: "H265", Clip: clip265},
		CameraConfig{Path: "inband", Codec: "H265", Clip: clip265, InBandOnly: true, MarkerOnParams: true},
	)
	trs := []gortsplib.Transport{gortsplib.TransportTCP, gortsplib.TransportUDP}
	res := playAll(t, s, []string{"h265", "inband"}, trs, 1200*time.Millisecond) // a GOP is 1 s
	for _, path := range []string{"h265", "inband"} {
		for _, tr := range trs {
			t.Run(path+"/"+tr.String(), func(t *testing.T) {
				p := res[path+"/"+tr.String()]
				if p.err != nil {
					t.Fatal(p.err)
				}
				pkts, desc := p.pkts, p.desc

				f, ok := desc.Medias[0].Formats[0].(*format.H265)
				if !ok {
					t.Fatalf("format %T", desc.Medias[0].Formats[0])
				}
				if inSDP := f.VPS != nil && f.SPS != nil && f.PPS != nil; inSDP != (path == "h265") {
					t.Errorf("parameter sets in the SDP: %v", inSDP)
				}
				dec := &rtph265.Decoder{}
				if err := dec.Init(); err != nil {
					t.Fatal(err)
				}
				var stamps []uint64
				aus, keyframes, fu, paramMarkers := 0, 0, 0, 0
				key := false
				for i := range pkts {
					p := &pkts[i]
					if len(p.Payload)+12 > 1472 {
						t.Fatalf("%d-byte packet", len(p.Payload)+12)
					}
					typ := (p.Payload[0] >> 1) & 0x3f
					if typ == 49 {
						fu++
					}
					param := typ >= 32 && typ <= 34
					if p.Marker && param {
						paramMarkers++
					}
					au, err := dec.Decode(p)
					if errors.Is(err, rtph265.ErrMorePacketsNeeded) || errors.Is(err, rtph265.ErrNonStartingPacketAndNoPrevious) {
						continue
					}
					if err != nil {
						t.Fatalf("decode: %v", err)
					}
					for _, n := range au {
						key = key || (n[0]>>1)&0x3f == 32
					}
					if p.Marker && param {
						// The quirk: a marker that does not end the access
						// unit, which a decoder ends early; the picture
						// follows.
						continue
					}
					aus++
					hasStamp := false
					for _, n := range au {
						if st, ok := codec.ParseStampSEI(n, true); ok {
							stamps = append(stamps, st.Frame)
							hasStamp = true
						}
					}
					if !hasStamp {
						t.Errorf("access unit %d without a stamp", aus)
					}
					if key {
						keyframes++
					}
					key = false
				}
				if aus < 25 || keyframes < 1 || fu == 0 {
					t.Errorf("%d access units, %d with a VPS, %d FU packets", aus, keyframes, fu)
				}
				if (paramMarkers > 0) != (path == "inband") {
					t.Errorf("%d parameter sets with the marker bit", paramMarkers)
				}
				for i := 1; i < len(stamps); i++ {
					if stamps[i] <= stamps[i-1] {
						t.Fatalf("stamps not increasing: %d after %d", stamps[i], stamps[i-1])
					}
				}
			})
		}
	}
}

// jpegFromRTP reassembles RTP/JPEG frames with gortsplib's RFC 2435
// decoder, an independent implementation, and decodes them with
// image/jpeg.
func jpegFromRTP(t *testing.T, pkts []rtp.Packet, lossy bool) []*image.YCbCr {
	t.Helper()
	dec := &rtpmjpeg.Decoder{}
	if err := dec.Init(); err != nil {
		t.Fatal(err)
	}
	var out []*image.YCbCr
	for i := range pkts {
		b, err := dec.Decode(&pkts[i])
		if errors.Is(err, rtpmjpeg.ErrMorePacketsNeeded) || errors.Is(err, rtpmjpeg.ErrNonStartingPacketAndNoPrevious) {
			continue
		}
		if err != nil {
			if lossy {
				continue // a frame that lost a packet
			}
			t.Fatalf("rtpmjpeg: %v", err)
		}
		img, err := jpeg.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("image/jpeg: %v", err)
		}
		out = append(out, img.(*image.YCbCr))
	}
	return out
}

func TestJPEGOverRTSP(t *testing.T) {
	t.Parallel()
	type tc struct {
		path  string
		w, h  int
		ratio image.YCbCrSubsampleRatio
		fps   int
	}
	cases := []tc{
		{"jpeg", 640, 480, image.YCbCrSubsampleRatio420, 25},
		{"422", 320, 240, image.YCbCrSubsampleRatio422, 25},
	}
	cfgs := []CameraConfig{
		{Path: "jpeg", Codec: "JPEG"},
		{Path: "422", Codec: "JPEG", Chroma422: true, Width: 320, Height: 240},
	}
	if !testing.Short() {
		// Too slow to encode under the race detector.
		cases = append(cases, tc{"720p", 1280, 720, image.YCbCrSubsampleRatio420, 10})
		cfgs = append(cfgs, CameraConfig{Path: "720p", Codec: "JPEG", Width: 1280, Height: 720, FPS: 10})
	}
	s, _ := startServer(t, cfgs...)
	var paths []string
	for _, c := range cases {
		paths = append(paths, c.path)
	}
	trs := []gortsplib.Transport{gortsplib.TransportTCP, gortsplib.TransportUDP}
	res := playAll(t, s, paths, trs, time.Second)
	for _, c := range cases {
		for _, tr := range trs {
			if c.w > 640 && tr == gortsplib.TransportUDP {
				continue // 100-packet bursts overflow loopback socket buffers on a busy machine
			}
			t.Run(c.path+"/"+tr.String(), func(t *testing.T) {
				p := res[c.path+"/"+tr.String()]
				if p.err != nil {
					t.Fatal(p.err)
				}
				start, desc, pkts := p.start, p.desc, p.pkts
				if _, ok := desc.Medias[0].Formats[0].(*format.MJPEG); !ok {
					t.Fatalf("format %T", desc.Medias[0].Formats[0])
				}
				typ := byte(1)
				if c.ratio == image.YCbCrSubsampleRatio422 {
					typ = 0
				}
				for _, p := range pkts {
					if p.PayloadType != 26 || len(p.Payload)+12 > 1472 || p.Payload[4] != typ || p.Payload[5] != 255 {
						t.Fatalf("packet: PT %d, %d bytes, type %d, Q %d", p.PayloadType, len(p.Payload)+12, p.Payload[4], p.Payload[5])
					}
				}
				// Loopback UDP drops packets of bursty frames when the
				// machine is busy; a frame that lost one is gone.
				udp := tr == gortsplib.TransportUDP
				imgs := jpegFromRTP(t, pkts, udp)
				minFrames := c.fps * 8 / 10
				if udp {
					minFrames = c.fps / 4
				}
				if n := len(imgs); n < minFrames || n > c.fps*12/10 {
					t.Errorf("%d frames in 1 s at %d fps", n, c.fps)
				}
				for i, img := range imgs {
					if img.Rect.Dx() != c.w || img.Rect.Dy() != c.h || img.SubsampleRatio != c.ratio {
						t.Fatalf("frame %d: %v %v", i, img.Rect, img.SubsampleRatio)
					}
					ms, ok := codec.ReadBarcode(img.Y, img.YStride, c.w, c.h)
					if !ok || ms < start.Add(-time.Second).UnixMilli() || ms > time.Now().UnixMilli() {
						t.Fatalf("frame %d: barcode %d, %v", i, ms, ok)
					}
				}
			})
		}
	}
	if _, err := s.AddCamera(CameraConfig{Path: "odd", Codec: "JPEG", Width: 100, Height: 100}); err == nil || !strings.Contains(err.Error(), "multiples of 8") {
		t.Errorf("100x100 JPEG camera: %v", err)
	}
}

// TestJPEGSendFrameAllocs: the RTP/JPEG path allocates nothing per frame
// either, barcode and splice included.
func TestJPEGSendFrameAllocs(t *testing.T) {
	r := newFrameRigConfig(t, CameraConfig{Path: "cam", Codec: "JPEG", Width: 320, Height: 240}, 1, true)
	defer r.stop()
	for range 30 {
		r.frame()
	}
	if a := testing.AllocsPerRun(30, r.frame); a != 0 {
		t.Errorf("%.1f allocations per frame", a)
	}
}

func BenchmarkSendFrameCodecs(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  CameraConfig
	}{
		{"H265/640x360", CameraConfig{Path: "cam", Codec: "H265", Clip: clip265}},
		{"JPEG/640x480", CameraConfig{Path: "cam", Codec: "JPEG"}},
		{"JPEG/1280x720", CameraConfig{Path: "cam", Codec: "JPEG", Width: 1280, Height: 720}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := newFrameRigConfig(b, bc.cfg, 1, true)
			defer r.stop()
			b.ReportAllocs()
			for b.Loop() {
				r.frame()
			}
		})
	}
}

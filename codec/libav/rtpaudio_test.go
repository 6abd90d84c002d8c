package libav

import (
	"bytes"
	"testing"

	"github.com/camrelay/camrelay/codec"
)

func TestAACRoundTrip(t *testing.T) {
	p, err := parseAACParams(aacFMTP([]byte{0x11, 0x88}))
	if err != nil {
		t.Fatal(err)
	}
	if p.sizeLength != 13 || p.indexLength != 3 || !bytes.Equal(p.config, []byte{0x11, 0x88}) {
		t.Fatalf("params %+v", p)
	}
	d := &aacDepacketizer{p: p}
	for _, size := range []int{1, 300, 1396, 1397, 4000} {
		au := make([]byte, size)
		for i := range au {
			au[i] = byte(i * 7)
		}
		var got [][]byte
		var buf []byte
		for off := 0; off < len(au); {
			var payload []byte
			payload, off = aacFragment(buf, au, off, 1400)
			if len(payload) > 1400 {
				t.Fatalf("AU %d: payload %d bytes", size, len(payload))
			}
			aus, err := d.unpack(payload, off == len(au))
			if err != nil {
				t.Fatalf("AU %d: %v", size, err)
			}
			for _, a := range aus {
				got = append(got, bytes.Clone(a))
			}
		}
		if len(got) != 1 || !bytes.Equal(got[0], au) {
			t.Fatalf("AU of %d bytes: got %d AUs back", size, len(got))
		}
	}
}

func TestAACDepacketizerSeveralAUs(t *testing.T) {
	// Two AUs in one packet, as cameras send them: headers 13+3 bits each.
	payload := []byte{0x00, 0x20, 0x00, 0x18, 0x00, 0x10, 1, 2, 3, 4, 5}
	d := &aacDepacketizer{p: aacParams{sizeLength: 13, indexLength: 3, indexDeltaLength: 3}}
	aus, err := d.unpack(payload, true)
	if err != nil || len(aus) != 2 || !bytes.Equal(aus[0], []byte{1, 2, 3}) || !bytes.Equal(aus[1], []byte{4, 5}) {
		t.Fatalf("aus %x err %v", aus, err)
	}
	for _, bad := range [][]byte{{0}, {0x00, 0x20, 0x00}, {0x00, 0x10, 0x00, 0x50, 1}, {0x00, 0x20, 0x00, 0x18, 0x00, 0x10, 1, 2, 3, 4}} {
		if _, err := d.unpack(bad, true); err == nil {
			t.Errorf("%x: no error", bad)
		}
	}
}

func TestParseAACParams(t *testing.T) {
	p, err := parseAACParams(map[string]string{"sizeLength": "13", "indexLength": "3", "indexDeltaLength": "3", "config": "1190", "mode": "AAC-hbr"})
	if err != nil || p.sizeLength != 13 || !bytes.Equal(p.config, []byte{0x11, 0x90}) {
		t.Fatalf("%+v %v", p, err)
	}
	for _, bad := range []map[string]string{
		{},
		{"config": "zz"},
		{"config": "1190", "sizelength": "x"},
		{"config": "1190", "sizelength": "0"},
	} {
		if _, err := parseAACParams(bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func TestTSUnwrap(t *testing.T) {
	var u tsUnwrap
	for _, c := range []struct {
		in   uint32
		want int64
	}{{4294967000, 0}, {4294967160, 160}, {24, 320}, {184, 480}, {100, 396}} {
		if got := u.next(c.in); got != c.want {
			t.Errorf("next(%d) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestNormalize(t *testing.T) {
	cfg, err := normalize(codec.TranscodeConfig{})
	v := cfg.Video
	if err != nil || v.FPS != 25 || v.Bitrate != codec.DefaultBitrate || v.GOP != 50 || v.Preset != "ultrafast" || v.Profile != "baseline" || v.Scale != "fit" || cfg.Audio != codec.AudioCopy {
		t.Fatalf("defaults %+v %v", cfg, err)
	}
	for _, bad := range []codec.TranscodeConfig{
		{Video: codec.VideoConfig{Width: -1}},
		{Video: codec.VideoConfig{Width: 10000}},
		{Video: codec.VideoConfig{FPS: 500}},
		{Video: codec.VideoConfig{Bitrate: -5}},
		{Video: codec.VideoConfig{GOP: -1}},
		{Video: codec.VideoConfig{Preset: "fastest"}},
		{Video: codec.VideoConfig{Profile: "high"}},
		{Video: codec.VideoConfig{Scale: "zoom"}},
		{Audio: "flac"},
	} {
		if _, err := normalize(bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

func TestOutputSizeAndPlacement(t *testing.T) {
	for _, c := range []struct{ cw, ch, iw, ih, w, h int }{
		{1280, 720, 640, 480, 1280, 720},
		{0, 0, 641, 481, 640, 480},
		{0, 0, 0, 0, 0, 0},
		{640, 0, 1920, 1080, 640, 360},
		{0, 360, 1920, 1080, 640, 360},
		{1279, 719, 640, 480, 1278, 718},
	} {
		if w, h := outputSize(c.cw, c.ch, c.iw, c.ih); w != c.w || h != c.h {
			t.Errorf("outputSize(%d, %d, %d, %d) = %dx%d, want %dx%d", c.cw, c.ch, c.iw, c.ih, w, h, c.w, c.h)
		}
	}
	for _, c := range []struct {
		scale          string
		iw, ih, ow, oh int
		x, y, w, h     int
	}{
		{codec.ScaleFit, 640, 480, 1280, 720, 160, 0, 960, 720},
		{codec.ScaleFit, 1280, 720, 640, 480, 0, 60, 640, 360},
		{codec.ScaleFit, 1920, 1080, 1280, 720, 0, 0, 1280, 720},
		{codec.ScaleFit, 1000, 1000, 640, 360, 140, 0, 360, 360},
		{codec.ScaleFit, 5, 1000, 640, 360, 318, 0, 2, 360}, // a sliver is still a picture
		{codec.ScaleStretch, 640, 480, 1280, 720, 0, 0, 1280, 720},
	} {
		x, y, w, h := placement(c.scale, c.iw, c.ih, c.ow, c.oh)
		if x != c.x || y != c.y || w != c.w || h != c.h {
			t.Errorf("placement(%s, %dx%d in %dx%d) = %d,%d %dx%d, want %d,%d %dx%d", c.scale, c.iw, c.ih, c.ow, c.oh, x, y, w, h, c.x, c.y, c.w, c.h)
		}
		if x%2 != 0 || y%2 != 0 || w%2 != 0 || h%2 != 0 {
			t.Errorf("odd placement %d,%d %dx%d", x, y, w, h)
		}
	}
}

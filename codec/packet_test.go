package codec

import "testing"

func TestParseRTPMap(t *testing.T) {
	for _, tc := range []struct {
		in       string
		codec    string
		rate, ch int
	}{
		{"H264/90000", "H264", 90000, 0},
		{"h265/90000", "H265", 90000, 0},
		{"JPEG/90000", "JPEG", 90000, 0},
		{"PCMU/8000", "PCMU", 8000, 0},
		{"mpeg4-generic/48000/2", "MPEG4-GENERIC", 48000, 2},
		{"opus/48000/2", "OPUS", 48000, 2},
		{" L16 / 44100 / 1 ", "L16", 44100, 1},
		{"H264", "H264", 0, 0},
		{"H264/", "H264", 0, 0},
		{"H264/abc", "H264", 0, 0},
		{"PCMA/8000/x", "PCMA", 8000, 0},
		{"G726-32/8000/1/extra", "G726-32", 8000, 1},
		{"", "", 0, 0},
		{"/", "", 0, 0},
		{"//", "", 0, 0},
	} {
		codec, rate, ch := ParseRTPMap(tc.in)
		if codec != tc.codec || rate != tc.rate || ch != tc.ch {
			t.Errorf("ParseRTPMap(%q) = %q, %d, %d; want %q, %d, %d", tc.in, codec, rate, ch, tc.codec, tc.rate, tc.ch)
		}
	}
}

var (
	h264Track = Track{Kind: KindVideo, Codec: "H264", ClockRate: 90000, PayloadType: 96, RTPMap: "H264/90000",
		FMTP: map[string]string{"packetization-mode": "1", "sprop-parameter-sets": "Z0LAHtk=,aM48gA=="}}
	aacTrack = Track{Kind: KindAudio, Codec: "MPEG4-GENERIC", ClockRate: 48000, Channels: 2, PayloadType: 97,
		RTPMap: "MPEG4-GENERIC/48000/2"}
)

func TestTrackSameStream(t *testing.T) {
	with := func(base Track, f func(*Track)) Track { f(&base); return base }
	for _, tc := range []struct {
		name string
		a, b Track
		want bool
	}{
		{"identical", h264Track, h264Track, true},
		{"other payload type", h264Track, with(h264Track, func(t *Track) { t.PayloadType = 98 }), true},
		{"other parameter sets", h264Track, with(h264Track, func(t *Track) { t.FMTP = map[string]string{"packetization-mode": "1"} }), true},
		{"no fmtp", h264Track, with(h264Track, func(t *Track) { t.FMTP = nil }), true},
		{"other rtpmap spelling", h264Track, with(h264Track, func(t *Track) { t.RTPMap = "h264/90000" }), true},
		{"other codec", h264Track, with(h264Track, func(t *Track) { t.Codec = "H265" }), false},
		{"other clock rate", h264Track, with(h264Track, func(t *Track) { t.ClockRate = 1000 }), false},
		{"other kind", h264Track, with(h264Track, func(t *Track) { t.Kind = KindApplication }), false},
		{"other channels", aacTrack, with(aacTrack, func(t *Track) { t.Channels = 1 }), false},
		{"channels unknown vs 2", aacTrack, with(aacTrack, func(t *Track) { t.Channels = 0 }), false},
		{"video vs audio", h264Track, aacTrack, false},
	} {
		if got := tc.a.SameStream(tc.b); got != tc.want {
			t.Errorf("%s: SameStream = %v, want %v", tc.name, got, tc.want)
		}
		if got := tc.b.SameStream(tc.a); got != tc.want {
			t.Errorf("%s: SameStream (swapped) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestSameTracks(t *testing.T) {
	h264PT := h264Track
	h264PT.PayloadType = 100
	for _, tc := range []struct {
		name string
		a, b []Track
		want bool
	}{
		{"both empty", nil, []Track{}, true},
		{"same", []Track{h264Track, aacTrack}, []Track{h264Track, aacTrack}, true},
		{"payload types differ", []Track{h264Track, aacTrack}, []Track{h264PT, aacTrack}, true},
		{"order differs", []Track{h264Track, aacTrack}, []Track{aacTrack, h264Track}, false},
		{"track added", []Track{h264Track}, []Track{h264Track, aacTrack}, false},
		{"track removed", []Track{h264Track, aacTrack}, []Track{h264Track}, false},
		{"empty vs one", nil, []Track{h264Track}, false},
	} {
		if got := SameTracks(tc.a, tc.b); got != tc.want {
			t.Errorf("%s: SameTracks = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestTrackString(t *testing.T) {
	for _, tc := range []struct {
		t    Track
		want string
	}{
		{h264Track, "video H264/90000"},
		{aacTrack, "audio MPEG4-GENERIC/48000/2"},
		{Track{Kind: KindAudio, Codec: "PCMU", ClockRate: 8000, Channels: 1}, "audio PCMU/8000"},
	} {
		if got := tc.t.String(); got != tc.want {
			t.Errorf("String = %q, want %q", got, tc.want)
		}
	}
}

func TestPacketMarker(t *testing.T) {
	for _, tc := range []struct {
		f    Flags
		want bool
	}{
		{0, false},
		{FlagSync, false},
		{FlagMarker, true},
		{FlagMarker | FlagSync, true},
	} {
		p := Packet{Flags: tc.f}
		if p.Marker() != tc.want {
			t.Errorf("Flags %b: Marker = %v", tc.f, p.Marker())
		}
	}
	if FlagMarker == FlagSync {
		t.Error("flags overlap")
	}
}

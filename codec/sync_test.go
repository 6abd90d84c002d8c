package codec

import (
	"bytes"
	"testing"
)

// Payloads used across the keyframe tests. H.264 NAL header: F|NRI|type;
// H.265: F|type(6)|layer(6)|tid(3).
var (
	h264SPS    = []byte{0x67, 0x42, 0xc0, 0x1e, 0xd9}
	h264PPS    = []byte{0x68, 0xce, 0x3c, 0x80}
	h264IDR    = []byte{0x65, 0x88, 0x84, 0x00}
	h264NonIDR = []byte{0x41, 0x9a, 0x02}
	h264SEI    = []byte{0x06, 0x05, 0x01, 0x00, 0x80}

	h265VPS   = []byte{0x40, 0x01, 0x0c, 0x01}
	h265SPS   = []byte{0x42, 0x01, 0x01, 0x01}
	h265PPS   = []byte{0x44, 0x01, 0xc1}
	h265IDR   = []byte{0x26, 0x01, 0xaf, 0x00} // IDR_W_RADL (19)
	h265Trail = []byte{0x02, 0x01, 0xd0}       // TRAIL_R (1)
)

// stapA aggregates NAL units into an RTP/H.264 STAP-A payload.
func stapA(nals ...[]byte) []byte {
	p := []byte{0x18 | 0x60}
	for _, n := range nals {
		p = append(p, byte(len(n)>>8), byte(len(n)))
		p = append(p, n...)
	}
	return p
}

// ap aggregates NAL units into an RTP/H.265 aggregation packet.
func ap(nals ...[]byte) []byte {
	p := []byte{48 << 1, 0x01}
	for _, n := range nals {
		p = append(p, byte(len(n)>>8), byte(len(n)))
		p = append(p, n...)
	}
	return p
}

// fuA is one RTP/H.264 FU-A fragment of nal's type with the given S/E bits.
func fuA(nal []byte, s, e bool, body ...byte) []byte {
	fuh := nal[0] & 0x1f
	if s {
		fuh |= 0x80
	}
	if e {
		fuh |= 0x40
	}
	return append([]byte{nal[0]&0xe0 | 28, fuh}, body...)
}

// fu265 is one RTP/H.265 FU fragment of nal's type.
func fu265(nal []byte, s, e bool, body ...byte) []byte {
	fuh := (nal[0] >> 1) & 0x3f
	if s {
		fuh |= 0x80
	}
	if e {
		fuh |= 0x40
	}
	return append([]byte{nal[0]&0x81 | 49<<1, nal[1], fuh}, body...)
}

func TestH264StartsKeyframe(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    []byte
		want bool
	}{
		{"nil", nil, false},
		{"empty", []byte{}, false},
		{"IDR", h264IDR, true},
		{"IDR header only", h264IDR[:1], true},
		{"SPS", h264SPS, true},
		{"PPS", h264PPS, false},
		{"non-IDR", h264NonIDR, false},
		{"SEI", h264SEI, false},
		{"STAP-A SPS PPS", stapA(h264SPS, h264PPS), true},
		{"STAP-A PPS IDR", stapA(h264PPS, h264IDR), true},
		{"STAP-A SEI non-IDR", stapA(h264SEI, h264NonIDR), false},
		{"STAP-A header only", []byte{0x78}, false},
		{"STAP-A size only", []byte{0x78, 0x00}, false},
		{"STAP-A truncated size", []byte{0x78, 0x00, 0x05, 0x67}, false},
		{"STAP-A zero size", []byte{0x78, 0x00, 0x00, 0x67}, false},
		{"STAP-A truncated after PPS", append(stapA(h264PPS), 0x00, 0x09, 0x65), false},
		{"FU-A IDR start", fuA(h264IDR, true, false, 1, 2, 3), true},
		{"FU-A IDR start no body", fuA(h264IDR, true, false), true},
		{"FU-A IDR start and end", fuA(h264IDR, true, true, 1), true},
		{"FU-A IDR middle", fuA(h264IDR, false, false, 1, 2, 3), false},
		{"FU-A IDR end", fuA(h264IDR, false, true, 1, 2, 3), false},
		{"FU-A non-IDR start", fuA(h264NonIDR, true, false, 1, 2, 3), false},
		{"FU-A truncated", []byte{0x7c}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := H264StartsKeyframe(tc.p); got != tc.want {
				t.Errorf("H264StartsKeyframe(% x) = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
}

func TestH265StartsKeyframe(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    []byte
		want bool
	}{
		{"nil", nil, false},
		{"empty", []byte{}, false},
		{"one byte", h265IDR[:1], false},
		{"VPS", h265VPS, true},
		{"SPS", h265SPS, true},
		{"PPS", h265PPS, false},
		{"IDR_W_RADL", h265IDR, true},
		{"BLA_W_LP", []byte{16 << 1, 0x01}, true},
		{"CRA", []byte{21 << 1, 0x01}, true},
		{"RSV_IRAP_23", []byte{23 << 1, 0x01}, true},
		{"RSV_VCL24", []byte{24 << 1, 0x01}, false},
		{"RASL_R", []byte{9 << 1, 0x01}, false},
		{"TRAIL_R", h265Trail, false},
		{"prefix SEI", []byte{39 << 1, 0x01, 0x05}, false},
		{"AP VPS SPS PPS", ap(h265VPS, h265SPS, h265PPS), true},
		{"AP PPS IDR", ap(h265PPS, h265IDR), true},
		{"AP PPS TRAIL", ap(h265PPS, h265Trail), false},
		{"AP header only", []byte{0x60, 0x01}, false},
		{"AP truncated size", []byte{0x60, 0x01, 0x00, 0x09, 0x40, 0x01}, false},
		{"AP size one", []byte{0x60, 0x01, 0x00, 0x01, 0x40, 0x01}, false},
		{"AP truncated after PPS", append(ap(h265PPS), 0x00, 0x09, 0x26), false},
		{"FU IDR start", fu265(h265IDR, true, false, 1, 2), true},
		{"FU IDR start and end", fu265(h265IDR, true, true, 1), true},
		{"FU IDR middle", fu265(h265IDR, false, false, 1, 2), false},
		{"FU IDR end", fu265(h265IDR, false, true, 1, 2), false},
		{"FU TRAIL start", fu265(h265Trail, true, false, 1, 2), false},
		{"FU truncated", []byte{0x62, 0x01}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := H265StartsKeyframe(tc.p); got != tc.want {
				t.Errorf("H265StartsKeyframe(% x) = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
}

// jpegPayload is an RTP/JPEG payload: RFC 2435 main header, then data.
func jpegPayload(offset int) []byte {
	return []byte{0, byte(offset >> 16), byte(offset >> 8), byte(offset), 1, 255, 80, 60, 0xff, 0xd8}
}

func TestJPEGStartsFrame(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    []byte
		want bool
	}{
		{"nil", nil, false},
		{"offset 0", jpegPayload(0), true},
		{"header only offset 0", jpegPayload(0)[:8], true},
		{"truncated header", jpegPayload(0)[:7], false},
		{"offset 1460", jpegPayload(1460), false},
		{"offset 65536", jpegPayload(1 << 16), false},
		{"offset 1", jpegPayload(1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := JPEGStartsFrame(tc.p); got != tc.want {
				t.Errorf("JPEGStartsFrame(% x) = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
}

func TestSyncDetector(t *testing.T) {
	type pkt struct {
		p    []byte
		ts   uint32
		want bool
	}
	for _, tc := range []struct {
		name string
		d    SyncDetector
		pkts []pkt
	}{
		{"H264 first key packet of each access unit", SyncDetector{Codec: "H264"}, []pkt{
			{h264NonIDR, 0, false}, // no keyframe yet
			{h264SPS, 3600, true},
			{h264PPS, 3600, false},
			{fuA(h264IDR, true, false, 1), 3600, false}, // same access unit as the SPS
			{fuA(h264IDR, false, false, 2), 3600, false},
			{fuA(h264IDR, false, true, 3), 3600, false},
			{h264NonIDR, 7200, false},
			{fuA(h264IDR, true, false, 1), 10800, true}, // IDR without SPS: still a start
			{h264IDR, 10800, false},                     // second slice of that IDR
			{stapA(h264SPS, h264PPS), 14400, true},
			{h264IDR, 14400, false},
		}},
		{"H264 key at timestamp 0 first", SyncDetector{Codec: "H264"}, []pkt{
			{h264IDR, 0, true},
			{h264IDR, 0, false},
			{h264IDR, 1, true},
		}},
		{"H265", SyncDetector{Codec: "H265"}, []pkt{
			{ap(h265VPS, h265SPS, h265PPS), 90000, true},
			{fu265(h265IDR, true, false, 1), 90000, false},
			{fu265(h265IDR, false, true, 2), 90000, false},
			{h265Trail, 93000, false},
			{h265VPS, 96000, true},
			{h265SPS, 96000, false},
			{h265IDR, 99000, true},
		}},
		{"JPEG every first fragment", SyncDetector{Codec: "JPEG"}, []pkt{
			{jpegPayload(0), 0, true},
			{jpegPayload(1452), 0, false},
			{jpegPayload(0), 3600, true},
			{jpegPayload(0)[:4], 7200, false}, // truncated
		}},
		{"AlwaysSync", SyncDetector{Codec: "MPEG4-GENERIC", AlwaysSync: true}, []pkt{
			{[]byte{0x00, 0x10, 0x0a}, 0, true},
			{[]byte{0x00, 0x10, 0x0a}, 0, true},
			{nil, 1024, true},
		}},
		{"AlwaysSync beats video codec rules", SyncDetector{Codec: "H264", AlwaysSync: true}, []pkt{
			{h264NonIDR, 0, true},
			{h264IDR, 0, true},
			{h264IDR, 0, true},
		}},
		{"other video codec never", SyncDetector{Codec: "VP8"}, []pkt{
			{h264IDR, 0, false},
			{jpegPayload(0), 1, false},
			{h265VPS, 2, false},
		}},
		{"audio without AlwaysSync never", SyncDetector{Codec: "PCMU"}, []pkt{
			{h264IDR, 0, false},
			{[]byte{0xff, 0xff}, 160, false},
		}},
		{"zero value never", SyncDetector{}, []pkt{
			{h264IDR, 0, false},
			{h264SPS, 1, false},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.d
			for i, p := range tc.pkts {
				if got := d.IsSync(p.p, p.ts); got != p.want {
					t.Errorf("packet %d (ts %d, % x): IsSync = %v, want %v", i, p.ts, p.p, got, p.want)
				}
			}
		})
	}
}

func TestFindSPS(t *testing.T) {
	for _, tc := range []struct {
		name  string
		codec string
		p     []byte
		want  []byte
	}{
		{"H264 SPS", "H264", h264SPS, h264SPS},
		{"H264 STAP-A", "H264", stapA(h264SEI, h264SPS, h264PPS), h264SPS},
		{"H264 PPS", "H264", h264PPS, nil},
		{"H264 IDR", "H264", h264IDR, nil},
		{"H264 STAP-A without SPS", "H264", stapA(h264PPS, h264IDR), nil},
		{"H264 STAP-A truncated", "H264", []byte{0x78, 0x00, 0x09, 0x67}, nil},
		{"H264 empty", "H264", nil, nil},
		{"H265 SPS", "H265", h265SPS, h265SPS},
		{"H265 AP", "H265", ap(h265VPS, h265SPS, h265PPS), h265SPS},
		{"H265 AP without SPS", "H265", ap(h265VPS, h265PPS), nil},
		{"H265 AP truncated", "H265", []byte{0x60, 0x01, 0x00, 0x09, 0x42}, nil},
		{"H265 short", "H265", h265SPS[:2], nil},
		{"JPEG", "JPEG", h264SPS, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := FindSPS(tc.codec, tc.p); !bytes.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
				t.Errorf("FindSPS(%s, % x) = % x, want % x", tc.codec, tc.p, got, tc.want)
			}
		})
	}
}

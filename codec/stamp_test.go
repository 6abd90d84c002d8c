package codec

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"
	"time"
)

// unescape removes emulation prevention bytes, written independently of
// ParseStampSEI: a 0x03 after two zero bytes is dropped.
func unescape(b []byte) []byte {
	var out []byte
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		out = append(out, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

// hasStartCodeEmulation reports a sequence a NAL unit must not contain
// (H.264 7.4.1): 00 00 00, 00 00 01, 00 00 02, or 00 00 03 followed by a byte
// above 03 (an escape byte that escapes nothing).
func hasStartCodeEmulation(b []byte) bool {
	for i := 0; i+2 < len(b); i++ {
		if b[i] != 0 || b[i+1] != 0 {
			continue
		}
		if b[i+2] <= 2 || (b[i+2] == 3 && i+3 < len(b) && b[i+3] > 3) {
			return true
		}
	}
	return false
}

var stampCases = []struct {
	name    string
	s       Stamp
	escaped bool // the encoding needs emulation prevention bytes
}{
	{"zero", Stamp{}, true},
	{"small", Stamp{SendTime: 1, Frame: 1}, true},
	{"now", Stamp{SendTime: time.Date(2026, 11, 26, 12, 0, 0, 123456789, time.UTC).UnixNano(), Frame: 12345}, true},
	{"00 00 01 and 00 00 03", Stamp{SendTime: 0x0000_0100_0003_0000, Frame: 0x0000_0200_0000_0001}, true},
	{"zeros then 03", Stamp{SendTime: 0x0300_0003_0000_0300, Frame: 0x0000_0300_0000_0003}, true},
	{"negative", Stamp{SendTime: -1, Frame: math.MaxUint64}, false},
	{"min int64", Stamp{SendTime: math.MinInt64, Frame: 1 << 63}, true},
	{"no zero bytes", Stamp{SendTime: 0x0102030405060708, Frame: 0x1112131415161718}, false},
}

func TestStampSEIRoundTrip(t *testing.T) {
	for _, tc := range stampCases {
		for _, h265 := range []bool{false, true} {
			name := tc.name + "/H264"
			if h265 {
				name = tc.name + "/H265"
			}
			t.Run(name, func(t *testing.T) {
				prefix := []byte{0, 0, 0, 1}
				var nal []byte
				if h265 {
					nal = AppendH265StampSEI(bytes.Clone(prefix), tc.s)
				} else {
					nal = AppendH264StampSEI(bytes.Clone(prefix), tc.s)
				}
				if !bytes.HasPrefix(nal, prefix) {
					t.Fatalf("dst prefix lost: % x", nal)
				}
				nal = nal[len(prefix):]

				hdrLen := 1
				if h265 {
					hdrLen = 2
					if nal[0] != 39<<1 || nal[1] != 1 {
						t.Fatalf("H.265 header % x, want prefix SEI (4e 01)", nal[:2])
					}
				} else if nal[0] != 0x06 {
					t.Fatalf("H.264 header %x, want SEI (06)", nal[0])
				}
				body := nal[hdrLen:]
				if hasStartCodeEmulation(body) {
					t.Errorf("start code emulation in % x", body)
				}
				if body[len(body)-1] != 0x80 {
					t.Errorf("no rbsp trailing bits: % x", body)
				}
				if escaped := len(body) != 2+stampPayloadLen+1; escaped != tc.escaped {
					t.Errorf("escaped = %v (%d bytes), want %v", escaped, len(body), tc.escaped)
				}

				// The RBSP is the SEI message as H.264 7.3.2.3.1 / D.1.6 lay it out.
				rbsp := unescape(body)
				want := []byte{5, 32}
				want = append(want, StampUUID[:]...)
				want = binary.BigEndian.AppendUint64(want, uint64(tc.s.SendTime))
				want = binary.BigEndian.AppendUint64(want, tc.s.Frame)
				want = append(want, 0x80)
				if !bytes.Equal(rbsp, want) {
					t.Errorf("rbsp\n% x\nwant\n% x", rbsp, want)
				}

				got, ok := ParseStampSEI(nal, h265)
				if !ok || got != tc.s {
					t.Fatalf("ParseStampSEI = %+v, %v; want %+v", got, ok, tc.s)
				}
				if _, ok := ParseStampSEI(nal, !h265); ok {
					t.Errorf("parsed as the other codec")
				}
			})
		}
	}
}

// sei builds a NAL unit around an unescaped SEI rbsp.
func sei(h265 bool, rbsp ...byte) []byte {
	nal := []byte{0x06}
	if h265 {
		nal = []byte{39 << 1, 1}
	}
	return appendEmulationPrevented(nal, rbsp)
}

func TestParseStampSEIRejects(t *testing.T) {
	good := func(h265 bool) []byte {
		if h265 {
			return AppendH265StampSEI(nil, Stamp{SendTime: 42, Frame: 7})
		}
		return AppendH264StampSEI(nil, Stamp{SendTime: 42, Frame: 7})
	}
	otherUUID := func(h265 bool) []byte {
		raw := []byte{5, 32}
		raw = append(raw, []byte("x264-sei-uuid-00")...)
		raw = append(raw, make([]byte, 16)...)
		return sei(h265, append(raw, 0x80)...)
	}
	for _, h265 := range []bool{false, true} {
		g := good(h265)
		hdr := 1
		if h265 {
			hdr = 2
		}
		for _, tc := range []struct {
			name string
			nal  []byte
		}{
			{"nil", nil},
			{"header only", g[:hdr]},
			{"truncated", g[:len(g)/2]},
			{"one byte short", g[:hdr+2+stampPayloadLen-1]},
			{"other UUID", otherUUID(h265)},
			{"recovery point SEI", sei(h265, 6, 1, 0x84, 0x80)},
			{"other payload type, same bytes", append(sei(h265, 4), g[hdr+1:]...)},
			{"other size", func() []byte { b := bytes.Clone(g); b[hdr+1] = 31; return b }()},
			{"H264 IDR", append([]byte{0x65}, g[1:]...)},
			{"H264 SPS", h264SPS},
			{"H265 suffix SEI", append([]byte{40 << 1, 1}, good(true)[2:]...)},
			{"H265 IDR", append([]byte{19 << 1, 1}, good(true)[2:]...)},
			{"H265 VPS", h265VPS},
			{"zeros", make([]byte, 64)},
		} {
			name := "H264/" + tc.name
			if h265 {
				name = "H265/" + tc.name
			}
			t.Run(name, func(t *testing.T) {
				if s, ok := ParseStampSEI(tc.nal, h265); ok {
					t.Errorf("ParseStampSEI(% x) = %+v, true", tc.nal, s)
				}
			})
		}
	}
}

func TestStampSEIAllocs(t *testing.T) {
	s := Stamp{SendTime: time.Now().UnixNano(), Frame: 1}
	buf := make([]byte, 0, 128)
	var got Stamp
	allocs := testing.AllocsPerRun(100, func() {
		nal := AppendH264StampSEI(buf[:0], s)
		got, _ = ParseStampSEI(nal, false)
		nal = AppendH265StampSEI(buf[:0], s)
		got, _ = ParseStampSEI(nal, true)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per append+parse, want 0", allocs)
	}
	if got != s {
		t.Errorf("got %+v", got)
	}
}

func FuzzParseStampSEI(f *testing.F) {
	for _, tc := range stampCases {
		f.Add(AppendH264StampSEI(nil, tc.s), false)
		f.Add(AppendH265StampSEI(nil, tc.s), true)
	}
	f.Add([]byte{0x06, 0x05, 0x20, 0x00, 0x00, 0x03, 0x00}, false)
	f.Add([]byte{0x4e, 0x01}, true)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, nal []byte, h265 bool) {
		s, ok := ParseStampSEI(nal, h265)
		if !ok {
			return
		}
		// Whatever parsed must survive a round trip.
		var again []byte
		if h265 {
			again = AppendH265StampSEI(nil, s)
		} else {
			again = AppendH264StampSEI(nil, s)
		}
		if s2, ok := ParseStampSEI(again, h265); !ok || s2 != s {
			t.Fatalf("round trip of %+v gave %+v, %v", s, s2, ok)
		}
	})
}

package codec

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// nalUnit is what a reassembler gets back: a NAL unit (header rebuilt from
// the fragmentation headers) and whether its first and last fragments were
// seen (S and E bits).
type nalUnit struct {
	nal        []byte
	start, end bool
}

func (u nalUnit) String() string {
	return fmt.Sprintf("{%d bytes %x.. start=%v end=%v}", len(u.nal), u.nal[:min(len(u.nal), 3)], u.start, u.end)
}

// reassemble rebuilds NAL units from Fragmenter output, the way a receiver
// of RFC 6184 / RFC 7798 packets does, and fails the test on anything a
// receiver would reject: an S bit that does not open a NAL unit, a fragment
// that continues nothing, a whole NAL unit inside an open fragmented one,
// fragments of one NAL unit with different headers.
func reassemble(t *testing.T, codecName string, outs [][]byte) []nalUnit {
	t.Helper()
	var units []nalUnit
	var open *nalUnit
	for i, out := range outs {
		var isFU bool
		var hdr []byte
		var fuh byte
		var body []byte
		if codecName == "H264" {
			if len(out) < 1 {
				t.Fatalf("output %d is empty", i)
			}
			if isFU = out[0]&0x1f == h264FUA; isFU {
				if len(out) < 3 {
					t.Fatalf("output %d: FU-A of %d bytes", i, len(out))
				}
				fuh = out[1]
				hdr = []byte{out[0]&0xe0 | fuh&0x1f}
				body = out[2:]
			}
		} else {
			if len(out) < 2 {
				t.Fatalf("output %d: %d bytes", i, len(out))
			}
			if isFU = (out[0]>>1)&0x3f == h265FU; isFU {
				if len(out) < 4 {
					t.Fatalf("output %d: FU of %d bytes", i, len(out))
				}
				fuh = out[2]
				hdr = []byte{out[0]&0x81 | (fuh&0x3f)<<1, out[1]}
				body = out[3:]
			}
		}
		if !isFU {
			if open != nil {
				t.Fatalf("output %d: whole NAL unit inside an open fragmented one", i)
			}
			units = append(units, nalUnit{nal: bytes.Clone(out), start: true, end: true})
			continue
		}
		s, e := fuh&0x80 != 0, fuh&0x40 != 0
		switch {
		case s && open != nil:
			t.Fatalf("output %d: S bit inside an open NAL unit", i)
		case s:
			open = &nalUnit{nal: bytes.Clone(hdr), start: true}
		case open == nil && i == 0:
			// The input was itself a middle or end fragment.
			open = &nalUnit{nal: bytes.Clone(hdr)}
		case open == nil:
			t.Fatalf("output %d: fragment without S bit continues nothing", i)
		case !bytes.Equal(open.nal[:len(hdr)], hdr):
			t.Fatalf("output %d: fragment header %x, NAL unit header %x", i, hdr, open.nal[:len(hdr)])
		}
		open.nal = append(open.nal, body...)
		if e {
			open.end = true
			units = append(units, *open)
			open = nil
		}
	}
	if open != nil {
		units = append(units, *open)
	}
	return units
}

// fragmentAll runs the Fragmenter over p and checks the output contract:
// every payload fits in max, only the final one is last, and Next stays done.
func fragmentAll(t *testing.T, f *Fragmenter, codecName string, p []byte, max int) [][]byte {
	t.Helper()
	if !f.Reset(codecName, p, max) {
		t.Fatalf("Reset(%s, %d bytes, %d) = false", codecName, len(p), max)
	}
	limit := min(max, MaxPayload)
	var outs [][]byte
	var lasts []bool
	for {
		out, last, ok := f.Next()
		if !ok {
			break
		}
		if len(outs) > len(p) {
			t.Fatalf("more outputs than input bytes")
		}
		if len(out) > limit {
			t.Fatalf("output %d: %d bytes > max %d", len(outs), len(out), limit)
		}
		outs = append(outs, bytes.Clone(out))
		lasts = append(lasts, last)
	}
	for i, last := range lasts {
		if last != (i == len(lasts)-1) {
			t.Errorf("output %d of %d: last = %v", i, len(lasts), last)
		}
	}
	for range 2 {
		if out, last, ok := f.Next(); ok || last || out != nil {
			t.Fatalf("Next after the end = %d bytes, %v, %v", len(out), last, ok)
		}
	}
	return outs
}

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// nalOf makes a NAL unit of size bytes with the given header.
func nalOf(r *rand.Rand, hdr []byte, size int) []byte {
	return append(bytes.Clone(hdr), randomBytes(r, size-len(hdr))...)
}

func TestFragmenter(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	type tcase struct {
		name  string
		codec string
		p     []byte
		want  []nalUnit
	}
	var cases []tcase

	// H.264
	{
		idr := nalOf(r, []byte{0x65}, 10*1024)
		nonIDR := nalOf(r, []byte{0x41}, 5000)
		body := randomBytes(r, 4000)
		whole := append([]byte{0x65}, body...) // what the FU-A cases carry a part of
		cases = append(cases,
			tcase{"H264 10 KB IDR", "H264", idr, []nalUnit{{idr, true, true}}},
			tcase{"H264 1461 byte NAL", "H264", idr[:1461], []nalUnit{{idr[:1461], true, true}}},
			tcase{"H264 small NAL", "H264", h264SPS, []nalUnit{{h264SPS, true, true}}},
			tcase{"H264 AUD", "H264", []byte{0x09, 0xf0}, []nalUnit{{[]byte{0x09, 0xf0}, true, true}}},
			tcase{"H264 end of stream", "H264", []byte{0x0b}, []nalUnit{{[]byte{0x0b}, true, true}}},
			tcase{"H264 FU-A S", "H264", fuA(whole, true, false, body...), []nalUnit{{whole, true, false}}},
			tcase{"H264 FU-A S E", "H264", fuA(whole, true, true, body...), []nalUnit{{whole, true, true}}},
			tcase{"H264 FU-A middle", "H264", fuA(whole, false, false, body...), []nalUnit{{whole, false, false}}},
			tcase{"H264 FU-A E", "H264", fuA(whole, false, true, body...), []nalUnit{{whole, false, true}}},
			tcase{"H264 small FU-A S", "H264", fuA(whole, true, false, body[:100]...),
				[]nalUnit{{whole[:101], true, false}}},
			tcase{"H264 STAP-A", "H264", stapA(h264SPS, h264PPS, idr[:3000], h264SEI, nonIDR),
				[]nalUnit{{h264SPS, true, true}, {h264PPS, true, true}, {idr[:3000], true, true},
					{h264SEI, true, true}, {nonIDR, true, true}}},
			tcase{"H264 STAP-A trailing byte", "H264", append(stapA(idr[:2000], h264SPS), 0x00),
				[]nalUnit{{idr[:2000], true, true}, {h264SPS, true, true}}},
			tcase{"H264 STAP-A bad last size", "H264", append(stapA(h264SPS, idr[:2000]), 0x00, 0x09, 0x68),
				[]nalUnit{{h264SPS, true, true}, {idr[:2000], true, true}}},
			tcase{"H264 STAP-A zero size", "H264", append(stapA(idr[:2000]), 0x00, 0x00, 0x68),
				[]nalUnit{{idr[:2000], true, true}}},
		)
	}

	// H.265
	{
		idr := nalOf(r, h265IDR[:2], 10*1024)
		trail := nalOf(r, h265Trail[:2], 5000)
		body := randomBytes(r, 4000)
		whole := append(bytes.Clone(h265IDR[:2]), body...)
		layered := []byte{0x27, 0x0a} // IDR_W_RADL, layer id 33, tid 2: checks the header bits survive
		lnal := nalOf(r, layered, 3000)
		cases = append(cases,
			tcase{"H265 10 KB IDR", "H265", idr, []nalUnit{{idr, true, true}}},
			tcase{"H265 layered NAL", "H265", lnal, []nalUnit{{lnal, true, true}}},
			tcase{"H265 small NAL", "H265", h265VPS, []nalUnit{{h265VPS, true, true}}},
			tcase{"H265 FU S", "H265", fu265(whole, true, false, body...), []nalUnit{{whole, true, false}}},
			tcase{"H265 FU S E", "H265", fu265(whole, true, true, body...), []nalUnit{{whole, true, true}}},
			tcase{"H265 FU middle", "H265", fu265(whole, false, false, body...), []nalUnit{{whole, false, false}}},
			tcase{"H265 FU E", "H265", fu265(whole, false, true, body...), []nalUnit{{whole, false, true}}},
			tcase{"H265 AP", "H265", ap(h265VPS, h265SPS, h265PPS, idr[:3000], trail),
				[]nalUnit{{h265VPS, true, true}, {h265SPS, true, true}, {h265PPS, true, true},
					{idr[:3000], true, true}, {trail, true, true}}},
			tcase{"H265 AP trailing byte", "H265", append(ap(idr[:2000], h265PPS), 0x00),
				[]nalUnit{{idr[:2000], true, true}, {h265PPS, true, true}}},
		)
	}

	for _, tc := range cases {
		for _, max := range []int{MaxPayload, 1200, 100, 16, 1 << 20} {
			t.Run(fmt.Sprintf("%s/max %d", tc.name, max), func(t *testing.T) {
				var f Fragmenter
				outs := fragmentAll(t, &f, tc.codec, tc.p, max)
				got := reassemble(t, tc.codec, outs)
				if len(got) != len(tc.want) {
					t.Fatalf("got %d NAL units %v, want %d %v", len(got), got, len(tc.want), tc.want)
				}
				for i := range got {
					g, w := got[i], tc.want[i]
					if !bytes.Equal(g.nal, w.nal) || g.start != w.start || g.end != w.end {
						t.Errorf("NAL unit %d: got %v, want %v", i, g, w)
					}
				}
				// A whole NAL unit that fits goes out as is.
				if len(tc.want) == 1 && bytes.Equal(tc.want[0].nal, tc.p) && len(tc.p) <= min(max, MaxPayload) &&
					(len(outs) != 1 || !bytes.Equal(outs[0], tc.p)) {
					t.Errorf("a NAL unit that fits came out as %d payloads", len(outs))
				}
			})
		}
	}
}

// A Fragmenter is reused packet after packet; nothing of one packet may leak
// into the next.
func TestFragmenterReuse(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	big := nalOf(r, []byte{0x65}, 5000)
	var f Fragmenter
	fragmentAll(t, &f, "H264", fuA(big, true, false, big[1:]...), 1000)
	outs := fragmentAll(t, &f, "H264", h264SPS, 1000)
	if len(outs) != 1 || !bytes.Equal(outs[0], h264SPS) {
		t.Fatalf("after a FU-A, a small NAL unit came out as %x", outs)
	}
	outs = fragmentAll(t, &f, "H264", big, 1000)
	if u := reassemble(t, "H264", outs); len(u) != 1 || !bytes.Equal(u[0].nal, big) {
		t.Fatalf("reuse: %v", u)
	}
}

func TestFragmenterRefuses(t *testing.T) {
	big := make([]byte, 5000)
	big[0] = 0x65
	for _, tc := range []struct {
		name  string
		codec string
		p     []byte
		max   int
	}{
		{"JPEG", "JPEG", big, MaxPayload},
		{"MPEG4-GENERIC", "MPEG4-GENERIC", big, MaxPayload},
		{"VP8", "VP8", big, MaxPayload},
		{"no codec", "", big, MaxPayload},
		{"lower case", "h264", big, MaxPayload},
		{"max too small", "H264", big, 15},
		{"max zero", "H265", big, 0},
		{"max negative", "H264", big, -1},
		{"H264 empty", "H264", nil, MaxPayload},
		{"H265 empty", "H265", []byte{}, MaxPayload},
		{"H265 one byte", "H265", []byte{0x26}, MaxPayload},
		{"H264 FU-A without FU header", "H264", []byte{0x7c}, MaxPayload},
		{"H265 FU without FU header", "H265", []byte{0x62, 0x01}, MaxPayload},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f Fragmenter
			if f.Reset(tc.codec, tc.p, tc.max) {
				t.Errorf("Reset(%q, %d bytes, %d) = true", tc.codec, len(tc.p), tc.max)
			}
			if out, last, ok := f.Next(); ok || last || out != nil {
				t.Errorf("Next after a refused Reset = %d bytes, %v, %v", len(out), last, ok)
			}
		})
	}
	if CanFragment("JPEG") || !CanFragment("H264") || !CanFragment("H265") {
		t.Error("CanFragment disagrees with Reset")
	}
}

// Packets that carry nothing to send are accepted but give no output (the
// caller writes nothing); nothing panics.
func TestFragmenterEmptyOutput(t *testing.T) {
	for _, tc := range []struct {
		name  string
		codec string
		p     []byte
	}{
		{"H264 FU-A no body", "H264", []byte{0x7c, 0x85}},
		{"H264 STAP-A header only", "H264", []byte{0x78}},
		{"H264 STAP-A truncated", "H264", []byte{0x78, 0x00, 0x09, 0x67}},
		{"H264 STAP-A zero size", "H264", []byte{0x78, 0x00, 0x00, 0x67}},
		{"H265 FU no body", "H265", []byte{0x62, 0x01, 0x93}},
		{"H265 AP header only", "H265", []byte{0x60, 0x01}},
		{"H265 AP truncated", "H265", []byte{0x60, 0x01, 0x00, 0x09, 0x42}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f Fragmenter
			f.Reset(tc.codec, tc.p, MaxPayload)
			if out, _, ok := f.Next(); ok {
				t.Errorf("Next = % x", out)
			}
		})
	}
}

func TestFragmenterAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	idr := nalOf(r, []byte{0x65}, 10*1024)
	idr265 := nalOf(r, h265IDR[:2], 10*1024)
	inputs := []struct {
		codec string
		p     []byte
	}{
		{"H264", idr},
		{"H264", fuA(idr, true, true, idr[1:]...)},
		{"H264", stapA(h264SPS, h264PPS, idr[:3000])},
		{"H264", h264SPS},
		{"H265", idr265},
		{"H265", fu265(idr265, true, false, idr265[2:]...)},
		{"H265", ap(h265VPS, h265SPS, idr265[:3000])},
	}
	var f Fragmenter
	n := 0
	allocs := testing.AllocsPerRun(100, func() {
		for _, in := range inputs {
			f.Reset(in.codec, in.p, MaxPayload)
			for {
				p, _, ok := f.Next()
				if !ok {
					break
				}
				n += len(p)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("Reset+Next: %v allocations per run, want 0", allocs)
	}
	if n == 0 {
		t.Error("no output")
	}
}

func BenchmarkFragmenter(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 8))
	idr := nalOf(r, []byte{0x65}, 10*1024)
	var f Fragmenter
	b.SetBytes(int64(len(idr)))
	b.ReportAllocs()
	for b.Loop() {
		f.Reset("H264", idr, MaxPayload)
		for {
			if _, _, ok := f.Next(); !ok {
				break
			}
		}
	}
}

func FuzzFragmenter(f *testing.F) {
	// Small seeds with small maximums: the fuzzer minimizes every input that
	// finds new coverage, which takes long for kilobyte inputs.
	r := rand.New(rand.NewPCG(9, 10))
	idr := nalOf(r, []byte{0x65}, 200)
	idr265 := nalOf(r, h265IDR[:2], 200)
	f.Add(idr, 64, false)
	f.Add(fuA(idr, true, false, idr[1:]...), 50, false)
	f.Add(fuA(idr, false, true, idr[1:]...), 16, false)
	f.Add(stapA(h264SPS, h264PPS, idr[:100]), 40, false)
	f.Add(append(stapA(h264SPS, idr[:100]), 0x00, 0x09), 30, false)
	f.Add([]byte{0x78, 0x00}, 100, false)
	f.Add(h264SPS, MaxPayload, false)
	f.Add(idr265, 64, true)
	f.Add(fu265(idr265, true, true, idr265[2:]...), 17, true)
	f.Add(ap(h265VPS, h265SPS, idr265[:100]), 40, true)
	f.Add([]byte{0x62, 0x01, 0x93}, 100, true)
	f.Add([]byte{}, 0, true)
	f.Fuzz(func(t *testing.T, p []byte, max int, h265 bool) {
		codecName := "H264"
		if h265 {
			codecName = "H265"
		}
		limit := min(max, MaxPayload)
		var fr Fragmenter
		if !fr.Reset(codecName, p, max) {
			if _, _, ok := fr.Next(); ok {
				t.Fatal("output after a refused Reset")
			}
			return
		}
		outs, lastAt := 0, -1
		for {
			out, last, ok := fr.Next()
			if !ok {
				break
			}
			if len(out) > limit || len(out) == 0 {
				t.Fatalf("output %d: %d bytes, max %d", outs, len(out), limit)
			}
			if last {
				if lastAt >= 0 {
					t.Fatalf("last on outputs %d and %d", lastAt, outs)
				}
				lastAt = outs
			}
			outs++
			if outs > len(p) {
				t.Fatalf("%d outputs from %d bytes", outs, len(p))
			}
		}
		if outs > 0 && lastAt != outs-1 {
			t.Fatalf("last on output %d of %d", lastAt, outs)
		}
	})
}

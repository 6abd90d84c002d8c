package codec

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// collectWriter keeps copies of every packet written.
type collectWriter struct {
	pkts []Packet
}

func (c *collectWriter) SetTracks([]Track) uint32 { return 1 }

func (c *collectWriter) WritePacket(p *Packet) {
	q := *p
	q.Payload = bytes.Clone(p.Payload)
	c.pkts = append(c.pkts, q)
}

// countWriter only counts, so that allocation tests measure the packetizer.
type countWriter struct{ n, bytes int }

func (c *countWriter) SetTracks([]Track) uint32 { return 1 }
func (c *countWriter) WritePacket(p *Packet)    { c.n++; c.bytes += len(p.Payload) }

func testAU(r *rand.Rand, idr bool, sizes ...int) [][]byte {
	var au [][]byte
	if idr {
		au = append(au, nalOf(r, []byte{0x67}, 20), nalOf(r, []byte{0x68}, 4))
	}
	for i, n := range sizes {
		hdr := byte(0x41) // non-IDR slice, nal_ref_idc 2
		if idr {
			hdr = 0x65
		}
		if i > 0 {
			hdr = 0x06 // SEI between slices is fine for the packetizer
		}
		au = append(au, nalOf(r, []byte{hdr}, n))
	}
	// No zero bytes, so that Annex-B framing never sees a start code (real
	// encoders escape them with emulation prevention bytes).
	for _, n := range au {
		for i := range n {
			if n[i] == 0 {
				n[i] = 0xff
			}
		}
	}
	return au
}

func annexB(au [][]byte) []byte {
	var b []byte
	for i, n := range au {
		if i == 0 {
			b = append(b, 0, 0, 0, 1)
		} else {
			b = append(b, 0, 0, 1)
		}
		b = append(b, n...)
	}
	return b
}

func TestH264PacketizerRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	aus := [][][]byte{
		testAU(r, true, 5000),
		testAU(r, false, 100),
		testAU(r, false, 1400), // exactly the limit: one packet
		testAU(r, false, 1401), // one byte over: two fragments
		testAU(r, false, 3000, 10),
		testAU(r, true, 20000),
	}
	for _, form := range []string{"nalus", "annexb"} {
		w := &collectWriter{}
		z := &H264Packetizer{PayloadType: 96, Track: 2}
		z.SetSequenceNumber(65530) // wraps during the test
		for i, au := range aus {
			ts := uint32(i * 3600)
			if form == "nalus" {
				z.WriteAU(w, au, ts, int64(i))
			} else {
				z.WriteAnnexB(w, annexB(au), ts, int64(i))
			}
		}
		seq := uint16(65530)
		var payloads [][]byte
		auIdx := 0
		for i, p := range w.pkts {
			if p.SequenceNumber != seq {
				t.Fatalf("%s: packet %d seq %d, want %d", form, i, p.SequenceNumber, seq)
			}
			seq++
			if len(p.Payload) > DefaultH264MaxPayload {
				t.Fatalf("%s: packet %d payload %d bytes", form, i, len(p.Payload))
			}
			if p.PayloadType != 96 || p.Track != 2 || p.Timestamp != uint32(auIdx*3600) || p.Received != int64(auIdx) {
				t.Fatalf("%s: packet %d header %+v", form, i, p)
			}
			wantSync := len(payloads) == 0 && aus[auIdx][0][0]&0x1f == 7
			if got := p.Flags&FlagSync != 0; got != wantSync {
				t.Fatalf("%s: packet %d (AU %d) sync %v, want %v", form, i, auIdx, got, wantSync)
			}
			payloads = append(payloads, p.Payload)
			if !p.Marker() {
				continue
			}
			units := reassemble(t, "H264", payloads)
			if len(units) != len(aus[auIdx]) {
				t.Fatalf("%s: AU %d: %d NAL units back, want %d", form, auIdx, len(units), len(aus[auIdx]))
			}
			for j, u := range units {
				if !u.start || !u.end || !bytes.Equal(u.nal, aus[auIdx][j]) {
					t.Fatalf("%s: AU %d NAL %d differs: %v", form, auIdx, j, u)
				}
			}
			payloads = nil
			auIdx++
		}
		if auIdx != len(aus) || len(payloads) != 0 {
			t.Fatalf("%s: %d AUs ended with a marker, want %d", form, auIdx, len(aus))
		}
	}
}

func TestH264PacketizerMaxPayload(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	au := testAU(r, false, 1000)
	for _, tc := range []struct{ max, want int }{{500, 3}, {999, 2}, {1000, 1}, {100000, 1}} {
		w := &collectWriter{}
		z := &H264Packetizer{MaxPayload: tc.max}
		if n := z.WriteAU(w, au, 0, 0); n != tc.want || len(w.pkts) != tc.want {
			t.Errorf("max %d: %d packets, want %d", tc.max, n, tc.want)
		}
	}
	// A payload limit above MaxPayload is capped to what gortsplib accepts.
	w := &collectWriter{}
	z := &H264Packetizer{MaxPayload: 100000}
	z.WriteAU(w, testAU(r, false, 5000), 0, 0)
	for _, p := range w.pkts {
		if len(p.Payload) > MaxPayload {
			t.Fatalf("payload %d over MaxPayload", len(p.Payload))
		}
	}
}

func TestNextAnnexB(t *testing.T) {
	b := []byte{0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 0, 1, 0x65, 4, 0, 0}
	var got [][]byte
	for nal, rest := NextAnnexB(b); nal != nil; nal, rest = NextAnnexB(rest) {
		got = append(got, nal)
	}
	want := [][]byte{{0x67, 1, 2}, {0x68, 3}, {0x65, 4}}
	if len(got) != len(want) {
		t.Fatalf("got %x", got)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("NAL %d: %x, want %x", i, got[i], want[i])
		}
	}
	for _, b := range [][]byte{nil, {0, 0}, {1, 2, 3}, {0, 0, 1}, {0, 0, 1, 0, 0, 1, 0}} {
		if nal, _ := NextAnnexB(b); nal != nil {
			t.Errorf("%x: got NAL %x", b, nal)
		}
	}
}

func TestH264PacketizerAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	au := testAU(r, true, 30000)
	ab := annexB(au)
	w := &countWriter{}
	z := &H264Packetizer{}
	if n := testing.AllocsPerRun(100, func() { z.WriteAU(w, au, 0, 0) }); n != 0 {
		t.Errorf("WriteAU: %.1f allocations", n)
	}
	if n := testing.AllocsPerRun(100, func() { z.WriteAnnexB(w, ab, 0, 0) }); n != 0 {
		t.Errorf("WriteAnnexB: %.1f allocations", n)
	}
}

func BenchmarkH264PacketizerAnnexB(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 8))
	ab := annexB(testAU(r, false, 20000))
	w := &countWriter{}
	z := &H264Packetizer{}
	b.SetBytes(int64(len(ab)))
	b.ReportAllocs()
	for b.Loop() {
		z.WriteAnnexB(w, ab, 0, 0)
	}
}

package transport

import (
	"testing"

	"github.com/pion/rtp"
)

func TestParseRTPInPlace(t *testing.T) {
	full := rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, PayloadType: 96, SequenceNumber: 7, Timestamp: 90000, SSRC: 42,
		CSRC: []uint32{1, 2}}, Payload: []byte{1, 2, 3, 4, 5}}
	full.Header.SetExtension(1, []byte{9, 9, 9, 9})
	b, err := full.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	padded := append(append([]byte(nil), b...), 0, 0, 3)
	padded[0] |= 0x20
	for name, in := range map[string][]byte{"csrc+extension": b, "padding": padded} {
		var p rtp.Packet
		if !parseRTP(in, &p) {
			t.Fatalf("%s: not parsed", name)
		}
		if !p.Marker || p.PayloadType != 96 || p.SequenceNumber != 7 || p.Timestamp != 90000 || p.SSRC != 42 || string(p.Payload) != "\x01\x02\x03\x04\x05" {
			t.Errorf("%s: %+v payload %v", name, p.Header, p.Payload)
		}
	}
	for _, bad := range [][]byte{nil, make([]byte, 11), {0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {0x8f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 200}} {
		var p rtp.Packet
		if parseRTP(bad, &p) {
			t.Errorf("% x parsed", bad)
		}
	}
	var p rtp.Packet
	if n := testing.AllocsPerRun(100, func() { parseRTP(b, &p) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

func FuzzParseRTP(f *testing.F) {
	f.Add([]byte{0x80, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xaa})
	f.Add([]byte{0xb1, 0xe0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xbe, 0xde, 0, 1, 1, 2, 3, 4, 5, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var p rtp.Packet
		if parseRTP(b, &p) && len(p.Payload) > len(b) {
			t.Fatal("payload longer than the packet")
		}
	})
}

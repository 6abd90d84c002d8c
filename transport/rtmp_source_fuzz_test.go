package transport

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/camrelay/camrelay/codec"
)

// auSink records what an rtmpPacketizer writes, payloads copied (the
// packetizer's are borrowed).
type auSink struct {
	pkts []rtp.Packet
}

func (s *auSink) Begin([]codec.Track) error { return nil }
func (s *auSink) NoteSPS(int, []byte)       {}
func (s *auSink) WriteRTP(_ int, p *rtp.Packet, _ int64) {
	c := *p
	c.Payload = bytes.Clone(p.Payload)
	s.pkts = append(s.pkts, c)
}

// splitAUs reads fuzz bytes as access units: a NAL unit count, then per NAL
// unit a length byte and its bytes.
func splitAUs(b []byte) [][][]byte {
	var aus [][][]byte
	for len(b) > 0 {
		n := int(b[0] % 8)
		b = b[1:]
		var au [][]byte
		for range n {
			if len(b) == 0 {
				break
			}
			l := min(int(b[0]), len(b)-1)
			au = append(au, b[1:1+l])
			b = b[1+l:]
		}
		aus = append(aus, au)
	}
	return aus
}

// FuzzRTMPPacketizer: any access units (empty ones, NAL units of any
// type, parameter sets alone or in band) become RTP packets with
// consecutive sequence numbers, the access unit's timestamp, one marker on
// the last packet, each payload a NAL unit of the access unit or a kept
// parameter set. The parameter sets kept are copies: the access unit's
// memory is borrowed.
func FuzzRTMPPacketizer(f *testing.F) {
	sps := []byte{0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x47, 0xfe, 0xc8}
	pps := []byte{0x68, 0xce, 0x3c, 0x80}
	idr := []byte{0x65, 0x88, 0x84, 0x00, 0x33}
	nonIDR := []byte{0x41, 0x9a, 0x02}
	enc := func(aus ...[][]byte) []byte {
		var b []byte
		for _, au := range aus {
			b = append(b, byte(len(au)))
			for _, n := range au {
				b = append(b, byte(len(n)))
				b = append(b, n...)
			}
		}
		return b
	}
	f.Add(enc([][]byte{sps, pps}, [][]byte{idr}, [][]byte{nonIDR}), false, int64(0))
	f.Add(enc([][]byte{sps, pps, idr}, [][]byte{{}, nonIDR, {}}), false, int64(time.Hour))
	f.Add(enc([][]byte{{0x40, 0x01, 0x0c}, {0x42, 0x01, 0x01}, {0x44, 0x01, 0xc0}, {0x26, 0x01, 0xaf}}, [][]byte{{0x02, 0x01, 0xd0}}), true, int64(-5))
	f.Add(enc([][]byte{{0x26, 0x01}}), true, int64(1<<62))
	f.Fuzz(func(t *testing.T, data []byte, h265 bool, pts int64) {
		sink := &auSink{}
		p := &rtmpPacketizer{in: sink, clock: 90000, h264: !h265}
		if h265 {
			p.ps = [][]byte{{0x40, 0x01, 0x0c, 0x01}, {0x42, 0x01, 0x01, 0x01}, {0x44, 0x01, 0xc0}}
		} else {
			p.ps = [][]byte{bytes.Clone(sps), bytes.Clone(pps)}
		}
		for i, au := range splitAUs(data) {
			from := len(sink.pkts)
			d := time.Duration(pts) + time.Duration(i)*40*time.Millisecond
			known := map[string]bool{}
			for _, ps := range p.ps {
				known[string(ps)] = true
			}
			media := false
			for _, n := range au {
				known[string(n)] = true
				if len(n) > 0 && p.paramSet(n) < 0 {
					media = true
				}
			}
			p.writeAU(d, 0, au)
			got := sink.pkts[from:]
			if !media {
				if len(got) != 0 {
					t.Fatalf("AU %d: %d packets without a picture", i, len(got))
				}
				continue
			}
			if len(got) == 0 {
				t.Fatalf("AU %d: a picture and no packet", i)
			}
			for k, pk := range got {
				if len(pk.Payload) == 0 || !known[string(pk.Payload)] {
					t.Fatalf("AU %d packet %d: payload %x not of the AU", i, k, pk.Payload)
				}
				if pk.Timestamp != rtpTime(d, 90000) || pk.Marker != (k == len(got)-1) {
					t.Fatalf("AU %d packet %d: ts %d marker %v", i, k, pk.Timestamp, pk.Marker)
				}
			}
			// The AU's memory is reused by the reader: what was kept must
			// not change with it.
			kept := fmt.Sprint(p.ps)
			for _, n := range au {
				for j := range n {
					n[j] ^= 0xff
				}
			}
			if fmt.Sprint(p.ps) != kept {
				t.Fatalf("AU %d: parameter sets alias the access unit", i)
			}
		}
		for k, pk := range sink.pkts {
			if pk.SequenceNumber != uint16(k+1) {
				t.Fatalf("packet %d: sequence number %d", k, pk.SequenceNumber)
			}
		}
	})
}

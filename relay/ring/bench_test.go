package ring

import (
	"testing"

	"github.com/camrelay/camrelay/codec"
)

// BenchmarkWrite is the writer alone: the cost a source pays per packet.
func BenchmarkWrite(b *testing.B) {
	r := New(DefaultSize)
	p := pkt(0, 1200, true)
	b.SetBytes(int64(len(p.Payload)))
	b.ReportAllocs()
	for b.Loop() {
		r.WritePacket(p)
	}
}

func benchWriteRead(b *testing.B, readers int) {
	r := New(DefaultSize)
	rds := make([]*Reader, readers)
	for i := range rds {
		rds[i] = r.NewReader(NextSync)
		defer rds[i].Close()
	}
	p := pkt(0, 1200, true)
	out := &codec.Packet{Payload: make([]byte, codec.MaxPayload)}
	b.SetBytes(int64(len(p.Payload)))
	b.ReportAllocs()
	for b.Loop() {
		r.WritePacket(p)
		for _, rd := range rds {
			if !rd.TryRead(out) {
				b.Fatal("no packet")
			}
		}
	}
}

// BenchmarkWriteRead1 is one packet written and read by one sink.
func BenchmarkWriteRead1(b *testing.B) { benchWriteRead(b, 1) }

// BenchmarkWriteRead4 is one packet written and read by four sinks.
func BenchmarkWriteRead4(b *testing.B) { benchWriteRead(b, 4) }

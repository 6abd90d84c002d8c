package transport

import (
	"testing"
	"time"

	"github.com/camrelay/camrelay/codec"
)

func video() pubTrack {
	return pubTrack{track: codec.Track{Kind: codec.KindVideo, Codec: "H264", ClockRate: 90000}}
}

func TestRebaseContinuesAcrossReconnect(t *testing.T) {
	tr := video()
	ms := int64(time.Millisecond)
	// Camera session 1: 25 fps from ts 1000, seq 100.
	var lastSeq uint16
	var lastTS uint32
	for i := 0; i < 10; i++ {
		p := &codec.Packet{SequenceNumber: uint16(100 + i), Timestamp: uint32(1000 + i*3600), Received: int64(i) * 40 * ms}
		seq, ts, rebased := tr.rebase(p)
		if rebased {
			t.Fatal("rebased inside a continuous session")
		}
		if i > 0 && (seq != lastSeq+1 || ts != lastTS+3600) {
			t.Fatalf("packet %d: seq %d ts %d after %d %d", i, seq, ts, lastSeq, lastTS)
		}
		lastSeq, lastTS = seq, ts
	}
	// The camera comes back 3 s later with new random numbers.
	tr.discont = true
	p := &codec.Packet{SequenceNumber: 40000, Timestamp: 3_000_000_000, Received: 9*40*ms + 3000*ms}
	seq, ts, rebased := tr.rebase(p)
	if !rebased || seq != lastSeq+1 {
		t.Fatalf("rebased=%v seq %d, want %d", rebased, seq, lastSeq+1)
	}
	if gap := ts - lastTS; gap < 3000*90-90 || gap > 3000*90+90 {
		t.Fatalf("timestamp advanced %d ticks across a 3 s gap, want about %d", gap, 3000*90)
	}
	// and then continues normally from there
	p2 := &codec.Packet{SequenceNumber: 40001, Timestamp: 3_000_000_000 + 3600, Received: p.Received + 40*ms}
	if seq2, ts2, rb := tr.rebase(p2); rb || seq2 != seq+1 || ts2 != ts+3600 {
		t.Fatalf("after rebase: seq %d ts %d rebased %v", seq2, ts2, rb)
	}
}

func TestRebaseKeepsCameraLossVisibleAndHandlesJumps(t *testing.T) {
	tr := video()
	ms := int64(time.Millisecond)
	tr.rebase(&codec.Packet{SequenceNumber: 10, Timestamp: 0, Received: 0})
	seq, _, _ := tr.rebase(&codec.Packet{SequenceNumber: 13, Timestamp: 3600, Received: 40 * ms})
	if seq != 13 {
		t.Fatalf("a gap of 3 in the camera's numbers should stay a gap of 3, got seq %d", seq)
	}
	// Wrap-around is not a gap.
	tr2 := video()
	tr2.rebase(&codec.Packet{SequenceNumber: 65535, Timestamp: 0, Received: 0})
	if s, _, _ := tr2.rebase(&codec.Packet{SequenceNumber: 0, Timestamp: 3600, Received: 40 * ms}); s != 0 {
		t.Fatalf("wrap: seq %d", s)
	}
	// The camera's clock jumps back an hour without reconnecting.
	_, before, _ := tr.rebase(&codec.Packet{SequenceNumber: 14, Timestamp: 7200, Received: 80 * ms})
	_, after, rebased := tr.rebase(&codec.Packet{SequenceNumber: 15, Timestamp: uint32(int64(7200) - 3600*90000 + 1<<32), Received: 120 * ms})
	if !rebased || after-before > 90*100 {
		t.Fatalf("clock jump: rebased %v, advanced %d ticks", rebased, after-before)
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	for i := 0; i < 99; i++ {
		h.Observe(100 * time.Microsecond)
	}
	h.Observe(50 * time.Millisecond)
	if p50 := h.Quantile(0.5); p50 < 64*time.Microsecond || p50 > 128*time.Microsecond {
		t.Fatalf("p50 %v", p50)
	}
	if p999 := h.Quantile(1); p999 < 32*time.Millisecond || p999 > 66*time.Millisecond {
		t.Fatalf("max %v", p999)
	}
	if h.Count() != 100 {
		t.Fatalf("count %d", h.Count())
	}
}

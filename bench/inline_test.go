package bench

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"
	"time"
)

// TestInlineWriteFallsBackWhenTheServerStalls: the ring's writer writes
// finished frames to the publisher's socket itself, and hands over to the
// publisher's goroutine when the socket takes no more (a server that
// stopped reading). Both write into one connection: the server must see
// every packet, in order, each whole (no bytes of two writes mixed), and
// the camera's side must never wait for the server.
func TestInlineWriteFallsBackWhenTheServerStalls(t *testing.T) {
	srv := startDiscardServer(t)
	srv.hold = make(chan struct{})
	var mu sync.Mutex
	var got [][]byte
	var seqs []uint16
	bad := 0
	srv.packet = func(ch byte, b []byte) {
		mu.Lock()
		defer mu.Unlock()
		if ch != 0 || len(b) < 12 {
			bad++
			return
		}
		seqs = append(seqs, binary.BigEndian.Uint16(b[2:]))
		got = append(got, append([]byte(nil), b[12:]...))
	}
	p := newCopyPathTo(t, srv)
	p.waitSession(t)

	// The server reads nothing yet: write until the socket buffers are
	// full and then some (the ring holds the rest), as fast as a burst.
	start := p.sink.Packets.Load()
	const n = 30000 // 36 MB: more than the loopback socket buffers hold
	var once sync.Once
	release := func() { once.Do(func() { close(srv.hold) }) }
	defer release()
	stalled := false
	i := 1 << 20
	for !p.pkts[(i-1)%len(p.pkts)].Marker {
		i++ // begin at a frame boundary
	}
	first := i
	began := time.Now()
	for k := 0; k < n; k++ {
		p.write(i)
		i++
		// Pace like a camera would when far ahead: never lap the sink.
		for int64(k)-int64(p.sink.Packets.Load()-start) > 64 {
			if time.Since(began) > 300*time.Millisecond {
				stalled = true // the socket took no more: it did block
				release()      // the server reads again
			}
			time.Sleep(100 * time.Microsecond)
			p.alive(t)
			if time.Since(began) > 20*time.Second {
				t.Fatalf("the sink stalled at %d of %d packets", p.sink.Packets.Load()-start, n)
			}
		}
	}
	for !p.pkts[(i-1)%len(p.pkts)].Marker {
		p.write(i) // finish the last frame
		i++
	}
	if !stalled {
		t.Fatal("the socket never filled: the test did not cover a blocked write")
	}
	want := i - first
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		have := len(got)
		mu.Unlock()
		if have >= want+int(start) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if bad != 0 {
		t.Fatalf("%d frames in the server's stream were not whole RTP packets on channel 0", bad)
	}
	if d := p.sink.Dropped.Load(); d != 0 {
		t.Fatalf("the sink dropped %d packets", d)
	}
	// The last want packets are the ones written above, in order.
	if len(got) < want {
		t.Fatalf("the server got %d packets, want at least %d", len(got), want)
	}
	got, seqs = got[len(got)-want:], seqs[len(seqs)-want:]
	for k := range want {
		if k > 0 && seqs[k] != seqs[k-1]+1 {
			t.Fatalf("packet %d: sequence %d after %d", k, seqs[k], seqs[k-1])
		}
		if w := p.pkts[(first+k)%len(p.pkts)].Payload; !bytes.Equal(got[k], w) {
			t.Fatalf("packet %d: %d bytes differ from the %d the camera sent", k, len(got[k]), len(w))
		}
	}
	t.Logf("%d packets through a server that stopped reading for 300 ms: all in order and whole", want)
}

package ring

import (
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/camrelay/camrelay/codec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pkt builds packet i: its payload encodes i so readers can check integrity.
func pkt(i int, size int, sync bool) *codec.Packet {
	p := &codec.Packet{
		Track:          uint8(i % 3),
		PayloadType:    96,
		SequenceNumber: uint16(i),
		Timestamp:      uint32(i * 3600),
		Received:       int64(i) * 1000,
		Payload:        make([]byte, size),
	}
	if sync {
		p.Flags |= codec.FlagSync
	}
	fill(p.Payload, i)
	return p
}

func fill(b []byte, i int) {
	for j := range b {
		b[j] = byte(i + j*7)
	}
	if len(b) >= 4 {
		binary.BigEndian.PutUint32(b, uint32(i))
	}
}

func check(t testing.TB, p *codec.Packet) int {
	t.Helper()
	if len(p.Payload) < 4 {
		t.Fatalf("payload too short: %d", len(p.Payload))
	}
	i := int(binary.BigEndian.Uint32(p.Payload))
	want := make([]byte, len(p.Payload))
	fill(want, i)
	for j := range want {
		if want[j] != p.Payload[j] {
			t.Fatalf("packet %d: payload byte %d is %d, want %d (torn read)", i, j, p.Payload[j], want[j])
		}
	}
	if p.SequenceNumber != uint16(i) || p.Timestamp != uint32(i*3600) || p.Received != int64(i)*1000 || p.Track != uint8(i%3) {
		t.Fatalf("packet %d: header mismatch: %+v", i, p)
	}
	return i
}

func newBuf() *codec.Packet { return &codec.Packet{Payload: make([]byte, codec.MaxPayload)} }

func TestReadBackInOrderAcrossWraps(t *testing.T) {
	r := New(MinSize)
	rd := r.NewReader(NextSync)
	defer rd.Close()
	out := newBuf()
	sizes := []int{4, 1400, 160, 1460, 33, 900}
	for i := 0; i < 2000; i++ {
		r.WritePacket(pkt(i, sizes[i%len(sizes)], i == 0))
		if !rd.TryRead(out) {
			t.Fatalf("packet %d not readable", i)
		}
		if got := check(t, out); got != i {
			t.Fatalf("read packet %d, want %d", got, i)
		}
		if len(out.Payload) != sizes[i%len(sizes)] {
			t.Fatalf("payload length %d, want %d", len(out.Payload), sizes[i%len(sizes)])
		}
		if rd.TryRead(out) {
			t.Fatal("read a packet that was not written")
		}
	}
	if rd.Dropped() != 0 || rd.Laps() != 0 {
		t.Fatalf("dropped %d, laps %d; want none", rd.Dropped(), rd.Laps())
	}
}

func TestNewReaderWaitsForNextSync(t *testing.T) {
	r := New(MinSize)
	r.WritePacket(pkt(0, 100, true))
	r.WritePacket(pkt(1, 100, false))
	rd := r.NewReader(NextSync)
	defer rd.Close()
	out := newBuf()
	r.WritePacket(pkt(2, 100, false))
	if rd.TryRead(out) {
		t.Fatal("reader started before a sync point")
	}
	r.WritePacket(pkt(3, 100, true))
	r.WritePacket(pkt(4, 100, false))
	for _, want := range []int{3, 4} {
		if !rd.TryRead(out) || check(t, out) != want {
			t.Fatalf("want packet %d", want)
		}
	}
	if rd.Dropped() != 0 {
		t.Fatalf("a new reader counted %d drops", rd.Dropped())
	}
}

func TestLatestSyncStartsAtNewestKeyframe(t *testing.T) {
	r := New(MinSize)
	for i := 0; i < 10; i++ {
		r.WritePacket(pkt(i, 100, i%4 == 0))
	}
	rd := r.NewReader(LatestSync)
	defer rd.Close()
	out := newBuf()
	for want := 8; want < 10; want++ {
		if !rd.TryRead(out) || check(t, out) != want {
			t.Fatalf("want packet %d", want)
		}
	}
}

func TestLappedReaderResumesAtNewestKeyframeAndCountsDrops(t *testing.T) {
	r := New(MinSize)
	rd := r.NewReader(NextSync)
	defer rd.Close()
	out := newBuf()
	r.WritePacket(pkt(0, 1000, true))
	if !rd.TryRead(out) || check(t, out) != 0 {
		t.Fatal("want packet 0")
	}
	// Write three arenas' worth, with sync points every 10 packets: the
	// reader is lapped and resumes at the newest sync point still intact.
	n := 3 * MinSize / 1000
	for i := 1; i < n; i++ {
		r.WritePacket(pkt(i, 1000, i%10 == 0))
	}
	newest := (n - 1) / 10 * 10
	for want := newest; want < n; want++ {
		if !rd.TryRead(out) {
			t.Fatalf("want packet %d", want)
		}
		if got := check(t, out); got != want {
			t.Fatalf("got packet %d, want %d", got, want)
		}
	}
	if rd.Laps() != 1 {
		t.Fatalf("laps = %d, want 1", rd.Laps())
	}
	if got, want := rd.Dropped(), uint64(newest-1); got != want {
		t.Fatalf("dropped = %d, want %d", got, want)
	}
}

func TestLappedReaderWaitsWhenNoKeyframeIsLeft(t *testing.T) {
	r := New(MinSize)
	rd := r.NewReader(NextSync)
	defer rd.Close()
	out := newBuf()
	r.WritePacket(pkt(0, 1000, true))
	if !rd.TryRead(out) {
		t.Fatal("want packet 0")
	}
	n := 3 * MinSize / 1000
	for i := 1; i < n; i++ {
		r.WritePacket(pkt(i, 1000, false))
	}
	if rd.TryRead(out) {
		t.Fatalf("lapped reader returned packet %d with no sync point in the ring", check(t, out))
	}
	r.WritePacket(pkt(n, 1000, false))
	r.WritePacket(pkt(n+1, 1000, true))
	if !rd.TryRead(out) || check(t, out) != n+1 {
		t.Fatal("reader did not resume at the next sync point")
	}
	if got, want := rd.Dropped(), uint64(n); got != want {
		t.Fatalf("dropped = %d, want %d", got, want)
	}
}

func TestTracksEpochs(t *testing.T) {
	r := New(MinSize)
	rd := r.NewReader(NextSync)
	defer rd.Close()
	if e := r.SetTracks([]codec.Track{{Kind: codec.KindVideo, Codec: "H264", ClockRate: 90000}}); e != 1 {
		t.Fatalf("first epoch %d", e)
	}
	r.WritePacket(pkt(0, 10, true))
	e2 := r.SetTracks(nil)
	r.WritePacket(pkt(1, 10, false))
	out := newBuf()
	if !rd.TryRead(out) || out.Epoch != 1 {
		t.Fatalf("epoch %d, want 1", out.Epoch)
	}
	if !rd.TryRead(out) || out.Epoch != e2 || e2 != 2 {
		t.Fatalf("epoch %d, want 2", out.Epoch)
	}
	if e, tr := rd.Tracks(); e != 2 || tr != nil {
		t.Fatalf("tracks %d %+v", e, tr)
	}
}

func TestTooBigIsRefusedAndCounted(t *testing.T) {
	r := New(MinSize)
	r.WritePacket(pkt(0, codec.MaxPayload+1, true))
	if r.TooBig() != 1 || r.Packets() != 0 {
		t.Fatalf("tooBig %d packets %d", r.TooBig(), r.Packets())
	}
}

func TestReadyWakesAWaitingReader(t *testing.T) {
	r := New(MinSize)
	rd := r.NewReader(NextSync)
	defer rd.Close()
	done := make(chan int)
	go func() {
		out := newBuf()
		for !rd.TryRead(out) {
			<-rd.Ready()
		}
		done <- check(t, out)
	}()
	r.WritePacket(pkt(7, 50, true))
	select {
	case i := <-done:
		if i != 7 {
			t.Fatalf("got %d", i)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reader was not woken")
	}
}

// TestConcurrentReadersNeverSeeTornPackets runs a writer flat out against
// readers of different speeds. Every packet a reader returns must be intact
// and in order; gaps are allowed only where the reader counted drops.
func TestConcurrentReadersNeverSeeTornPackets(t *testing.T) {
	t.Run("fixed", func(t *testing.T) { concurrentReaders(t, New(MinSize)) })
	// The slow reader makes the arena grow while the others read it.
	t.Run("growing", func(t *testing.T) {
		r := New(16 * InitialSize)
		concurrentReaders(t, r)
		if r.Grows() == 0 {
			t.Error("the arena never grew")
		}
	})
}

func concurrentReaders(t *testing.T, r *Ring) {
	const total = 200000
	var wg sync.WaitGroup
	readers := 4
	errs := make(chan string, readers)
	start := make(chan struct{})
	for k := 0; k < readers; k++ {
		rd := r.NewReader(NextSync)
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			defer rd.Close()
			out := newBuf()
			last := -1
			first := -1
			got := 0
			<-start
			for last < total-1 {
				if !rd.TryRead(out) {
					select {
					case <-rd.Ready():
					case <-time.After(time.Second):
						errs <- "reader stuck"
						return
					}
					continue
				}
				i := check(t, out)
				if i <= last {
					errs <- "packet out of order"
					return
				}
				last = i
				if first < 0 {
					first = i
				}
				got++
				if k == 3 && i%1000 == 0 {
					time.Sleep(2 * time.Millisecond) // a slow sink: gets lapped
				}
			}
			// A reader starts at the newest sync point it finds, so count
			// from the first packet it returned.
			if uint64(got)+rd.Dropped() != uint64(total-first) {
				errs <- fmt.Sprintf("read %d + dropped %d != written %d (laps %d)", got, rd.Dropped(), total-first, rd.Laps())
			}
		}(k)
	}
	close(start)
	for i := 0; i < total; i++ {
		r.WritePacket(pkt(i, 64+(i*37)%1300, i%50 == 0 || i == total-1))
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestNoAllocationsPerPacket(t *testing.T) {
	r := New(MinSize)
	rd := r.NewReader(NextSync)
	defer rd.Close()
	in := pkt(0, 1200, true)
	out := newBuf()
	allocs := testing.AllocsPerRun(1000, func() {
		r.WritePacket(in)
		if !rd.TryRead(out) {
			t.Fatal("no packet")
		}
		in.Flags = 0
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per packet, want 0", allocs)
	}
}

// Readers are woken once a frame is complete, not for every packet of a
// frame: a sink then writes each frame in one go. A frame is complete at
// its marker or, for cameras that never set one, when the next access unit
// begins: the reader is woken before that packet is written, so it finds
// the finished frame and not the first packet of the next.
// isWoken reports (and consumes) a pending wake-up of rd.
func isWoken(rd *Reader) bool {
	select {
	case <-rd.Ready():
		return true
	default:
		return false
	}
}

func TestWakesPerFrameNotPerPacket(t *testing.T) {
	r := New(MinSize)
	r.SetTracks([]codec.Track{{Kind: codec.KindVideo}, {Kind: codec.KindAudio}})
	rd := r.NewReader(NextSync)
	defer rd.Close()
	woken := func() bool { return isWoken(rd) }
	woken() // SetTracks
	p := &codec.Packet{Timestamp: 3600, Payload: make([]byte, 100)}
	for i := 0; i < 5; i++ {
		r.WritePacket(p)
	}
	if woken() {
		t.Fatal("packets in the middle of a frame woke the reader")
	}
	p.Flags = codec.FlagMarker
	r.WritePacket(p)
	if !woken() {
		t.Fatal("the frame's last packet did not wake the reader")
	}
	// A camera that sets no marker: the next timestamp ends the frame.
	p.Flags = 0
	p.Timestamp = 7200
	r.WritePacket(p)
	r.WritePacket(p)
	if woken() {
		t.Fatal("the first packets of a frame woke the reader")
	}
	p.Timestamp = 10800
	r.WritePacket(p)
	if !woken() {
		t.Fatal("the next access unit did not wake the reader for the finished one")
	}
	// Audio packets are units of their own.
	a := &codec.Packet{Track: 1, Timestamp: 8000, Payload: make([]byte, 100)}
	woken()
	r.WritePacket(a)
	if !woken() {
		t.Fatal("an audio packet did not wake the reader")
	}
	p.Timestamp = 14400
	for i := 0; i < wakeBatch-1; i++ {
		r.WritePacket(p)
		if woken() {
			t.Fatalf("packet %d of a frame without a marker woke the reader", i)
		}
	}
	r.WritePacket(p)
	if !woken() {
		t.Fatalf("%d packets without a marker did not wake the reader", wakeBatch)
	}
}

// An inline drain runs on the writer's goroutine when a frame is complete,
// with the reader's lock held; a drain that returns false, or a lock held
// by the reader's own goroutine, wakes the reader instead.
func TestInlineDrain(t *testing.T) {
	r := New(MinSize)
	rd := r.NewReader(NextSync)
	defer rd.Close()
	out := newBuf()
	var got []int
	finish := true
	rd.SetInline(func() bool {
		if rd.mu.TryLock() {
			t.Error("the inline drain ran without the reader's lock")
		}
		for rd.TryRead(out) {
			got = append(got, check(t, out))
		}
		return finish
	})
	woken := func() bool { return isWoken(rd) }
	frame := func(first int, n int) {
		for i := 0; i < n; i++ {
			p := pkt(first+i, 100, i == 0)
			if i == n-1 {
				p.Flags |= codec.FlagMarker
			}
			r.WritePacket(p)
		}
	}
	frame(0, 3)
	if len(got) != 3 || woken() {
		t.Fatalf("inline drain read %v, woken %v: want 3 packets and no wake-up", got, woken())
	}
	finish = false
	frame(3, 2)
	if len(got) != 5 || !woken() {
		t.Fatalf("a drain that left work: read %v, want 5 packets and a wake-up", got)
	}
	rd.Lock() // the reader's goroutine is busy: the writer must not wait
	frame(5, 2)
	rd.Unlock()
	if len(got) != 5 || !woken() {
		t.Fatalf("with the lock held: read %v, want no inline read and a wake-up", got)
	}
	rd.SetInline(nil)
	frame(7, 2)
	if len(got) != 5 || !woken() {
		t.Fatalf("after SetInline(nil): read %v, want no inline read and a wake-up", got)
	}
}

// TryReadAppend reads a packet onto the end of a buffer.
func TestTryReadAppend(t *testing.T) {
	r := New(MinSize)
	rd := r.NewReader(NextSync)
	defer rd.Close()
	r.WritePacket(pkt(0, 100, true))
	r.WritePacket(pkt(1, 200, false))
	buf := make([]byte, 3, 3+2*codec.MaxPayload)
	copy(buf, "hdr")
	var p codec.Packet
	buf, ok := rd.TryReadAppend(buf, &p)
	if !ok || len(buf) != 103 || string(buf[:3]) != "hdr" || &p.Payload[0] != &buf[3] {
		t.Fatalf("first append: ok %v, len %d", ok, len(buf))
	}
	first := check(t, &p)
	buf = buf[:3] // the sink cut it back (a packet it skips)
	buf, ok = rd.TryReadAppend(buf, &p)
	if !ok || len(buf) != 203 || first != 0 || check(t, &p) != 1 {
		t.Fatalf("second append: ok %v, len %d, packets %d %d", ok, len(buf), first, check(t, &p))
	}
	if _, ok := rd.TryReadAppend(buf, &p); ok {
		t.Fatal("read a packet that was never written")
	}
}

// A source session that has begun (SetTracks) but sent no keyframe yet
// while a keyframe of the older session is still in the ring: a reader that
// resyncs must wait for a keyframe of the new session, not get the old one
// back at once (a sink that checks the epoch and resyncs again would spin).
func TestResyncWaitsForKeyframeOfCurrentSession(t *testing.T) {
	for name, start := range map[string]StartAt{"NextSync": NextSync, "LatestSync": LatestSync} {
		t.Run(name, func(t *testing.T) {
			r := New(MinSize)
			r.SetTracks(nil)
			r.WritePacket(pkt(0, 100, true))
			r.WritePacket(pkt(1, 100, false))
			e2 := r.SetTracks(nil) // the camera reconnected: no keyframe yet
			r.WritePacket(pkt(2, 100, false))
			rd := r.NewReader(start)
			defer rd.Close()
			out := newBuf()
			for range 3 {
				rd.Resync()
				if rd.TryRead(out) {
					t.Fatalf("resync read packet %d of epoch %d before any keyframe of epoch %d", check(t, out), out.Epoch, e2)
				}
			}
			r.WritePacket(pkt(3, 100, true))
			select {
			case <-rd.Ready():
			default:
				t.Fatal("the new session's keyframe did not wake the reader")
			}
			if !rd.TryRead(out) || check(t, out) != 3 || out.Epoch != e2 {
				t.Fatalf("after the new keyframe: packet %d epoch %d, want 3 of epoch %d", check(t, out), out.Epoch, e2)
			}
			// A keyframe of the current session is found at once.
			r.WritePacket(pkt(4, 100, false))
			rd.Resync()
			if !rd.TryRead(out) || check(t, out) != 3 {
				t.Fatalf("resync in the current session: packet %d, want 3", check(t, out))
			}
		})
	}
}

// The arena starts small and stays so while readers keep up; a reader that
// falls behind makes it double before it loses anything, up to the size
// asked for; only then is it lapped.
func TestArenaGrowsBeforeAReaderIsLapped(t *testing.T) {
	r := New(4 * InitialSize)
	if r.Size() != InitialSize || r.MaxSize() != 4*InitialSize {
		t.Fatalf("size %d, max %d: want %d growing to %d", r.Size(), r.MaxSize(), InitialSize, 4*InitialSize)
	}
	rd := r.NewReader(NextSync)
	defer rd.Close()
	out := newBuf()
	next := 0
	write := func(n int) {
		for range n {
			p := pkt(next, 1000, next%100 == 0)
			p.Flags |= codec.FlagMarker // a frame per packet: every write wakes
			r.WritePacket(p)
			next++
		}
	}
	read := 0
	drain := func() {
		for rd.TryRead(out) {
			if i := check(t, out); i != read {
				t.Fatalf("read packet %d, want %d", i, read)
			}
			read++
		}
	}
	// A reader that keeps up: 10 arenas' worth, never grown.
	for range 300 {
		write(1)
		drain()
	}
	if r.Grows() != 0 {
		t.Fatalf("grew %d times for a reader that kept up", r.Grows())
	}
	// A reader that stops: the arena doubles twice; everything written is
	// still there to read, in order, across both growths.
	write(110) // 110 KB: more than 3 x 32 KiB
	if r.Size() != 4*InitialSize || r.Grows() != 2 {
		t.Fatalf("size %d after %d growths, want %d after 2", r.Size(), r.Grows(), 4*InitialSize)
	}
	drain()
	if read != next || rd.Dropped() != 0 {
		t.Fatalf("read %d of %d, dropped %d", read, next, rd.Dropped())
	}
	// At its largest, a reader that stops is lapped as before.
	write(400)
	for rd.TryRead(out) {
	}
	if rd.Laps() == 0 || rd.Dropped() == 0 || r.Size() != 4*InitialSize {
		t.Fatalf("laps %d, dropped %d, size %d: want a lap at the largest size", rd.Laps(), rd.Dropped(), r.Size())
	}
}

// Two growths in quick succession: the second copies only what the first
// arena held, so a reader that was lapped before the first growth (it was
// untracked, and nothing asked the arena to keep its packets) is found lapped,
// never handed the never-written bytes of the arena in between.
func TestSecondGrowthDoesNotResurrectLostPackets(t *testing.T) {
	r := New(4 * InitialSize)
	paused := r.NewReader(NextSync)
	defer paused.Close()
	active := r.NewReader(NextSync)
	defer active.Close()
	out := newBuf()
	next := 0
	write := func(n int, drain bool) {
		for range n {
			p := pkt(next, 1000-hdrLen, next%10 == 0)
			p.Flags |= codec.FlagMarker
			r.WritePacket(p)
			next++
			for drain && active.TryRead(out) {
				check(t, out)
			}
		}
	}
	write(1, true)
	if !paused.TryRead(out) {
		t.Fatal("no first packet")
	}
	paused.at.Store(0) // untracked, as a reader waiting for a sync point is
	write(24, true)    // 25 KB: the paused reader's next packet is still there
	write(9, false)    // the active reader falls so far behind that a wake batch could lap it: 64 KiB
	write(24, false)   // and half of that: 128 KiB, 24 KB after the first
	if r.Grows() != 2 {
		t.Fatalf("%d growths, want 2", r.Grows())
	}
	for paused.TryRead(out) {
		check(t, out) // a torn or zeroed packet fails here
	}
	if paused.Laps() == 0 {
		t.Fatal("the paused reader lost 8 KB before the first growth but was not lapped")
	}
	for active.TryRead(out) {
		check(t, out)
	}
	if active.Dropped() != 0 {
		t.Fatalf("the active reader dropped %d packets", active.Dropped())
	}
}

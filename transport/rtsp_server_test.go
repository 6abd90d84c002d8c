package transport

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"go.uber.org/goleak"

	"github.com/camrelay/camrelay/codec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// memRing is a test stand-in for relay's ring: an unbounded queue that is a
// PacketWriter and a PacketReader.
type memRing struct {
	mu     sync.Mutex
	pkts   []codec.Packet
	pos    int
	epoch  uint32
	tracks []codec.Track
	ready  chan struct{}
	// reads and waits count TryRead and Ready calls (a reader that waits
	// calls Ready, one that spins does not); readsAtWait is reads at the
	// last Ready call.
	reads, waits, readsAtWait atomic.Int64
}

func newMemRing() *memRing { return &memRing{ready: make(chan struct{}, 1)} }

func (m *memRing) SetTracks(t []codec.Track) uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.epoch++
	m.tracks = t
	return m.epoch
}

func (m *memRing) WritePacket(p *codec.Packet) {
	m.mu.Lock()
	c := *p
	c.Epoch = m.epoch
	c.Payload = append([]byte(nil), p.Payload...)
	m.pkts = append(m.pkts, c)
	m.mu.Unlock()
	select {
	case m.ready <- struct{}{}:
	default:
	}
}

func (m *memRing) TryRead(p *codec.Packet) bool {
	m.reads.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pos >= len(m.pkts) {
		return false
	}
	c := m.pkts[m.pos]
	m.pos++
	payload := append(p.Payload[:0], c.Payload...)
	*p = c
	p.Payload = payload
	return true
}

func (m *memRing) TryReadAppend(dst []byte, p *codec.Packet) ([]byte, bool) {
	m.reads.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pos >= len(m.pkts) {
		return dst, false
	}
	c := m.pkts[m.pos]
	m.pos++
	n := len(dst)
	dst = append(dst, c.Payload...)
	*p = c
	p.Payload = dst[n:]
	return dst, true
}

func (m *memRing) Ready() <-chan struct{} {
	m.readsAtWait.Store(m.reads.Load())
	m.waits.Add(1)
	return m.ready
}
func (m *memRing) Tracks() (uint32, []codec.Track) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.epoch, m.tracks
}
func (m *memRing) Resync() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.pkts) - 1; i >= 0; i-- {
		if m.pkts[i].Flags&codec.FlagSync != 0 {
			m.pos = i
			return
		}
	}
	m.pos = len(m.pkts)
}
func (m *memRing) Dropped() uint64 { return 0 }

// h264Frames makes n tiny frames of a fake H.264 stream: an SPS+IDR every
// 10 frames, P slices otherwise.
func feedH264(ctx context.Context, in *Ingest) {
	sps := []byte{0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x47, 0xfe, 0xc8}
	pps := []byte{0x68, 0xce, 0x3c, 0x80}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	seq := uint16(0)
	for i := 0; ; i++ {
		var nals [][]byte
		if i%10 == 0 {
			nals = [][]byte{sps, pps, {0x65, 0x88, 0x84, 0x00, 0x10}}
		} else {
			nals = [][]byte{{0x41, 0x9a, 0x02, byte(i)}}
		}
		for j, n := range nals {
			in.WriteRTP(0, &rtp.Packet{Header: rtp.Header{PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(i * 3600), Marker: j == len(nals)-1}, Payload: n}, codec.Now())
			seq++
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func TestRTSPServerServesOnDemand(t *testing.T) {
	var demanded, released atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	srv := &RTSPServer{Listen: "127.0.0.1:0", User: "mtx", Pass: "pull-secret",
		Demand: func(dctx context.Context, path string) (PacketReader, func(), error) {
			if path != "site/cam" {
				return nil, nil, ErrUnknownPath
			}
			demanded.Add(1)
			r := newMemRing()
			in := NewIngest(r, nil)
			in.Begin([]codec.Track{{Kind: codec.KindVideo, Codec: "H264", ClockRate: 90000, PayloadType: 96, RTPMap: "H264/90000", FMTP: map[string]string{"packetization-mode": "1"}}})
			fctx, fcancel := context.WithCancel(ctx)
			wg.Add(1)
			go func() { defer wg.Done(); feedH264(fctx, in) }()
			return r, func() { released.Add(1); fcancel() }, nil
		}}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	r := &RTSPReader{URL: "rtsp://mtx:pull-secret@" + srv.Addr() + "/site/cam"}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.Stats().Frames < 20 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if s := r.Stats(); s.Frames < 20 || len(s.Tracks) != 1 || s.Tracks[0].Codec != "H264" {
		t.Fatalf("reader stats %+v", s)
	}
	r.Close()
	deadline = time.Now().Add(5 * time.Second)
	for released.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if demanded.Load() != 1 || released.Load() != 1 {
		t.Fatalf("demanded %d released %d, want 1 and 1", demanded.Load(), released.Load())
	}

	bad := &RTSPReader{URL: "rtsp://mtx:wrong@" + srv.Addr() + "/site/cam"}
	if err := bad.Start(ctx); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong password: %v", err)
	}
	unknown := &RTSPReader{URL: "rtsp://mtx:pull-secret@" + srv.Addr() + "/other"}
	var se *StatusError
	if err := unknown.Start(ctx); !errors.As(err, &se) || se.Code != 404 {
		t.Fatalf("unknown path: %v", err)
	}
}

package bench

import (
	"context"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/camrelay/camrelay/bench/camsim"
	"github.com/camrelay/camrelay/codec"
	"github.com/camrelay/camrelay/relay/ring"
	"github.com/camrelay/camrelay/transport"
)

const clip720 = "../testdata/clips/h264_1280x720_25.h264"

var h264Track = []codec.Track{{Kind: codec.KindVideo, Codec: "H264", ClockRate: 90000, PayloadType: 96, RTPMap: "H264/90000",
	FMTP: map[string]string{"packetization-mode": "1"}}}

// copyPath is camrelay's copy path for one camera, in-process: an Ingest
// (what a source runs per packet) writing a ring, and an RTSPPublisher
// reading it and writing to a real TCP socket.
type copyPath struct {
	ring       *ring.Ring
	in         *transport.Ingest
	src        transport.SourceStats
	sink       transport.SinkStats
	cancel     context.CancelFunc
	done       chan error
	pkts       []rtp.Packet
	tsPerLoop  uint32
	seqPerLoop uint16
}

func newCopyPath(b testing.TB) *copyPath {
	b.Helper()
	return newCopyPathTo(b, startDiscardServer(b))
}

func newCopyPathTo(b testing.TB, srv *discardServer) *copyPath {
	b.Helper()
	clip, err := camsim.LoadClip(clip720, 25)
	if err != nil {
		b.Fatal(err)
	}
	p := &copyPath{ring: ring.New(ring.DefaultSize), done: make(chan error, 1)}
	p.pkts = PacketizeClip(clip, 1400)
	p.tsPerLoop = uint32(clip.Frames()) * 3600
	p.seqPerLoop = uint16(len(p.pkts))
	p.in = transport.NewIngest(p.ring, &p.src)
	p.in.Begin(h264Track)
	pub := &transport.RTSPPublisher{URL: srv.url("bench"), Stats: &p.sink}
	rd := p.ring.NewReader(ring.NextSync)
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() {
		defer rd.Close()
		p.done <- pub.Run(ctx, rd)
	}()
	b.Cleanup(func() {
		p.cancel()
		if err := <-p.done; err != nil {
			b.Errorf("publisher: %v", err)
		}
	})
	return p
}

// write sends packet i of an endless loop over the clip, with timestamps
// and sequence numbers that keep increasing like a camera's.
func (p *copyPath) write(i int) {
	n := len(p.pkts)
	pkt := p.pkts[i%n]
	loop := uint32(i / n)
	pkt.Timestamp += loop * p.tsPerLoop
	pkt.SequenceNumber += uint16(loop) * p.seqPerLoop
	p.in.WriteRTP(0, &pkt, codec.Now())
}

// alive fails the benchmark if the publisher has stopped.
func (p *copyPath) alive(b testing.TB) {
	select {
	case err := <-p.done:
		p.done <- err
		b.Fatalf("publisher stopped: %v", err)
	default:
	}
}

func (p *copyPath) waitSession(b testing.TB) {
	for i := 0; p.sink.Sessions.Load() == 0; i++ {
		p.write(i) // the first packet is a keyframe: the publisher connects
		time.Sleep(time.Millisecond)
		if i > 5000 {
			b.Fatal("publisher did not connect")
		}
	}
}

// BenchmarkCopyPath is one camera packet through camrelay: Ingest, ring,
// publisher (rebasing, RTP header, batching) and the write to a loopback
// TCP socket, at full speed with the sink keeping up. ns/op and allocs/op
// are per packet.
func BenchmarkCopyPath(b *testing.B) {
	p := newCopyPath(b)
	p.waitSession(b)
	base := p.sink.Packets.Load()
	dropped := p.sink.Dropped.Load()
	b.ReportAllocs()
	b.SetBytes(1200)
	b.ResetTimer()
	cpu := processCPU()
	i := 1 << 20 // far from the warm-up packets
	for n := 0; n < b.N; n++ {
		p.write(i + n)
		// Backpressure, as a camera's pacing would give: never lap the sink.
		for int64(n)-int64(p.sink.Packets.Load()-base) > 64 {
			p.alive(b)
			runtime.Gosched()
		}
	}
	// A sink reads a frame once it is complete: finish the last one.
	for n := b.N; !p.pkts[(i+n-1)%len(p.pkts)].Marker; n++ {
		p.write(i + n)
	}
	for p.sink.Packets.Load()-base+p.sink.Dropped.Load()-dropped < uint64(b.N) {
		p.alive(b)
		runtime.Gosched()
	}
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
	if d := p.sink.Dropped.Load() - dropped; d != 0 {
		b.Fatalf("sink dropped %d packets", d)
	}
}

// BenchmarkCopyLatency is latency per frame on the copy path: from the
// frame's last packet entering camrelay (as read off the camera socket) to
// it being written to the server socket. Frames arrive every 2 ms, each as a
// burst of its packets like a camera's TCP stream. It reports p50 and p99.
func BenchmarkCopyLatency(b *testing.B) {
	p := newCopyPath(b)
	p.waitSession(b)
	before := p.sink.Latency.Snapshot()
	frames := 0
	i := 1 << 20
	// start at a frame boundary
	for !p.pkts[(i-1)%len(p.pkts)].Marker {
		i++
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	next := time.Now()
	for n := 0; n < b.N; n++ {
		for {
			p.write(i)
			i++
			if p.pkts[(i-1)%len(p.pkts)].Marker {
				break
			}
		}
		frames++
		next = next.Add(2 * time.Millisecond)
		time.Sleep(time.Until(next))
	}
	// A flush that carries two frames records one latency: wait for most.
	deadline := time.Now().Add(5 * time.Second)
	for p.sink.Latency.Count()-before.Count < uint64(frames)*9/10 && time.Now().Before(deadline) {
		p.alive(b)
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	lat := p.sink.Latency.Snapshot().Sub(before)
	if lat.Count == 0 {
		b.Fatal("no latency recorded")
	}
	b.ReportMetric(float64(lat.Quantile(0.5).Nanoseconds()), "p50-ns/frame")
	b.ReportMetric(float64(lat.Quantile(0.99).Nanoseconds()), "p99-ns/frame")
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/frame")
	b.ReportMetric(0, "ns/op")
}

// processCPU is the CPU time (user and system) the process has used, in
// ns: benchmarks report it per op beside the wall time, which on a
// throughput benchmark with two cores also counts what runs in parallel.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

package camsim

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// frameRig is a camera without a clock and n sessions whose clients drain
// what they get, so that sendFrame can be driven and measured alone.
type frameRig struct {
	cam  *Camera
	stop func()
}

func newFrameRig(tb testing.TB, clip string, n int, tcp bool) *frameRig {
	tb.Helper()
	return newFrameRigConfig(tb, CameraConfig{Path: "cam", Clip: clip}, n, tcp)
}

func newFrameRigConfig(tb testing.TB, cfg CameraConfig, n int, tcp bool) *frameRig {
	tb.Helper()
	s := &Server{log: slog.New(slog.DiscardHandler), writeTimeout: 2 * time.Second}
	cam, err := s.AddCamera(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	var closers []io.Closer
	var wg sync.WaitGroup
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	closers = append(closers, ln)
	s.udpRTP, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	closers = append(closers, s.udpRTP)
	for i := range n {
		ss := &session{id: "s", cam: cam, tcp: tcp}
		ss.tracks[0].on = true
		if tcp {
			cl, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				tb.Fatal(err)
			}
			sc, err := ln.Accept()
			if err != nil {
				tb.Fatal(err)
			}
			closers = append(closers, cl, sc)
			wg.Go(func() { _, _ = io.Copy(io.Discard, cl) })
			ss.c = &rtspConn{s: s, nc: sc}
			ss.tracks[0].ch = byte(2 * (i % 2)) // exercise the channel rewrite
		} else {
			sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				tb.Fatal(err)
			}
			closers = append(closers, sink)
			wg.Go(func() {
				buf := make([]byte, 2048)
				for {
					if _, _, err := sink.ReadFromUDPAddrPort(buf); err != nil {
						return
					}
				}
			})
			ss.tracks[0].rtp = sink.LocalAddr().(*net.UDPAddr).AddrPort()
			ss.tracks[0].rtp = netip.AddrPortFrom(ss.tracks[0].rtp.Addr().Unmap(), ss.tracks[0].rtp.Port())
		}
		cam.sessions = append(cam.sessions, ss)
	}
	return &frameRig{cam: cam, stop: func() {
		for _, c := range closers {
			c.Close()
		}
		wg.Wait()
	}}
}

func (r *frameRig) frame() {
	r.cam.smu.Lock()
	r.cam.sendFrame()
	r.cam.st.n++
	r.cam.smu.Unlock()
}

// TestSendFrameAllocs holds the per-frame path to zero allocations once its
// buffers have grown: benchmarks run hundreds of cameras on two cores.
func TestSendFrameAllocs(t *testing.T) {
	for _, tcp := range []bool{true, false} {
		r := newFrameRig(t, clip320, 2, tcp)
		for range 2 * r.cam.clip.Frames() {
			r.frame()
		}
		if a := testing.AllocsPerRun(r.cam.clip.Frames(), r.frame); a != 0 {
			t.Errorf("tcp=%v: %.1f allocations per frame", tcp, a)
		}
		r.stop()
	}
}

func BenchmarkSendFrame(b *testing.B) {
	for _, bc := range []struct {
		name string
		clip string
		n    int
		tcp  bool
	}{
		{"320x240/tcp/1", clip320, 1, true},
		{"320x240/tcp/4", clip320, 4, true},
		{"320x240/udp/1", clip320, 1, false},
		{"1280x720/tcp/1", clip720, 1, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := newFrameRig(b, bc.clip, bc.n, bc.tcp)
			defer r.stop()
			b.ReportAllocs()
			for b.Loop() {
				r.frame()
			}
		})
	}
}

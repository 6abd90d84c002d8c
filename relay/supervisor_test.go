package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camrelay/camrelay/internal/testenv/loopback"

	"go.uber.org/goleak"

	"github.com/camrelay/camrelay/codec"
	"github.com/camrelay/camrelay/relay/config"
	"github.com/camrelay/camrelay/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeSource writes a packet every millisecond; it can be told to panic or
// fail.
type fakeSource struct {
	stats  *transport.SourceStats
	panics atomic.Int32 // panic on the next N runs
	fail   error
	runs   atomic.Int32
}

func (f *fakeSource) Run(ctx context.Context, w transport.PacketWriter) error {
	f.runs.Add(1)
	if f.panics.Load() > 0 {
		f.panics.Add(-1)
		panic("boom: a bug in one camera's source")
	}
	if f.fail != nil {
		return f.fail
	}
	w.SetTracks([]codec.Track{{Kind: codec.KindVideo, Codec: "H264", ClockRate: 90000, PayloadType: 96}})
	p := codec.Packet{Payload: make([]byte, 100), Flags: codec.FlagSync | codec.FlagMarker}
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		p.SequenceNumber = uint16(i)
		p.Received = codec.Now()
		f.stats.Packets.Add(1)
		f.stats.Frames.Add(1)
		f.stats.Last.Store(p.Received)
		w.WritePacket(&p)
	}
}

type fakeSink struct {
	stats *transport.SinkStats
	got   atomic.Uint64
	fail  error // returned by every Run, when set
}

func (f *fakeSink) Run(ctx context.Context, r transport.PacketReader) error {
	if f.fail != nil {
		return f.fail
	}
	f.stats.Sessions.Add(1)
	p := codec.Packet{Payload: make([]byte, codec.MaxPayload)}
	for {
		for r.TryRead(&p) {
			f.got.Add(1)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.Ready():
		}
	}
}

type fakes struct {
	sources map[string]*fakeSource
	sinks   map[string]*fakeSink
}

func newSupervisor(t *testing.T, setup func(name string, s *fakeSource)) (*Supervisor, *fakes) {
	t.Helper()
	f := &fakes{sources: map[string]*fakeSource{}, sinks: map[string]*fakeSink{}}
	s := &Supervisor{
		Log:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		BackoffMin: 10 * time.Millisecond,
		BackoffMax: 50 * time.Millisecond,
		NewSource: func(cam config.Camera, st *transport.SourceStats, _ *slog.Logger) (Source, error) {
			src := &fakeSource{stats: st}
			if setup != nil {
				setup(cam.Name, src)
			}
			f.sources[cam.Name] = src
			return src, nil
		},
		NewSink: func(cam config.Camera, st *transport.SinkStats, _ *slog.Logger) (Sink, error) {
			k := &fakeSink{stats: st}
			f.sinks[cam.Name] = k
			return k, nil
		},
	}
	s.Start()
	t.Cleanup(s.Close)
	return s, f
}

func cam(name string) config.Camera {
	return config.Camera{Name: name, Path: name, Source: "rtsp://u:secret@cam/" + name, Output: "rtsp://relay:pw@mtx/" + name}
}

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPanickingCameraIsRestartedAndOthersKeepStreaming(t *testing.T) {
	s, f := newSupervisor(t, func(name string, src *fakeSource) {
		if name == "bad" {
			src.panics.Store(3)
		}
	})
	for _, n := range []string{"good", "bad"} {
		if err := s.Add(cam(n)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "bad camera to recover after its panics", func() bool {
		return f.sources["bad"].runs.Load() >= 4 && f.sinks["bad"].got.Load() > 10
	})
	before := f.sinks["good"].got.Load()
	eventually(t, "good camera to keep streaming", func() bool { return f.sinks["good"].got.Load() > before+20 })
	if n := f.sources["good"].runs.Load(); n != 1 {
		t.Fatalf("good camera was restarted %d times", n-1)
	}
	st, _ := s.CameraStatus("bad")
	if st.Reconnects < 3 {
		t.Fatalf("reconnects = %d, want >= 3", st.Reconnects)
	}
}

// A failing source and sink return errors the way libraries write them: the
// camera's and MediaMTX's passwords in clear, inside URLs and on their own.
// The supervisor must not pass them on, in the status or in its log.
func TestFailingCameraBacksOffWithRedactedError(t *testing.T) {
	const camPass, mtxPass = "cam-Pa55word", "mtx-Pa55word"
	c := config.Camera{Name: "x", Path: "x", Source: "rtsp://u:" + camPass + "@cam/x", Output: "rtsp://relay:" + mtxPass + "@mtx/x"}
	srcErr := fmt.Errorf("describe %s: 401 Unauthorized (digest: user u, password %q)", c.Source, camPass)
	sinkErr := fmt.Errorf("announce %s: dial tcp 127.0.0.1:8554: connection refused; auth user=relay pass=%s", c.Output, mtxPass)
	for _, e := range []error{srcErr, sinkErr} {
		if !strings.Contains(e.Error(), camPass) && !strings.Contains(e.Error(), mtxPass) {
			t.Fatalf("the test's error %q carries no raw secret", e)
		}
	}
	var logs loopback.Buffer
	s := &Supervisor{
		Log:        slog.New(slog.NewTextHandler(&logs, nil)),
		BackoffMin: 10 * time.Millisecond,
		BackoffMax: 50 * time.Millisecond,
		NewSource: func(_ config.Camera, st *transport.SourceStats, _ *slog.Logger) (Source, error) {
			return &fakeSource{stats: st, fail: srcErr}, nil
		},
		NewSink: func(_ config.Camera, st *transport.SinkStats, _ *slog.Logger) (Sink, error) {
			return &fakeSink{stats: st, fail: sinkErr}, nil
		},
	}
	s.Start()
	t.Cleanup(s.Close)
	if err := s.Add(c); err != nil {
		t.Fatal(err)
	}
	eventually(t, "backoff state of source and sink", func() bool {
		st, _ := s.CameraStatus("x")
		return st.State == StateBackoff && st.LastError != "" && st.Sink.State == SinkBackoff && st.Sink.LastError != ""
	})
	st, _ := s.CameraStatus("x")
	js, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{camPass, mtxPass} {
		if strings.Contains(string(js), secret) {
			t.Errorf("status leaks the credential %q: %s", secret, js)
		}
		if strings.Contains(logs.String(), secret) {
			t.Errorf("log leaks the credential %q:\n%s", secret, logs.String())
		}
	}
	// Still useful: the failure and the account are named.
	if !strings.Contains(st.LastError, "401 Unauthorized") || !strings.Contains(st.LastError, "rtsp://u:***@cam/x") {
		t.Errorf("source error %q lost what failed", st.LastError)
	}
	if !strings.Contains(st.Sink.LastError, "connection refused") || !strings.Contains(st.Sink.LastError, "rtsp://relay:***@mtx/x") {
		t.Errorf("sink error %q lost what failed", st.Sink.LastError)
	}
}

func TestStatusReportsStreamingAndRates(t *testing.T) {
	s, _ := newSupervisor(t, nil)
	if err := s.Add(cam("a")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "streaming and publishing", func() bool {
		st, _ := s.CameraStatus("a")
		return st.State == StateStreaming && st.Sink.State == SinkPublishing && st.Packets > 0
	})
	eventually(t, "a frame rate (measured over the sampler's one-second ticks)", func() bool {
		st, _ := s.CameraStatus("a")
		return st.FPS > 0
	})
	st, _ := s.CameraStatus("a")
	if st.FPS < 500 || len(st.Tracks) != 1 || st.Tracks[0] != "video H264/90000" {
		t.Fatalf("status %+v", st)
	}
}

func TestApplyRestartsOnlyChangedCameras(t *testing.T) {
	s, f := newSupervisor(t, nil)
	a, b, c := cam("a"), cam("b"), cam("c")
	if err := s.Apply([]config.Camera{a, b}); err != nil {
		t.Fatal(err)
	}
	srcA := f.sources["a"]
	b.Transport = "tcp"
	if err := s.Apply([]config.Camera{a, b, c}); err != nil {
		t.Fatal(err)
	}
	if f.sources["a"] != srcA {
		t.Fatal("unchanged camera a was rebuilt")
	}
	if got := s.Names(); strings.Join(got, ",") != "a,b,c" {
		t.Fatalf("cameras %v", got)
	}
	if err := s.Apply([]config.Camera{c}); err != nil {
		t.Fatal(err)
	}
	if got := s.Names(); strings.Join(got, ",") != "c" {
		t.Fatalf("cameras %v", got)
	}
	if err := s.Add(c); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate add: %v", err)
	}
	if err := s.Remove("zz"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("remove unknown: %v", err)
	}
}

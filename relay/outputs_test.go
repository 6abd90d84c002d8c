package relay

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camrelay/camrelay/codec"
	"github.com/camrelay/camrelay/relay/config"
	"github.com/camrelay/camrelay/transport"
)

// seqSink reads every packet and checks that sequence numbers follow each
// other: a gap is a packet this output lost.
type seqSink struct {
	stats *transport.SinkStats
	got   atomic.Uint64
	gaps  atomic.Uint64
	// frozen, while set, makes Run stop reading (a server that accepts
	// nothing more: the sink's writes block) and then fail, as a write
	// deadline would.
	frozen atomic.Bool
}

func (s *seqSink) Run(ctx context.Context, r transport.PacketReader) error {
	if s.frozen.Load() {
		select { // connecting to a stopped server: no answer
		case <-ctx.Done():
			return nil
		case <-time.After(20 * time.Millisecond):
			return errors.New("announce: read tcp 127.0.0.1:1->127.0.0.1:8555: i/o timeout")
		}
	}
	r.Resync()
	s.stats.Sessions.Add(1)
	p := codec.Packet{Payload: make([]byte, codec.MaxPayload)}
	first := true
	var last uint16
	dropped := r.Dropped()
	for {
		for r.TryRead(&p) {
			if !first && p.SequenceNumber != last+1 {
				s.gaps.Add(1)
			}
			first, last = false, p.SequenceNumber
			s.got.Add(1)
			s.stats.Packets.Add(1)
		}
		if d := r.Dropped(); d != dropped {
			s.stats.Dropped.Add(d - dropped)
			dropped = d
		}
		if s.frozen.Load() {
			select { // blocked in a write for a while: the ring laps the reader
			case <-ctx.Done():
				return nil
			case <-time.After(300 * time.Millisecond):
			}
			r.TryRead(&p) // lapped: skips to a sync point, counting the drop
			s.stats.Dropped.Add(r.Dropped() - dropped)
			return errors.New("write tcp 127.0.0.1:1->127.0.0.1:8555: i/o timeout")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.Ready():
		}
	}
}

// TestOutputsAreIndependent: a camera with two outputs, one of which
// freezes (reads nothing, then fails its writes and its reconnects) for
// long enough that the ring laps its reader many times. The other output
// gets every packet, without a gap; the frozen one counts its own drops,
// shows backoff with its own error, and publishes again once it thaws.
func TestOutputsAreIndependent(t *testing.T) {
	sinks := map[string]*seqSink{}
	sup := &Supervisor{
		Log:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, SinkBackoffMax: 50 * time.Millisecond,
		RingSize: 16 << 10, // about 120 of the fake's packets: lapped in 0.12 s
		NewSource: func(_ config.Camera, st *transport.SourceStats, _ *slog.Logger) (Source, error) {
			return &fakeSource{stats: st}, nil
		},
		NewSink: func(c config.Camera, st *transport.SinkStats, _ *slog.Logger) (Sink, error) {
			s := &seqSink{stats: st}
			sinks[c.Output] = s // c.Output is this output's URL
			return s, nil
		},
	}
	sup.Start()
	t.Cleanup(sup.Close)
	c := cam("c")
	c.Output = ""
	c.Outputs = []string{"rtsp://relay:pw@127.0.0.1:8554/c", "rtsps://edge:s3cret@127.0.0.1:8555/c"}
	if err := sup.Add(c); err != nil {
		t.Fatal(err)
	}
	local, remote := sinks[c.Outputs[0]], sinks[c.Outputs[1]]
	if local == nil || remote == nil || len(sinks) != 2 {
		t.Fatalf("sinks built for %v", sinks)
	}
	eventually(t, "both outputs publishing", func() bool {
		st, _ := sup.CameraStatus("c")
		return len(st.Sinks) == 2 && st.Sinks[0].State == SinkPublishing && st.Sinks[1].State == SinkPublishing
	})

	remote.frozen.Store(true)
	eventually(t, "the frozen output in backoff", func() bool {
		st, _ := sup.CameraStatus("c")
		return st.Sinks[1].State == SinkBackoff
	})
	before := local.got.Load()
	time.Sleep(time.Second) // about 8 laps of the ring
	st, _ := sup.CameraStatus("c")
	if n := local.got.Load() - before; n < 500 {
		t.Errorf("the live output got %d packets in 1 s while the other was frozen, want about 1000", n)
	}
	if st.Sinks[0].State != SinkPublishing || st.Sinks[0].Dropped != 0 || local.gaps.Load() != 0 {
		t.Errorf("live output %+v, %d gaps: it must lose nothing", st.Sinks[0], local.gaps.Load())
	}
	k := st.Sinks[1]
	if k.State != SinkBackoff || !strings.Contains(k.LastError, "i/o timeout") || strings.Contains(k.LastError, "s3cret") || k.Sessions != 1 {
		t.Errorf("frozen output %+v: want backoff with its own (redacted) error", k)
	}
	if k.URL != "rtsps://edge:***@127.0.0.1:8555/c" || st.Sinks[0].URL != "rtsp://relay:***@127.0.0.1:8554/c" || k.Output != 1 {
		t.Errorf("output URLs %q, %q: want them redacted, in order", st.Sinks[0].URL, k.URL)
	}
	if st.Sink.URL != st.Sinks[0].URL {
		t.Errorf("Sink is %+v, want the first output", st.Sink)
	}
	if st.Drops != k.Dropped || k.Dropped == 0 {
		t.Errorf("camera drops %d, frozen output's %d: the lapped reader must count its drops, and only it", st.Drops, k.Dropped)
	}
	if h := sup.pipes["c"].history.list(); len(h) == 0 || !strings.Contains(h[len(h)-1].Reason, "output 1 (rtsps://edge:***@127.0.0.1:8555/c)") {
		t.Errorf("state history %+v: want the frozen output named", h)
	}

	remote.frozen.Store(false)
	eventually(t, "the thawed output publishing again", func() bool {
		st, _ := sup.CameraStatus("c")
		return st.Sinks[1].State == SinkPublishing && st.Sinks[1].LastError == ""
	})
	after := remote.got.Load()
	eventually(t, "packets flowing to the thawed output", func() bool { return remote.got.Load() > after+100 })
	if local.gaps.Load() != 0 {
		t.Errorf("live output: %d gaps", local.gaps.Load())
	}
}

func TestPublishTokensPerOutput(t *testing.T) {
	c := config.Camera{Name: "c", Outputs: []string{"rtsp://relay:pw@127.0.0.1:8554/c", "rtsps://edge:s3cret@mtx.example.net:8322/c", "rtsp://mtx2.example.net:8554/c"}}
	for i, want := range []bool{true, false, true} {
		if got := publishesWithToken(outputCamera(c, c.Outputs[i])); got != want {
			t.Errorf("output %d: token %v, want %v", i, got, want)
		}
	}
	one := config.Camera{Name: "c", Output: "rtsp://relay:pw@127.0.0.1:8554/c"} // as before outputs: the token replaces the password
	if !publishesWithToken(outputCamera(one, one.Output)) {
		t.Error("single output: no token")
	}
}

// TestBuildNamesTheFailingOutput: an output whose kind cannot be opened is
// reported with its field.
func TestBuildNamesTheFailingOutput(t *testing.T) {
	sup := &Supervisor{Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		NewSource: func(_ config.Camera, st *transport.SourceStats, _ *slog.Logger) (Source, error) {
			return &fakeSource{stats: st}, nil
		}}
	sup.Start()
	t.Cleanup(sup.Close)
	c := cam("c")
	c.Outputs = []string{c.Output, "srt://h:9000/c"}
	err := sup.Add(c)
	if err == nil || !strings.Contains(err.Error(), `camera "c": outputs[1]: unsupported output srt://h:9000/c`) {
		t.Fatalf("Add: %v", err)
	}
}

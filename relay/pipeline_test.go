package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/camrelay/camrelay/relay/config"
	"github.com/camrelay/camrelay/transport"
)

// scriptedSink runs each attempt through run, counting sessions the way a
// real sink does (after a successful ANNOUNCE) and reporting each attempt.
type scriptedSink struct {
	stats *transport.SinkStats
	runs  chan time.Time
	run   func(ctx context.Context, n int, stats *transport.SinkStats) error
	n     int
}

func (s *scriptedSink) Run(ctx context.Context, _ transport.PacketReader) error {
	s.n++
	s.runs <- time.Now()
	return s.run(ctx, s.n, s.stats)
}

func startScripted(t *testing.T, sup *Supervisor, run func(ctx context.Context, n int, stats *transport.SinkStats) error) chan time.Time {
	t.Helper()
	runs := make(chan time.Time, 1000)
	sup.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	sup.NewSource = func(_ config.Camera, st *transport.SourceStats, _ *slog.Logger) (Source, error) {
		return &fakeSource{stats: st}, nil
	}
	sup.NewSink = func(_ config.Camera, st *transport.SinkStats, _ *slog.Logger) (Sink, error) {
		return &scriptedSink{stats: st, runs: runs, run: run}, nil
	}
	sup.Start()
	t.Cleanup(sup.Close)
	if err := sup.Add(cam("c")); err != nil {
		t.Fatal(err)
	}
	return runs
}

func nextRun(t *testing.T, runs chan time.Time, within time.Duration) time.Time {
	t.Helper()
	select {
	case at := <-runs:
		return at
	case <-time.After(within):
		t.Fatalf("no sink attempt within %v", within)
	}
	return time.Time{}
}

// TestSinkRetriesPromptlyWhenServerReturns: MediaMTX down for long (the
// camera's backoff would have grown to seconds) is retried within the
// sink's cap, so publishing resumes soon after it is back; a refusal an
// operator must fix keeps the full backoff.
func TestSinkRetriesPromptlyWhenServerReturns(t *testing.T) {
	const sinkMax = 100 * time.Millisecond
	up := make(chan struct{})
	sup := &Supervisor{BackoffMin: 20 * time.Millisecond, BackoffMax: time.Minute, SinkBackoffMax: sinkMax}
	runs := startScripted(t, sup, func(ctx context.Context, n int, stats *transport.SinkStats) error {
		select {
		case <-up:
		default:
			return errors.New("connect: dial tcp 127.0.0.1:8554: connect: connection refused")
		}
		stats.Sessions.Add(1)
		<-ctx.Done()
		return nil
	})
	// Eight failures: uncapped, the next delay would be 1.3-2.6 s.
	for range 8 {
		nextRun(t, runs, 5*time.Second)
	}
	back := time.Now()
	close(up)
	at := nextRun(t, runs, 5*time.Second)
	if d := at.Sub(back); d > sinkMax+900*time.Millisecond {
		t.Fatalf("retried %v after the server came back, want within the %v cap", d.Round(time.Millisecond), sinkMax)
	}
	eventually(t, "publishing", func() bool {
		st, _ := sup.CameraStatus("c")
		return st.Sink.State == SinkPublishing
	})
}

// TestSinkOperatorErrorKeepsFullBackoff: the sink's cap does not apply to
// refusals an operator must fix: they are not retried every second.
func TestSinkOperatorErrorKeepsFullBackoff(t *testing.T) {
	const sinkMax = 50 * time.Millisecond
	sup := &Supervisor{BackoffMin: 20 * time.Millisecond, BackoffMax: time.Minute, SinkBackoffMax: sinkMax}
	runs := startScripted(t, sup, func(ctx context.Context, n int, stats *transport.SinkStats) error {
		return &transport.StatusError{Method: "ANNOUNCE", Code: 401, Text: "Unauthorized"}
	})
	var last time.Time
	for i := range 6 {
		at := nextRun(t, runs, 5*time.Second)
		// The fifth delay is 160-320 ms: over the cap, as it should be.
		if i == 5 && at.Sub(last) < 150*time.Millisecond {
			t.Fatalf("401 retried after %v: the sink cap (%v) applied to an error only an operator can fix", at.Sub(last), sinkMax)
		}
		last = at
	}
	eventually(t, "the sink's error state", func() bool {
		st, _ := sup.CameraStatus("c")
		return st.Sink.State == SinkError
	})
}

// TestSinkIdleStatus: a sink that ended with ErrIdle (the camera silent past
// publish_timeout) is run again at once, to wait for new media, and status
// says it is idle and why until it publishes again.
func TestSinkIdleStatus(t *testing.T) {
	back := make(chan struct{})
	sup := &Supervisor{BackoffMin: time.Minute, BackoffMax: time.Minute}
	runs := startScripted(t, sup, func(ctx context.Context, n int, stats *transport.SinkStats) error {
		if n == 1 {
			stats.Sessions.Add(1)
			return transport.ErrIdle
		}
		select {
		case <-back: // new media
		case <-ctx.Done():
			return nil
		}
		stats.Sessions.Add(1)
		<-ctx.Done()
		return nil
	})
	nextRun(t, runs, 5*time.Second)
	nextRun(t, runs, 5*time.Second) // at once: the backoff is a minute
	st, _ := sup.CameraStatus("c")
	if st.Sink.State != SinkIdle || !strings.Contains(st.Sink.LastError, "publish timeout") {
		t.Fatalf("sink %+v, want idle, saying why", st.Sink)
	}
	close(back)
	eventually(t, "publishing again", func() bool {
		st, _ := sup.CameraStatus("c")
		return st.Sink.State == SinkPublishing && st.Sink.LastError == "" && st.Sink.Sessions == 2
	})
}

// TestStatusSeparatesSkippedFromDrops: packets skipped waiting for a
// keyframe are not drops.
func TestStatusSeparatesSkippedFromDrops(t *testing.T) {
	sup := &Supervisor{}
	startScripted(t, sup, func(ctx context.Context, n int, stats *transport.SinkStats) error {
		stats.Sessions.Add(1)
		stats.Dropped.Add(2)
		stats.Skipped.Add(7) // last: the test waits for it
		<-ctx.Done()
		return nil
	})
	eventually(t, "the sink's counters", func() bool {
		st, _ := sup.CameraStatus("c")
		return st.Sink.Skipped == 7
	})
	st, _ := sup.CameraStatus("c")
	if st.Sink.Dropped != 2 || st.Drops != 2 {
		t.Fatalf("dropped %d drops %d, want 2 and 2: %s", st.Sink.Dropped, st.Drops, fmt.Sprint(st.Sink))
	}
}

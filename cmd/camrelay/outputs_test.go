package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/camrelay/camrelay/bench/camsim"
	"github.com/camrelay/camrelay/codec"
	"github.com/camrelay/camrelay/internal/testenv/mtxtest"
	"github.com/camrelay/camrelay/relay"
	"github.com/camrelay/camrelay/transport"
)

// stampLog keeps every stamp's latency (send time to arrival at a reader),
// exactly, so that windows of a few seconds compare without the
// power-of-two buckets of the histograms.
type stampLog struct {
	mu  sync.Mutex
	lat []time.Duration
}

func (l *stampLog) add(s codec.Stamp, arrival int64) {
	l.mu.Lock()
	l.lat = append(l.lat, time.Duration(arrival-s.SendTime))
	l.mu.Unlock()
}

func (l *stampLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lat)
}

// quantiles are p50 and p99 of the stamps from mark from on.
func (l *stampLog) quantiles(from int) (p50, p99 time.Duration, n int) {
	l.mu.Lock()
	w := slices.Clone(l.lat[from:])
	l.mu.Unlock()
	if len(w) == 0 {
		return 0, 0, 0
	}
	slices.Sort(w)
	return w[len(w)*50/100], w[min(len(w)-1, len(w)*99/100)], len(w)
}

// stampReader reads path at srv as a viewer, logging every stamp.
func stampReader(t *testing.T, srv *mtxtest.Server, path string) (*transport.RTSPReader, *stampLog) {
	t.Helper()
	l := &stampLog{}
	r := &transport.RTSPReader{URL: srv.RTSPURL(path, "", ""), OnStamp: l.add}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Start(ctx); err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	t.Cleanup(r.Close)
	return r, l
}

// window is what a reader received between two moments.
type window struct {
	frames, stamps, gaps, back uint64
	fps                        float64
	p50, p99                   time.Duration
}

func measure(r *transport.RTSPReader, l *stampLog, d time.Duration, during func()) window {
	s0, m0, t0 := r.Stats(), l.mark(), time.Now()
	deadline := t0.Add(d)
	for time.Now().Before(deadline) { // an observation window, polled
		if during != nil {
			during()
		}
		time.Sleep(pollEvery)
	}
	s1, el := r.Stats(), time.Since(t0)
	w := window{frames: s1.Frames - s0.Frames, stamps: s1.Stamps - s0.Stamps, gaps: s1.StampGaps - s0.StampGaps, back: s1.StampsBack - s0.StampsBack}
	w.fps = float64(w.frames) / el.Seconds()
	w.p50, w.p99, _ = l.quantiles(m0)
	return w
}

func (w window) String() string {
	return fmt.Sprintf("%d frames (%.2f fps), %d stamps, %d stamp gaps, %d out of order, latency p50 %v p99 %v",
		w.frames, w.fps, w.stamps, w.gaps, w.back, w.p50.Round(10*time.Microsecond), w.p99.Round(10*time.Microsecond))
}

// TestTwoOutputs (issue 13, "a second output"): one camera published to two
// MediaMTX at once, the second with credentials of its own. The second
// MediaMTX is frozen (SIGSTOP) for 20 s: a viewer of the first keeps every
// frame (no stamp gaps, 25 fps within 10%, latency p99 within a few ms of
// before); status and metrics show the frozen output in backoff while the
// other publishes; after SIGCONT the frozen one publishes again within 15 s.
func TestTwoOutputs(t *testing.T) {
	const remoteUser, remotePass = "edge7", "remote-secret"
	e := newEnv(t, mtxtest.Config{})
	remote := mtxtest.Start(t, mtxtest.Config{API: true, Users: []mtxtest.User{
		{User: remoteUser, Pass: remotePass, IPs: []string{"127.0.0.1"}, Permissions: []mtxtest.Permission{{Action: "publish"}}},
		{User: "any", Permissions: []mtxtest.Permission{{Action: "read"}}},
		{User: "any", IPs: []string{"127.0.0.1"}, Permissions: []mtxtest.Permission{{Action: "api"}}},
	}})
	frozen := false
	var frozenMu sync.Mutex
	thaw := func() {
		frozenMu.Lock()
		defer frozenMu.Unlock()
		if frozen {
			if err := syscall.Kill(remote.PID(), syscall.SIGCONT); err != nil {
				t.Errorf("SIGCONT: %v", err)
			}
			frozen = false
		}
	}
	t.Cleanup(thaw) // before remote.Stop (cleanups run last-in first-out)

	e.camera(camsim.CameraConfig{Path: "yard"})
	remoteOut := fmt.Sprintf("rtsp://%s:%s@%s/site7/yard", remoteUser, remotePass, remote.RTSPAddr())
	// read_timeout bounds every request and write, and a silent server is
	// noticed after 3x it: 2 s here so the 20 s freeze shows in status.
	e.runRelay(fmt.Sprintf(`
%s
%s
cameras:
  - name: yard
    source: %s
    read_timeout: 2s
    outputs:
      - %s
      - %s
`, apiConfig(t), fastDefaults, e.sim.URL("yard"), strings.ReplaceAll(e.output(), "{path}", "yard"), remoteOut))
	e.waitReady(10*time.Second, "yard")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := remote.WaitPathReady(ctx, "site7/yard"); err != nil {
		t.Fatalf("the second output's path: %v", err)
	}
	e.eventually(10*time.Second, "both outputs publishing", func() bool {
		st := e.status("yard")
		return len(st.Sinks) == 2 && st.Sinks[0].State == relay.SinkPublishing && st.Sinks[1].State == relay.SinkPublishing
	})

	r, lat := stampReader(t, e.mtx, "yard")
	e.eventually(10*time.Second, "a second of video at the viewer of the first output", func() bool { return r.Stats().Stamps >= 25 })
	before := measure(r, lat, 10*time.Second, nil)
	t.Logf("first output, before the freeze (10 s): %s", before)

	st0 := e.status("yard")
	frozenMu.Lock()
	if err := syscall.Kill(remote.PID(), syscall.SIGSTOP); err != nil {
		frozenMu.Unlock()
		t.Fatalf("SIGSTOP: %v", err)
	}
	frozen = true
	frozenMu.Unlock()
	statesSeen := map[relay.SinkState]bool{}
	var liveStates []relay.SinkState
	var frozenStatus relay.SinkStatus
	during := measure(r, lat, 20*time.Second, func() {
		st := e.status("yard")
		statesSeen[st.Sinks[1].State] = true
		if st.Sinks[0].State != relay.SinkPublishing {
			liveStates = append(liveStates, st.Sinks[0].State)
		}
		if st.Sinks[1].State == relay.SinkBackoff || st.Sinks[1].State == relay.SinkError {
			frozenStatus = st.Sinks[1]
		}
	})
	t.Logf("first output, second MediaMTX frozen (20 s): %s", during)
	stFrozen := e.status("yard")
	code, body := e.call("GET", "/metrics", nil, true)
	_, camJSON := e.call("GET", "/v1/cameras/yard", nil, true)
	thawedAt := time.Now()
	thaw()

	// The live output lost nothing and did not slow down.
	if during.gaps != 0 || during.back != 0 {
		t.Errorf("the viewer of the first output lost frames while the second MediaMTX was frozen: %s", during)
	}
	if during.fps < 22.5 || during.fps > 27.5 {
		t.Errorf("the viewer of the first output got %.2f fps during the freeze, want 25 within 10%%", during.fps)
	}
	if before.p99 == 0 || during.p99 > before.p99+5*time.Millisecond {
		t.Errorf("latency p99 %v during the freeze, %v before: want it within 5 ms", during.p99, before.p99)
	}
	if d := stFrozen.Sinks[0].Dropped - st0.Sinks[0].Dropped; d != 0 || len(liveStates) != 0 {
		t.Errorf("the first output dropped %d packets, was in states %v: it must keep publishing", d, liveStates)
	}
	// Status showed the frozen output failing, with its own redacted error.
	if !statesSeen[relay.SinkBackoff] && !statesSeen[relay.SinkError] {
		t.Errorf("the frozen output was only ever %v in status, want backoff or error", statesSeen)
	}
	t.Logf("frozen output in status: %+v (states seen %v)", frozenStatus, statesSeen)
	if frozenStatus.LastError == "" || strings.Contains(frozenStatus.LastError, remotePass) {
		t.Errorf("the frozen output's error %q: want a reason, redacted", frozenStatus.LastError)
	}
	want := fmt.Sprintf("rtsp://%s:***@%s/site7/yard", remoteUser, remote.RTSPAddr())
	if stFrozen.Sinks[1].URL != want || stFrozen.Sinks[1].Output != 1 || stFrozen.Sink.URL != stFrozen.Sinks[0].URL {
		t.Errorf("status outputs %+v, sink %+v: want the second output's URL %s and sink = the first", stFrozen.Sinks, stFrozen.Sink, want)
	}
	// The API shows the same, per output, and the metrics per output label.
	var view struct {
		Config struct {
			Outputs []string `json:"outputs"`
		} `json:"config"`
		Status relay.CameraStatus `json:"status"`
	}
	if err := json.Unmarshal(camJSON, &view); err != nil {
		t.Fatalf("GET /v1/cameras/yard: %v: %s", err, camJSON)
	}
	if len(view.Status.Sinks) != 2 || view.Status.Sinks[1].URL != want || len(view.Config.Outputs) != 2 || view.Config.Outputs[1] != want {
		t.Errorf("API view: config outputs %q, status sinks %+v", view.Config.Outputs, view.Status.Sinks)
	}
	assertNoSecrets(t, "the API's camera", string(camJSON), remotePass, mtxtest.RelayPass)
	if code != 200 {
		t.Fatalf("metrics: %d", code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	up := map[string]float64{}
	for _, m := range fams["camrelay_camera_output_up"].GetMetric() {
		l := map[string]string{}
		for _, p := range m.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		if l["camera"] == "yard" {
			up[l["output"]] = m.GetGauge().GetValue()
		}
	}
	if up["0"] != 1 || up["1"] != 0 || len(up) != 2 {
		t.Errorf("camrelay_camera_output_up during the freeze: %v, want output 0 up and 1 down", up)
	}
	if n := len(fams["camrelay_camera_sent_packets_total"].GetMetric()); n != 2 {
		t.Errorf("%d sent_packets_total series, want one per output", n)
	}
	assertNoSecrets(t, "metrics", string(body), remotePass, mtxtest.RelayPass)

	// The frozen output recovers: a session of its own, its path ready and
	// frames flowing to a viewer of the second MediaMTX, within 15 s.
	sessions := stFrozen.Sinks[1].Sessions
	e.eventually(15*time.Second, "the second output publishing again after SIGCONT", func() bool {
		st := e.status("yard")
		return st.Sinks[1].State == relay.SinkPublishing && st.Sinks[1].Sessions > sessions
	})
	ctx2, cancel2 := context.WithTimeout(context.Background(), 15*time.Second-time.Since(thawedAt))
	defer cancel2()
	if err := remote.WaitPathReady(ctx2, "site7/yard"); err != nil {
		t.Fatalf("the second output's path after SIGCONT: %v", err)
	}
	rr, _ := stampReader(t, remote, "site7/yard")
	e.eventually(15*time.Second-time.Since(thawedAt), "frames at a viewer of the second MediaMTX", func() bool { return rr.Stats().Stamps >= 10 })
	t.Logf("second output publishing again %v after SIGCONT", time.Since(thawedAt).Round(time.Millisecond))
	after := e.status("yard")
	if after.Sinks[0].Sessions != st0.Sinks[0].Sessions || after.Sinks[0].State != relay.SinkPublishing {
		t.Errorf("first output: %d sessions before, %d after, state %s: it must have kept its one session", st0.Sinks[0].Sessions, after.Sinks[0].Sessions, after.Sinks[0].State)
	}
	if s := r.Stats(); s.StampGaps != 0 || s.StampsBack != 0 {
		t.Errorf("the viewer of the first output: %d stamp gaps, %d out of order over the whole test", s.StampGaps, s.StampsBack)
	}
	assertNoSecrets(t, "camrelay log", e.logs.String(), remotePass, mtxtest.RelayPass)
}

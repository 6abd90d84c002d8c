package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/camrelay/camrelay/bench"
	"github.com/camrelay/camrelay/bench/camsim"
	"github.com/camrelay/camrelay/codec"
	"github.com/camrelay/camrelay/internal/testenv/mtxtest"
)

const mtxVersion = mtxtest.Version

// Row is one run: a relay carrying N cameras of a scenario, measured over
// one window. CPU is in cores (1 = one core busy), memory in bytes; the
// per-stream figures are derived from them (see derive).
type Row struct {
	Scenario string    `json:"scenario"`
	Relay    string    `json:"relay"`
	N        int       `json:"n"`
	Rep      int       `json:"rep"`
	Status   string    `json:"status"` // ok or failed
	Reason   string    `json:"reason,omitempty"`
	Notes    []string  `json:"notes,omitempty"`
	Started  time.Time `json:"started"`
	// Seconds is how long the run took, setup and teardown included;
	// Window the measurement window.
	Seconds float64 `json:"seconds"`
	Window  float64 `json:"window_s"`

	// RelayCPU is the relay's processes alone: camrelay, the N ffmpegs,
	// or, for mediamtx-direct, MediaMTX (which is then the relay).
	RelayCPU    float64 `json:"relay_cpu_cores"`
	MediaMTXCPU float64 `json:"mediamtx_cpu_cores"`
	RelayMem    Memory  `json:"relay_mem"`
	MediaMTXMem Memory  `json:"mediamtx_mem"`
	RelayProcs  int     `json:"relay_processes"`
	// Rig is the test rig's CPU in cores: camsim, readers, the harness.
	Rig         map[string]float64 `json:"rig_cpu_cores"`
	MachineBusy float64            `json:"machine_busy"` // share of all cores busy, 0..1
	Load1       float64            `json:"load1"`

	// CamsimFPS is frames per second per camera at camsim (its clock),
	// mean and lowest over the cameras: below the nominal rate the rig
	// could not keep up.
	CamsimFPS    float64 `json:"camsim_fps"`
	CamsimFPSMin float64 `json:"camsim_fps_min"`

	// Delivery on every stream, from MediaMTX's API.
	PathsReady      int `json:"paths_ready"`
	PathsDelivering int `json:"paths_delivering"`
	// BytesRatioMin and BytesRatioMedian: bytes MediaMTX received per path
	// in the window over what camsim's frames in the window amount to
	// (clip mean, RTP headers included); copy scenarios only.
	BytesRatioMin    float64 `json:"bytes_ratio_min,omitempty"`
	BytesRatioMedian float64 `json:"bytes_ratio_median,omitempty"`
	// RTPPacketsLost is what MediaMTX counted on the publishing RTSP
	// sessions in the window (sequence gaps); direct sources have none.
	RTPPacketsLost uint64 `json:"rtp_packets_lost"`

	// Sampled streams, read over RTSP from MediaMTX.
	Sampled         []string `json:"sampled"`
	SampledFrames   uint64   `json:"sampled_frames"`
	SampledExpected uint64   `json:"sampled_expected"`
	LostFrames      uint64   `json:"lost_frames"`
	// Latency is send time (SEI stamp or barcode) to arrival at the RTSP
	// readers, every sampled frame of the window pooled.
	Latency *LatencySummary `json:"latency,omitempty"`
	// WHEP* are the same through MediaMTX's WebRTC server to a
	// pion/webrtc client.
	WHEPSampled  []string        `json:"whep_sampled,omitempty"`
	WHEPFrames   uint64          `json:"whep_frames,omitempty"`
	WHEPExpected uint64          `json:"whep_expected,omitempty"`
	WHEPLatency  *LatencySummary `json:"whep_latency,omitempty"`
	// DeliveredFPS is the mean frame rate at the RTSP readers.
	DeliveredFPS float64 `json:"delivered_fps"`

	Loss         bool `json:"loss"`
	RigSaturated bool `json:"rig_saturated"`

	Derived  Derived  `json:"derived"`
	Commands []string `json:"commands,omitempty"`
}

// Derived are the per-stream figures of a row. CPU in % of one core per
// stream, memory in MiB per stream. "Marginal" subtracts the idle process
// (MediaMTX without streams, camrelay without cameras, measured at the
// start of the run) before dividing by N; the others divide the whole
// process by N. ffmpeg has no idle process to subtract: each camera is a
// process.
type Derived struct {
	RelayCPUPct         float64 `json:"relay_cpu_pct_per_stream"`
	RelayCPUPctMarginal float64 `json:"relay_cpu_pct_per_stream_marginal"`
	MTXCPUPct           float64 `json:"mediamtx_cpu_pct_per_stream"`
	// TotalCPUPct is relay plus the receiving MediaMTX (for
	// mediamtx-direct, MediaMTX alone).
	TotalCPUPct         float64 `json:"total_cpu_pct_per_stream"`
	RelayPSSMiB         float64 `json:"relay_pss_mib_per_stream"`
	RelayPSSMiBMarginal float64 `json:"relay_pss_mib_per_stream_marginal"`
	RelayUSSMiB         float64 `json:"relay_uss_mib_per_stream"`
	TotalPSSMiB         float64 `json:"total_pss_mib_per_stream"`
	TotalPSSMiBMarginal float64 `json:"total_pss_mib_per_stream_marginal"`
	P50, P95, P99       float64 `json:"-"`
}

// Idle is the idle processes' cost, subtracted for marginal figures.
type Idle struct {
	MediaMTXCPU float64 `json:"mediamtx_cpu_cores"`
	MediaMTXMem Memory  `json:"mediamtx_mem"`
	CamrelayCPU float64 `json:"camrelay_cpu_cores"`
	CamrelayMem Memory  `json:"camrelay_mem"`
	Window      float64 `json:"window_s"`
	Error       string  `json:"error,omitempty"`
}

// harness runs the scenarios.
type harness struct {
	o        Options
	res      *Results
	prog     *progress
	clipRate float64 // expected bytes per frame of the copy clip at MediaMTX
	whepPort int
	whepUDP  int
	onRow    func()
}

func (h *harness) mtxConfig() mtxtest.Config {
	c := mtxtest.Config{API: true, LogLevel: "warn"}
	if h.o.WHEP {
		c.Extra = mtxtest.WebRTCLoopback(h.whepPort, h.whepUDP)
	}
	return c
}

// clipBytesPerFrame is what MediaMTX counts per frame of the clip as
// camsim sends it: RTP packets of up to 1400 bytes of payload (FU-A above),
// 12-byte headers, plus the SEI stamp packet.
func clipBytesPerFrame(path string, fps int) (float64, error) {
	clip, err := camsim.LoadClip(path, fps)
	if err != nil {
		return 0, err
	}
	pkts := bench.PacketizeClip(clip, 1400)
	var total int
	for _, p := range pkts {
		total += 12 + len(p.Payload)
	}
	sei := codec.AppendH264StampSEI(nil, codec.Stamp{SendTime: time.Now().UnixNano(), Frame: 1})
	total += clip.Frames() * (12 + len(sei))
	return float64(total) / float64(clip.Frames()), nil
}

// sampleIndices spreads k of cameras 1..n: first, last and evenly between.
func sampleIndices(n, k int) []int {
	if k >= n {
		out := make([]int, n)
		for i := range out {
			out[i] = i + 1
		}
		return out
	}
	if k == 1 {
		return []int{1}
	}
	var out []int
	for j := 0; j < k; j++ {
		i := 1 + int(math.Round(float64(j)*float64(n-1)/float64(k-1)))
		if len(out) == 0 || out[len(out)-1] != i {
			out = append(out, i)
		}
	}
	return out
}

// apiPath and apiSession are the parts of MediaMTX's API answers the
// harness reads.
type apiPath struct {
	Name          string `json:"name"`
	Ready         bool   `json:"ready"`
	BytesReceived uint64 `json:"bytesReceived"`
}

type apiSession struct {
	Path               string `json:"path"`
	State              string `json:"state"`
	RTPPacketsReceived uint64 `json:"rtpPacketsReceived"`
	RTPPacketsLost     uint64 `json:"rtpPacketsLost"`
}

var apiHTTP = &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func apiList[T any](ctx context.Context, base, path string) ([]T, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path+"?itemsPerPage=100000", nil)
	if err != nil {
		return nil, err
	}
	res, err := apiHTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return nil, fmt.Errorf("mediamtx api %s: %s: %s", path, res.Status, strings.TrimSpace(string(b)))
	}
	var out struct {
		Items []T `json:"items"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("mediamtx api %s: %w", path, err)
	}
	return out.Items, nil
}

// snapshot is everything read at one edge of the window.
type snapshot struct {
	cpu      map[string]cpuSample
	machine  MachineCPU
	frames   map[string]uint64
	paths    map[string]apiPath
	lost     uint64
	camsimAt time.Time
	apiAt    time.Time // when MediaMTX answered the paths list
}

func (h *harness) take(ctx context.Context, groups map[string]*procGroup, cs *workerProc, api string) (snapshot, error) {
	s := snapshot{cpu: map[string]cpuSample{}, paths: map[string]apiPath{}}
	s.machine, _ = ReadMachineCPU()
	for name, g := range groups {
		s.cpu[name] = g.cpu()
	}
	var st camsimStats
	if err := cs.call(ctx, "stats", &st); err != nil {
		return s, err
	}
	s.frames, s.camsimAt = st.Frames, time.Now()
	paths, err := apiList[apiPath](ctx, api, "/v3/paths/list")
	if err != nil {
		return s, err
	}
	s.apiAt = time.Now()
	for _, p := range paths {
		s.paths[p.Name] = p
	}
	sess, err := apiList[apiSession](ctx, api, "/v3/rtspsessions/list")
	if err != nil {
		return s, err
	}
	for _, x := range sess {
		if x.State == "publish" {
			s.lost += x.RTPPacketsLost
		}
	}
	return s, nil
}

// waitReady polls MediaMTX until every path is ready.
func waitReady(ctx context.Context, api string, paths []string, timeout time.Duration, rr *runningRelay) (int, error) {
	deadline := time.Now().Add(timeout)
	ready := 0
	for {
		list, err := apiList[apiPath](ctx, api, "/v3/paths/list")
		if err == nil {
			m := map[string]bool{}
			for _, p := range list {
				m[p.Name] = p.Ready
			}
			ready = 0
			for _, p := range paths {
				if m[p] {
					ready++
				}
			}
			if ready == len(paths) {
				return ready, nil
			}
		}
		if rr != nil {
			if e := rr.exited(); e != "" {
				return ready, fmt.Errorf("%d of %d paths ready; %s", ready, len(paths), e)
			}
		}
		if time.Now().After(deadline) {
			return ready, fmt.Errorf("%d of %d paths ready after %v (last API error: %v)", ready, len(paths), timeout.Round(time.Second), err)
		}
		if err := sleepCtx(ctx, 250*time.Millisecond); err != nil {
			return ready, err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runOne runs one relay with n cameras and measures it.
// runScaffold is what every run stands on: its row, its temporary
// folder, and what its end undoes, in reverse (processes, then the
// folder).
type runScaffold struct {
	h        *harness
	row      *Row
	dir      string
	cleanups []func()
}

// begin starts row as a new run and makes its folder; defer end, even
// when it fails.
func (h *harness) begin(row *Row, scenario, relay string, n, rep int) (*runScaffold, error) {
	*row = Row{Scenario: scenario, Relay: relay, N: n, Rep: rep, Status: "ok", Started: time.Now().UTC(), Rig: map[string]float64{}}
	sc := &runScaffold{h: h, row: row}
	dir, err := os.MkdirTemp("", "relaybench-")
	if err != nil {
		return sc, err
	}
	sc.dir = dir
	sc.onEnd(func() { os.RemoveAll(dir) })
	return sc, nil
}

// onEnd has the run's end undo f.
func (sc *runScaffold) onEnd(f func()) { sc.cleanups = append(sc.cleanups, f) }

// failed marks the row failed, saying why, and returns it.
func (sc *runScaffold) failed(format string, args ...any) Row {
	sc.row.Status = "failed"
	sc.row.Reason = fmt.Sprintf(format, args...)
	return *sc.row
}

// end tears the run down and times it.
func (sc *runScaffold) end() {
	sc.h.prog.phase("teardown")
	for i := len(sc.cleanups) - 1; i >= 0; i-- {
		sc.cleanups[i]()
	}
	sc.row.Seconds = time.Since(sc.row.Started).Seconds()
}

// startCamsim starts the camsim worker for the run (stopped at its end).
func (sc *runScaffold) startCamsim(ctx context.Context, spec camsimSpec) (*workerProc, camsimReady, error) {
	sc.h.prog.phase("starting camsim")
	var cr camsimReady
	cs, err := startWorker(ctx, sc.h.o.Self, "camsim", spec, &cr, 60*time.Second)
	if err != nil {
		return nil, cr, err
	}
	sc.onEnd(cs.stop)
	return cs, cr, nil
}

func (h *harness) runOne(ctx context.Context, scenario, relay string, n, rep int) (row Row) {
	camScenario := scenario
	if scenario == ScenarioDensity {
		camScenario = ScenarioCopy
	}
	sc, err := h.begin(&row, scenario, relay, n, rep)
	defer sc.end()
	if err != nil {
		return sc.failed("%v", err)
	}
	failed := sc.failed

	spec := camsimSpec{FPS: h.o.FPS}
	if camScenario == ScenarioTranscode {
		spec.MJPEG, spec.Width, spec.Height = n, h.o.Width, h.o.Height
	} else {
		spec.RTSP, spec.Clip = n, h.o.Clip
	}
	cs, cr, err := sc.startCamsim(ctx, spec)
	if err != nil {
		return failed("camsim: %v", err)
	}

	e := &runEnv{scenario: camScenario, n: n, dir: sc.dir, camsim: cr, opts: &h.o}
	h.prog.phase("starting MediaMTX")
	mc := h.mtxConfig()
	if relay == RelayDirect {
		mc.Paths = directPaths(e)
	}
	mtx, err := mtxtest.StartProcess(ctx, mc)
	if err != nil {
		return failed("MediaMTX: %v", err)
	}
	sc.onEnd(mtx.Stop)
	e.mtx = mtx
	api := mtx.APIURL()

	h.prog.phase("starting " + relay)
	var rr *runningRelay
	switch relay {
	case RelayCamrelay:
		rr, err = startCamrelay(e, false)
	case RelayFFmpeg:
		rr, err = startFFmpeg(ctx, e)
	case RelayDirect:
		rr = &runningRelay{stop: func() {}, commands: []string{"MediaMTX paths:\n" + directPaths(&runEnv{scenario: camScenario, n: min(n, 1), camsim: cr})}}
		if n > 1 {
			rr.commands = append(rr.commands, fmt.Sprintf("... one such path per camera, %d in all", n))
		}
	}
	if err != nil {
		return failed("%s: %v", relay, err)
	}
	sc.onEnd(rr.stop)
	row.Commands = rr.commands
	row.RelayProcs = len(rr.procs)

	paths := make([]string, n)
	for i := range paths {
		paths[i] = e.camPath(i + 1)
	}
	h.prog.phase("waiting for streams")
	readyTimeout := 30*time.Second + time.Duration(n)*150*time.Millisecond
	if row.PathsReady, err = waitReady(ctx, api, paths, readyTimeout, rr); err != nil {
		return failed("not delivering: %v", err)
	}

	// Readers: latency on a sample; in the transcode scenario a frame
	// counter on every other stream (N is small there).
	h.prog.phase("starting readers")
	measure := "sei"
	k := h.o.SampleCopy
	if camScenario == ScenarioTranscode {
		measure, k = "barcode", h.o.SampleTranscode
	}
	var rs readerSpec
	sampled := map[int]bool{}
	for _, i := range sampleIndices(n, k) {
		sampled[i] = true
		rs.Streams = append(rs.Streams, readerStream{Path: e.camPath(i), URL: mtx.RTSPURL(e.camPath(i), "", ""), Via: "rtsp", Measure: measure})
		row.Sampled = append(row.Sampled, e.camPath(i))
	}
	if camScenario == ScenarioTranscode {
		for i := 1; i <= n; i++ {
			if !sampled[i] {
				rs.Streams = append(rs.Streams, readerStream{Path: e.camPath(i), URL: mtx.RTSPURL(e.camPath(i), "", ""), Via: "rtsp", Measure: "count"})
			}
		}
	}
	if h.o.WHEP {
		for _, i := range sampleIndices(n, h.o.WHEPSample) {
			rs.Streams = append(rs.Streams, readerStream{Path: e.camPath(i), URL: fmt.Sprintf("http://127.0.0.1:%d/%s/whep", h.whepPort, e.camPath(i)), Via: "whep", Measure: measure})
			row.WHEPSampled = append(row.WHEPSampled, e.camPath(i))
		}
	}
	var rready struct{}
	rd, err := startWorker(ctx, h.o.Self, "reader", rs, &rready, 60*time.Second)
	if err != nil {
		if h.o.WHEP && strings.Contains(err.Error(), "whep") {
			// Retry without WHEP: a WHEP failure is noted, not the row's.
			row.Notes = append(row.Notes, "WHEP reader failed: "+err.Error())
			row.WHEPSampled = nil
			var plain readerSpec
			for _, s := range rs.Streams {
				if s.Via != "whep" {
					plain.Streams = append(plain.Streams, s)
				}
			}
			rs = plain
			rd, err = startWorker(ctx, h.o.Self, "reader", rs, &rready, 60*time.Second)
		}
		if err != nil {
			return failed("readers: %v", err)
		}
	}
	sc.onEnd(rd.stop)

	h.prog.phase("settling")
	h.prog.countdown(h.o.Settle)
	if err := sleepCtx(ctx, h.o.Settle); err != nil {
		return failed("%v", err)
	}

	groups := map[string]*procGroup{
		"relay":    {name: relay, pids: rr.pids()},
		"mediamtx": {name: "mediamtx", pids: []int{mtx.PID()}},
		"camsim":   {name: "camsim", pids: []int{cs.pid()}},
		"readers":  {name: "readers", pids: []int{rd.pid()}},
		"harness":  {name: "harness", pids: []int{os.Getpid()}},
	}
	if relay == RelayDirect {
		groups["relay"] = groups["mediamtx"]
	}
	h.prog.phase("measuring")
	h.prog.countdown(h.o.Measure)
	s1, err := h.take(ctx, groups, cs, api)
	if err != nil {
		return failed("window start: %v", err)
	}
	var none struct{}
	if err := rd.call(ctx, "mark", &none); err != nil {
		return failed("readers: %v", err)
	}
	// Memory: the mean of four readings spread over the window.
	var relayMem, mtxMem []Memory
	for q := 1; q <= 4; q++ {
		if err := sleepCtx(ctx, h.o.Measure/4); err != nil {
			return failed("%v", err)
		}
		m, _ := groups["relay"].memory()
		relayMem = append(relayMem, m)
		m, _ = groups["mediamtx"].memory()
		mtxMem = append(mtxMem, m)
	}
	var reps []readerReport
	if err := rd.call(ctx, "report", &reps); err != nil {
		return failed("readers: %v", err)
	}
	s2, err := h.take(ctx, groups, cs, api)
	if err != nil {
		return failed("window end: %v", err)
	}
	row.Window = s2.camsimAt.Sub(s1.camsimAt).Seconds()
	row.RelayCPU = coresBetween(s1.cpu["relay"], s2.cpu["relay"])
	row.MediaMTXCPU = coresBetween(s1.cpu["mediamtx"], s2.cpu["mediamtx"])
	for _, g := range []string{"camsim", "readers", "harness"} {
		row.Rig[g] = coresBetween(s1.cpu[g], s2.cpu[g])
	}
	row.RelayMem, row.MediaMTXMem = meanMem(relayMem), meanMem(mtxMem)
	row.MachineBusy = s2.machine.Utilization(s1.machine)
	row.Load1 = LoadAvg()[0]

	// camsim's clock.
	var fps []float64
	for _, p := range paths {
		fps = append(fps, float64(s2.frames[p]-s1.frames[p])/row.Window)
	}
	row.CamsimFPS = mean(fps)
	row.CamsimFPSMin = slices.Min(fps)

	// Every stream, at MediaMTX.
	var ratios []float64
	row.PathsReady, row.PathsDelivering = 0, 0
	for _, p := range paths {
		a, b := s1.paths[p], s2.paths[p]
		if b.Ready {
			row.PathsReady++
		}
		if b.BytesReceived > a.BytesReceived {
			row.PathsDelivering++
		}
		if camScenario == ScenarioCopy {
			// Rates, each over its own interval: camsim and MediaMTX are
			// read one after the other, and MediaMTX's API can take a
			// while to answer under load.
			sentRate := float64(s2.frames[p]-s1.frames[p]) / s2.camsimAt.Sub(s1.camsimAt).Seconds()
			recvRate := float64(b.BytesReceived-a.BytesReceived) / s2.apiAt.Sub(s1.apiAt).Seconds()
			if sentRate > 0 {
				ratios = append(ratios, recvRate/(sentRate*h.clipRate))
			}
		}
	}
	if len(ratios) > 0 {
		row.BytesRatioMin = slices.Min(ratios)
		row.BytesRatioMedian = Percentile(ratios, 0.5)
	}
	row.RTPPacketsLost = s2.lost - min(s1.lost, s2.lost)

	// Sampled streams.
	var lat, wlat []float64
	for _, r := range reps {
		// What camsim sent of this stream during the reader's own window.
		sent := uint64(math.Round(float64(s2.frames[r.Path]-s1.frames[r.Path]) / row.Window * r.WindowS))
		if r.Via == "whep" {
			row.WHEPFrames += r.Frames
			if r.Measure == "sei" {
				row.WHEPExpected += r.Expected
			} else {
				row.WHEPExpected += sent
			}
			for _, l := range r.LatencyMS {
				wlat = append(wlat, float64(l))
			}
			if r.Frames == 0 {
				row.Notes = append(row.Notes, fmt.Sprintf("WHEP reader of %s got no frames (%s)", r.Path, r.Ended))
			}
			continue
		}
		if r.Frames == 0 || r.Ended != "" {
			return failed("reader of %s: %d frames in the window, session %q", r.Path, r.Frames, r.Ended)
		}
		switch r.Measure {
		case "sei":
			row.SampledFrames += r.Stamps
			row.SampledExpected += r.Expected
			row.LostFrames += r.Expected - min(r.Stamps, r.Expected)
		default:
			// Frames are counted, not numbered: the window edges at camsim
			// and at the reader are a pipeline delay apart, so up to two
			// frames of difference per stream are not loss.
			row.SampledFrames += r.Frames
			row.SampledExpected += sent
			if sent > r.Frames+2 {
				row.LostFrames += sent - r.Frames - 2
			}
		}
		if r.Measure == "sei" || r.Measure == "barcode" {
			for _, l := range r.LatencyMS {
				lat = append(lat, float64(l))
			}
			row.DeliveredFPS += float64(r.Frames) / row.Window
		}
		if r.Measure == "barcode" && r.Pictures > 0 && r.Codes < r.Pictures*9/10 {
			row.Notes = append(row.Notes, fmt.Sprintf("%s: barcodes read in %d of %d pictures", r.Path, r.Codes, r.Pictures))
		}
	}
	if len(row.Sampled) > 0 {
		row.DeliveredFPS /= float64(len(row.Sampled))
	}
	row.Latency = summarizeMS(lat)
	row.WHEPLatency = summarizeMS(wlat)

	// Honesty: every stream delivered, every relay process alive.
	if x := rr.exited(); x != "" {
		return failed("%s", x)
	}
	if row.PathsReady < n || row.PathsDelivering < n {
		return failed("%d of %d paths ready, %d of %d received bytes in the window", row.PathsReady, n, row.PathsDelivering, n)
	}
	if row.Latency == nil {
		return failed("no latency reading on the sampled streams")
	}
	row.Loss = row.LostFrames > 0 || row.RTPPacketsLost > 0 || (camScenario == ScenarioCopy && row.BytesRatioMin < 0.97)
	if row.CamsimFPSMin < 0.95*float64(h.o.FPS) || row.MachineBusy > 0.97 {
		row.RigSaturated = true
		row.Notes = append(row.Notes, fmt.Sprintf("rig saturated: camsim sent %.1f fps per camera (lowest %.1f), machine %.0f%% busy", row.CamsimFPS, row.CamsimFPSMin, 100*row.MachineBusy))
	}
	return row
}

func summarizeMS(ms []float64) *LatencySummary {
	if len(ms) == 0 {
		return nil
	}
	d := make([]time.Duration, len(ms))
	for i, v := range ms {
		d[i] = time.Duration(v * float64(time.Millisecond))
	}
	return SummarizeLatency(d)
}

func meanMem(ms []Memory) Memory {
	var m Memory
	if len(ms) == 0 {
		return m
	}
	for _, x := range ms {
		m.PSS += x.PSS
		m.USS += x.USS
		m.RSS += x.RSS
	}
	n := uint64(len(ms))
	return Memory{PSS: m.PSS / n, USS: m.USS / n, RSS: m.RSS / n}
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

const mib = 1 << 20

// derive fills in the per-stream figures.
func (r *Row) derive(idle *Idle) {
	n := float64(r.N)
	d := &r.Derived
	d.RelayCPUPct = 100 * r.RelayCPU / n
	d.MTXCPUPct = 100 * r.MediaMTXCPU / n
	d.RelayPSSMiB = float64(r.RelayMem.PSS) / mib / n
	d.RelayUSSMiB = float64(r.RelayMem.USS) / mib / n
	var idleCPU, idleMTXCPU float64
	var idlePSS, idleMTXPSS uint64
	if idle != nil && idle.Error == "" {
		idleMTXCPU, idleMTXPSS = idle.MediaMTXCPU, idle.MediaMTXMem.PSS
		switch r.Relay {
		case RelayCamrelay:
			idleCPU, idlePSS = idle.CamrelayCPU, idle.CamrelayMem.PSS
		case RelayDirect:
			idleCPU, idlePSS = idleMTXCPU, idleMTXPSS
		}
	}
	d.RelayCPUPctMarginal = 100 * (r.RelayCPU - idleCPU) / n
	d.RelayPSSMiBMarginal = (float64(r.RelayMem.PSS) - float64(idlePSS)) / mib / n
	if r.Relay == RelayDirect {
		d.TotalCPUPct = d.RelayCPUPct
		d.TotalPSSMiB = d.RelayPSSMiB
		d.TotalPSSMiBMarginal = d.RelayPSSMiBMarginal
	} else {
		d.TotalCPUPct = 100 * (r.RelayCPU + r.MediaMTXCPU) / n
		d.TotalPSSMiB = float64(r.RelayMem.PSS+r.MediaMTXMem.PSS) / mib / n
		d.TotalPSSMiBMarginal = (float64(r.RelayMem.PSS+r.MediaMTXMem.PSS) - float64(idlePSS+idleMTXPSS)) / mib / n
	}
}

// measureIdle measures MediaMTX without streams and camrelay without
// cameras, for the marginal figures.
func (h *harness) measureIdle(ctx context.Context) *Idle {
	idle := &Idle{}
	h.prog.phase("idle processes")
	mtx, err := mtxtest.StartProcess(ctx, h.mtxConfig())
	if err != nil {
		idle.Error = err.Error()
		return idle
	}
	defer mtx.Stop()
	dir, err := os.MkdirTemp("", "relaybench-idle-")
	if err != nil {
		idle.Error = err.Error()
		return idle
	}
	defer os.RemoveAll(dir)
	e := &runEnv{scenario: ScenarioCopy, n: 0, dir: dir, mtx: mtx, opts: &h.o}
	rr, err := startCamrelay(e, false)
	if err != nil {
		idle.Error = err.Error()
		return idle
	}
	defer rr.stop()
	settle, window := min(h.o.Settle, 3*time.Second), min(h.o.Measure, 10*time.Second)
	h.prog.countdown(settle + window)
	if sleepCtx(ctx, settle) != nil {
		idle.Error = "interrupted"
		return idle
	}
	cg := &procGroup{pids: rr.pids()}
	mg := &procGroup{pids: []int{mtx.PID()}}
	c1, m1 := cg.cpu(), mg.cpu()
	var cm, mm []Memory
	for q := 1; q <= 2; q++ {
		if sleepCtx(ctx, window/2) != nil {
			idle.Error = "interrupted"
			return idle
		}
		x, _ := cg.memory()
		cm = append(cm, x)
		x, _ = mg.memory()
		mm = append(mm, x)
	}
	c2, m2 := cg.cpu(), mg.cpu()
	idle.CamrelayCPU, idle.MediaMTXCPU = coresBetween(c1, c2), coresBetween(m1, m2)
	idle.CamrelayMem, idle.MediaMTXMem = meanMem(cm), meanMem(mm)
	idle.Window = c2.at.Sub(c1.at).Seconds()
	if x := rr.exited(); x != "" {
		idle.Error = x
	}
	return idle
}

// freePorts picks a TCP and a UDP port on loopback for MediaMTX's WebRTC
// server.
func freePorts() (tcp, udp int, err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	defer l.Close()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	return l.Addr().(*net.TCPAddr).Port, c.LocalAddr().(*net.UDPAddr).Port, nil
}

// plannedRun is one run the harness intends to make.
type plannedRun struct {
	scenario, relay string
	n, rep          int
}

func (h *harness) plan() []plannedRun {
	var out []plannedRun
	add := func(scenario string, ns []int, relays []string, reps int) {
		for _, n := range ns {
			for rep := 1; rep <= reps; rep++ {
				for _, r := range rotate(relays, rep-1) {
					out = append(out, plannedRun{scenario, r, n, rep})
				}
			}
		}
	}
	if h.o.has(ScenarioCopy) {
		var rl []string
		for _, r := range h.o.Relays {
			if r != RelayNull { // density only
				rl = append(rl, r)
			}
		}
		add(ScenarioCopy, h.o.CopyNs, rl, h.o.Reps)
	}
	if h.o.has(ScenarioTranscode) {
		var rl []string
		for _, r := range h.o.Relays {
			if r != RelayDirect && r != RelayNull {
				rl = append(rl, r)
			}
		}
		add(ScenarioTranscode, h.o.TranscodeNs, rl, h.o.Reps)
	}
	if h.o.has(ScenarioDensity) {
		var rl []string
		for _, r := range []string{RelayCamrelay, RelayNull} {
			if h.o.hasRelay(r) {
				rl = append(rl, r)
			}
		}
		add(ScenarioDensity, h.o.DensityNs, rl, 1)
	}
	return out
}

// rotate changes the order of relays between repetitions, so that none is
// always first (or always right after another) on a machine whose state
// drifts.
func rotate(s []string, k int) []string {
	if len(s) == 0 {
		return nil
	}
	k %= len(s)
	return append(slices.Clone(s[k:]), s[:k]...)
}

// estimate guesses how long a run takes, for the progress line.
func (h *harness) estimate(p plannedRun) time.Duration {
	setup := 3 * time.Second
	switch p.relay {
	case RelayFFmpeg:
		setup += time.Duration(p.n) * 60 * time.Millisecond
	default:
		setup += time.Duration(p.n) * 10 * time.Millisecond
	}
	return setup + h.o.Settle + h.o.Measure + 2*time.Second
}

// execute runs the plan. A relay that fails at some N is not tried at
// larger N of the same scenario (its rows say so); density stops at the
// first N that fails, loses frames or saturates the rig.
func (h *harness) execute(ctx context.Context) {
	plan := h.plan()
	h.prog.start(plan, h.estimate)
	stopped := map[string]string{} // scenario/relay -> why
	for i, p := range plan {
		if ctx.Err() != nil {
			return
		}
		key := p.scenario + "/" + p.relay
		if why, ok := stopped[key]; ok {
			h.res.Skipped = append(h.res.Skipped, fmt.Sprintf("%s %s N=%d rep %d: %s", p.scenario, p.relay, p.n, p.rep, why))
			h.prog.done(i, 0)
			continue
		}
		h.prog.begin(i, fmt.Sprintf("%s %s N=%d rep %d/%d", p.scenario, p.relay, p.n, p.rep, h.repsOf(p.scenario)))
		t0 := time.Now()
		var row Row
		if p.relay == RelayNull {
			row = h.runNull(ctx, p.scenario, p.n, p.rep)
		} else {
			row = h.runOne(ctx, p.scenario, p.relay, p.n, p.rep)
		}
		if ctx.Err() != nil {
			return
		}
		row.derive(h.res.Idle)
		h.res.Rows = append(h.res.Rows, row)
		h.prog.done(i, time.Since(t0))
		h.prog.logf("%s", rowLine(row))
		if h.onRow != nil {
			h.onRow()
		}
		// Decide after the last repetition of this N for this relay.
		lastRep := i+1 >= len(plan) || !slices.ContainsFunc(plan[i+1:], func(q plannedRun) bool {
			return q.scenario == p.scenario && q.relay == p.relay && q.n == p.n
		})
		if !lastRep {
			continue
		}
		for _, r := range h.res.Rows {
			if r.Scenario != p.scenario || r.Relay != p.relay || r.N != p.n {
				continue
			}
			switch {
			case r.Status != "ok":
				stopped[key] = fmt.Sprintf("not run: failed at N=%d", p.n)
			case p.scenario == ScenarioDensity && (r.Loss || r.RigSaturated):
				stopped[key] = fmt.Sprintf("not run: loss or rig saturation at N=%d", p.n)
			}
		}
	}
}

func (h *harness) repsOf(scenario string) int {
	if scenario == ScenarioDensity {
		return 1
	}
	return h.o.Reps
}

// rowLine is the one-line log of a finished run.
func rowLine(r Row) string {
	if r.Status != "ok" {
		return fmt.Sprintf("%-9s %-15s N=%-4d rep %d: FAILED: %s", r.Scenario, r.Relay, r.N, r.Rep, r.Reason)
	}
	lat := "-"
	if r.Latency != nil {
		lat = fmt.Sprintf("p50 %.1f p99 %.1f ms", r.Latency.P50, r.Latency.P99)
	}
	loss := ""
	if r.Loss {
		loss = fmt.Sprintf(" LOSS(frames %d, rtp %d, bytes min %.3f)", r.LostFrames, r.RTPPacketsLost, r.BytesRatioMin)
	}
	sat := ""
	if r.RigSaturated {
		sat = " RIG-SATURATED"
	}
	return fmt.Sprintf("%-9s %-15s N=%-4d rep %d: relay %.3f%%/stream, +MediaMTX %.3f%%/stream, PSS %.2f MiB/stream, %s, %d/%d frames%s%s",
		r.Scenario, r.Relay, r.N, r.Rep, r.Derived.RelayCPUPct, r.Derived.TotalCPUPct, r.Derived.RelayPSSMiB, lat,
		r.SampledFrames, r.SampledExpected, loss, sat)
}

// sortRows orders rows by scenario, relay, N, repetition.
func sortRows(rows []Row) {
	order := map[string]int{ScenarioCopy: 0, ScenarioTranscode: 1, ScenarioDensity: 2,
		RelayCamrelay: 0, RelayFFmpeg: 1, RelayDirect: 2}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.Scenario != b.Scenario {
			return order[a.Scenario] < order[b.Scenario]
		}
		if a.Relay != b.Relay {
			return order[a.Relay] < order[b.Relay]
		}
		if a.N != b.N {
			return a.N < b.N
		}
		return a.Rep < b.Rep
	})
}

// Package soak runs camrelay for a long time under faults and says whether
// it stayed sound: N cameras from camsim through the real camrelay binary
// (a process with a generated configuration) into MediaMTX, a fault every
// two minutes rotating over camera kill/restart, camera stall with TCP
// open, MediaMTX restart and MediaMTX frozen (SIGSTOP, then SIGCONT), a
// sample every minute of camrelay's memory, goroutines, heap, reconnects
// and the bytes arriving at MediaMTX for every camera. It writes a JSON and
// a Markdown report and a PNG plot, and fails when memory or goroutines
// trend up, a camera does not recover within the deadline after a fault
// clears, or camrelay logs a panic. Everything listens on 127.0.0.1.
package soak

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/camrelay/camrelay/bench/camsim"
	"github.com/camrelay/camrelay/bench/harness"
	"github.com/camrelay/camrelay/internal/testenv/mtxtest"
)

// Options configure a soak run. Zero values take the defaults in Defaults.
type Options struct {
	Cameras     int
	Duration    time.Duration
	FaultEvery  time.Duration // a fault starts every FaultEvery, from FaultEvery on
	FaultLength time.Duration // how long a camera stays down or stalled, MediaMTX frozen
	SampleEvery time.Duration
	Recover     time.Duration // deadline from a fault's end to media flowing again
	FPS         int
	Clip        string // H.264 Annex-B clip camsim loops
	Camrelay    string // the camrelay binary (built with -tags libav by make soak)
	MediaMTX    string // the MediaMTX binary; empty: mtxtest.Binary()
	Out         string // report folder
	// Limits of the trend test, per 10 minutes (see Trend).
	MemSlope       float64 // bytes
	GoroutineSlope float64
	Progress       io.Writer `json:"-"`
}

// Defaults are the issue's: 40 cameras, 30 minutes, a fault every two
// minutes, a sample a minute, recovery within 15 s; memory may not grow by
// 1 MiB, nor goroutines by 1, per 10 minutes.
func Defaults() Options {
	return Options{
		Cameras: 40, Duration: 30 * time.Minute, FaultEvery: 2 * time.Minute, FaultLength: 20 * time.Second,
		SampleEvery: time.Minute, Recover: 15 * time.Second, FPS: 25,
		Clip: "testdata/clips/h264_320x240_25.h264", Camrelay: "bin/camrelay",
		Out:      filepath.Join("bench", "results", time.Now().Format("2006-01-02")+"-soak"),
		MemSlope: 1 << 20, GoroutineSlope: 1,
	}
}

// Fault kinds, in the order they rotate.
const (
	FaultCameraKill  = "camera kill/restart"
	FaultCameraStall = "camera stall (TCP open)"
	FaultMTXRestart  = "MediaMTX restart"
	FaultMTXFrozen   = "MediaMTX frozen (SIGSTOP)"
)

var faultKinds = []string{FaultCameraKill, FaultCameraStall, FaultMTXRestart, FaultMTXFrozen}

// Fault is one fault and how the cameras came back from it.
type Fault struct {
	Kind    string   `json:"kind"`
	Cameras []string `json:"cameras"` // affected: one camera, or all for MediaMTX faults
	Start   float64  `json:"start_s"` // seconds since the run began
	Cleared float64  `json:"cleared_s"`
	Err     string   `json:"error,omitempty"`
	// Recovery is seconds from Cleared to new media of every affected
	// camera at MediaMTX (the slowest camera); -1 when one never came back.
	Recovery      float64            `json:"recovery_s"`
	PerCamera     map[string]float64 `json:"per_camera_recovery_s"`
	NotRecovered  []string           `json:"not_recovered,omitempty"`
	OK            bool               `json:"ok"`
	OthersStalled float64            `json:"others_longest_gap_s"` // camera faults: longest gap in the media of any other camera
}

// Sample is one minute's reading.
type Sample struct {
	T            float64            `json:"t_s"`
	RSS          uint64             `json:"rss"`
	PSS          uint64             `json:"pss"`
	USS          uint64             `json:"uss"`
	Anon         uint64             `json:"anonymous"` // anonymous resident memory: heap, stacks, C allocations
	HeapInuse    float64            `json:"heap_inuse"`
	Goroutines   float64            `json:"goroutines"`
	Reconnects   float64            `json:"reconnects"`
	Up           float64            `json:"cameras_up"`
	CPU          float64            `json:"camrelay_cpu_pct"` // of one core, since the previous sample
	MachineCPU   float64            `json:"machine_cpu_pct"`  // of all cores
	Load         [3]float64         `json:"loadavg"`
	BytesPerCam  map[string]uint64  `json:"mtx_bytes_received"`
	RatePerCam   map[string]float64 `json:"mtx_kbit_s"` // since the previous sample
	CamsFlowing  int                `json:"cameras_flowing"`
	MetricsError string             `json:"metrics_error,omitempty"`
}

// Trend is the growth test of one series: the least-squares slope over the
// second half of the run, and the rise of the median of the last third of
// the samples over the median of the middle third. A series trends up when
// both exceed the limit (the slope per 10 minutes, the rise half the
// limit): a steady climb does, one high sample at the end or noise that
// returns does not.
type Trend struct {
	Series     string  `json:"series"`
	Unit       string  `json:"unit"`
	First      float64 `json:"first"`
	Last       float64 `json:"last"`
	SlopePer10 float64 `json:"slope_per_10min"`
	Rise       float64 `json:"rise_last_third_vs_middle_third"`
	Limit      float64 `json:"limit_per_10min"`
	Up         bool    `json:"trending_up"`
}

// Report is what a run found.
type Report struct {
	Started    time.Time         `json:"started"`
	Options    Options           `json:"options"`
	Machine    map[string]string `json:"machine"`
	Samples    []Sample          `json:"samples"`
	Faults     []Fault           `json:"faults"`
	Trends     []Trend           `json:"trends"`
	Panics     []string          `json:"panics,omitempty"`
	Exited     string            `json:"camrelay_exited,omitempty"`
	Failures   []string          `json:"failures,omitempty"`
	Pass       bool              `json:"pass"`
	LogLines   int               `json:"camrelay_log_lines"`
	LogErrors  map[string]int    `json:"camrelay_log_levels"`
	Elapsed    float64           `json:"elapsed_s"`
	StartupSec float64           `json:"startup_s"`
	// Notes are a reader's remarks on the run, added to soak.json by hand
	// and rendered (soak -render) under the findings.
	Notes []string `json:"notes,omitempty"`
}

// poll is one reading of MediaMTX's paths.
type poll struct {
	t     time.Time
	ok    bool
	paths map[string]pathState
}

type pathState struct {
	ready bool
	bytes uint64
}

type run struct {
	o        Options
	progress func(format string, a ...any)
	cams     []*camsim.Camera
	mtx      *mtxtest.Server
	relay    *exec.Cmd
	exited   chan struct{}
	metrics  string // camrelay's /metrics URL
	t0       time.Time

	mu     sync.Mutex
	polls  []poll
	panics []string
	lines  int
	levels map[string]int
}

// Run runs the soak and writes its report into o.Out. The error is for a
// run that could not be made (a binary missing, a port); a run that was
// made and failed returns a Report with Pass false.
func Run(ctx context.Context, o Options) (*Report, error) {
	def := Defaults()
	if o.Cameras <= 0 {
		o.Cameras = def.Cameras
	}
	for _, d := range []struct{ v, def *time.Duration }{{&o.Duration, &def.Duration}, {&o.FaultEvery, &def.FaultEvery},
		{&o.FaultLength, &def.FaultLength}, {&o.SampleEvery, &def.SampleEvery}, {&o.Recover, &def.Recover}} {
		if *d.v <= 0 {
			*d.v = *d.def
		}
	}
	if o.FPS <= 0 {
		o.FPS = def.FPS
	}
	if o.Clip == "" {
		o.Clip = def.Clip
	}
	if o.Camrelay == "" {
		o.Camrelay = def.Camrelay
	}
	if abs, err := filepath.Abs(o.Camrelay); err == nil {
		o.Camrelay = abs // it runs in its own folder
	}
	if o.Out == "" {
		o.Out = def.Out
	}
	if o.MemSlope <= 0 {
		o.MemSlope = def.MemSlope
	}
	if o.GoroutineSlope <= 0 {
		o.GoroutineSlope = def.GoroutineSlope
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	r := &run{o: o, exited: make(chan struct{}), levels: map[string]int{}}
	r.progress = func(format string, a ...any) {
		fmt.Fprintf(o.Progress, "soak %s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	if o.MediaMTX != "" {
		os.Setenv("CAMRELAY_MEDIAMTX", o.MediaMTX)
	}
	rep := &Report{Started: time.Now().UTC(), Options: o, Machine: machine()}
	if out, err := exec.Command(o.Camrelay, "version").CombinedOutput(); err == nil {
		rep.Machine["camrelay"] = strings.TrimSpace(string(out))
	}

	// Cameras.
	srv := &camsim.Server{}
	for i := 1; i <= o.Cameras; i++ {
		c, err := srv.AddCamera(camsim.CameraConfig{Path: camName(i), Clip: o.Clip, FPS: o.FPS})
		if err != nil {
			return nil, fmt.Errorf("camsim: %w", err)
		}
		r.cams = append(r.cams, c)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("camsim: %w", err)
	}
	defer srv.Close()

	// MediaMTX, its API on, WebRTC and HLS off (mtxtest's defaults).
	mtx, err := mtxtest.StartProcess(ctx, mtxtest.Config{API: true, LogLevel: "warn"})
	if err != nil {
		return nil, err
	}
	r.mtx = mtx
	defer mtx.Stop()

	// camrelay.
	dir, err := os.MkdirTemp("", "camrelay-soak-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	apiAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	r.metrics = "http://" + apiAddr + "/metrics"
	conf := filepath.Join(dir, "camrelay.yml")
	if err := os.WriteFile(conf, []byte(r.config(srv.Addr(), apiAddr)), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(o.Out, "camrelay.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	if err := r.startRelay(conf, logf); err != nil {
		return nil, err
	}
	defer r.stopRelay()

	pctx, stopPolls := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { r.pollLoop(pctx) })

	start := time.Now()
	r.progress("%d cameras, %v, a fault every %v; camrelay pid %d, MediaMTX pid %d, report in %s",
		o.Cameras, o.Duration, o.FaultEvery, r.relay.Process.Pid, mtx.PID(), o.Out)
	if err := r.waitAllFlowing(ctx, 90*time.Second); err != nil {
		rep.Failures = append(rep.Failures, "start-up: "+err.Error())
	}
	rep.StartupSec = time.Since(start).Seconds()
	r.t0 = time.Now()

	// Faults on their own schedule, samples on theirs.
	var faults []Fault
	fctx, stopFaults := context.WithCancel(ctx)
	wg.Go(func() { faults = r.faultLoop(fctx) })
	rep.Samples = r.sampleLoop(ctx)
	stopFaults()
	// Let the last fault's recovery be seen.
	time.Sleep(2 * time.Second)
	stopPolls()
	wg.Wait()
	rep.Elapsed = time.Since(r.t0).Seconds()

	rep.Faults = r.judgeFaults(faults)
	rep.Trends = trends(rep.Samples, o)
	r.mu.Lock()
	rep.Panics = append(rep.Panics, r.panics...)
	rep.LogLines = r.lines
	rep.LogErrors = r.levels
	r.mu.Unlock()
	select {
	case <-r.exited:
		rep.Exited = r.relay.ProcessState.String()
	default:
	}
	rep.verdict()
	if err := writeReport(o.Out, rep); err != nil {
		return rep, err
	}
	return rep, nil
}

// Render writes the report files of dir again from its soak.json.
func Render(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "soak.json"))
	if err != nil {
		return err
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return err
	}
	return writeReport(dir, &rep)
}

func camName(i int) string { return fmt.Sprintf("cam%d", i) }

// config is camrelay's configuration: every camera over TCP into MediaMTX as
// its publishing user, the API (and /metrics) open on a loopback port.
func (r *run) config(camAddr, apiAddr string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "output: rtsp://%s:%s@%s/{path}\nlog: {level: info}\napi: {listen: %q}\ndefaults: {transport: tcp}\ncameras:\n",
		mtxtest.RelayUser, mtxtest.RelayPass, r.mtx.RTSPAddr(), apiAddr)
	for i := 1; i <= r.o.Cameras; i++ {
		fmt.Fprintf(&b, "  - {name: %s, source: 'rtsp://%s/%s'}\n", camName(i), camAddr, camName(i))
	}
	return b.String()
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

var (
	rePanic = regexp.MustCompile(`^(panic: |fatal error: |goroutine \d+ \[running\]|SIGSEGV|runtime error: )`)
	reLevel = regexp.MustCompile(`level=(\w+)`)
)

func (r *run) startRelay(conf string, logf *os.File) error {
	cmd := exec.Command(r.o.Camrelay, "run", "-c", conf)
	cmd.Dir = filepath.Dir(conf)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("camrelay: %w", err)
	}
	r.relay = cmd
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			r.mu.Lock()
			r.lines++
			if m := reLevel.FindStringSubmatch(line); m != nil {
				r.levels[m[1]]++
			}
			if rePanic.MatchString(strings.TrimSpace(line)) || strings.Contains(line, "panic recovered") {
				r.panics = append(r.panics, line)
			}
			r.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() {
		_ = cmd.Wait()
		pw.Close()
		close(r.exited)
	}()
	return nil
}

func (r *run) stopRelay() {
	select {
	case <-r.exited:
		return
	default:
	}
	_ = r.relay.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(15 * time.Second):
		_ = r.relay.Process.Kill()
		<-r.exited
	}
}

var apiHTTP = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// pollLoop reads MediaMTX's paths every second (a frozen MediaMTX gives
// failed polls).
func (r *run) pollLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		p := poll{t: time.Now(), paths: map[string]pathState{}}
		items, err := mtxPaths(ctx, r.mtx.APIURL())
		if err == nil {
			p.ok = true
			for _, it := range items {
				p.paths[it.Name] = pathState{ready: it.Ready, bytes: it.BytesReceived}
			}
		}
		r.mu.Lock()
		r.polls = append(r.polls, p)
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

type apiPath struct {
	Name          string `json:"name"`
	Ready         bool   `json:"ready"`
	BytesReceived uint64 `json:"bytesReceived"`
}

func mtxPaths(ctx context.Context, base string) ([]apiPath, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v3/paths/list?itemsPerPage=100000", nil)
	if err != nil {
		return nil, err
	}
	res, err := apiHTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("mediamtx api: %s", res.Status)
	}
	var out struct {
		Items []apiPath `json:"items"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return nil, err
	}
	return out.Items, nil
}

func (r *run) lastPolls(n int) []poll {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.polls) < n {
		n = len(r.polls)
	}
	return append([]poll(nil), r.polls[len(r.polls)-n:]...)
}

// waitAllFlowing waits until every camera's path is ready at MediaMTX with
// its bytes growing.
func (r *run) waitAllFlowing(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		ps := r.lastPolls(2)
		if len(ps) == 2 && ps[0].ok && ps[1].ok {
			n := 0
			for i := 1; i <= r.o.Cameras; i++ {
				a, b := ps[0].paths[camName(i)], ps[1].paths[camName(i)]
				if b.ready && b.bytes > a.bytes {
					n++
				}
			}
			if n == r.o.Cameras {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.exited:
			return errors.New("camrelay exited")
		case <-time.After(time.Second):
		}
	}
	return fmt.Errorf("not every camera flowing at MediaMTX within %v", limit)
}

func (r *run) since(t time.Time) float64 { return t.Sub(r.t0).Seconds() }

// faultLoop starts a fault every FaultEvery (the last one at least
// FaultEvery before the end, so that its recovery is seen), rotating kinds.
func (r *run) faultLoop(ctx context.Context) []Fault {
	var out []Fault
	for k := 0; ; k++ {
		at := r.t0.Add(time.Duration(k+1) * r.o.FaultEvery)
		if at.Add(r.o.FaultEvery).After(r.t0.Add(r.o.Duration)) {
			return out
		}
		select {
		case <-ctx.Done():
			return out
		case <-time.After(time.Until(at)):
		}
		kind := faultKinds[k%len(faultKinds)]
		f := Fault{Kind: kind, Start: r.since(time.Now())}
		// Camera faults walk over the cameras: 1, 8, 15, ... (mod N).
		cam := (k*7)%r.o.Cameras + 1
		var err error
		switch kind {
		case FaultCameraKill:
			c := r.cams[cam-1]
			f.Cameras = []string{camName(cam)}
			c.SetDown(true)
			c.Drop()
			sleepCtx(ctx, r.o.FaultLength/2)
			c.Restart()
			c.SetDown(false)
		case FaultCameraStall:
			c := r.cams[cam-1]
			f.Cameras = []string{camName(cam)}
			c.Stall(true)
			sleepCtx(ctx, r.o.FaultLength)
			c.Stall(false)
		case FaultMTXRestart:
			f.Cameras = r.allCams()
			err = r.mtx.Restart()
		case FaultMTXFrozen:
			f.Cameras = r.allCams()
			pid := r.mtx.PID()
			if err = syscall.Kill(pid, syscall.SIGSTOP); err == nil {
				sleepCtx(ctx, r.o.FaultLength)
				err = syscall.Kill(pid, syscall.SIGCONT)
			}
		}
		if err != nil {
			f.Err = err.Error()
		}
		f.Cleared = r.since(time.Now())
		r.progress("fault %d: %s on %s, %.0fs to %.0fs", k+1, kind, summarize(f.Cameras), f.Start, f.Cleared)
		out = append(out, f)
	}
}

func (r *run) allCams() []string {
	var out []string
	for i := 1; i <= r.o.Cameras; i++ {
		out = append(out, camName(i))
	}
	return out
}

func summarize(cams []string) string {
	if len(cams) > 3 {
		return fmt.Sprintf("all %d cameras", len(cams))
	}
	return strings.Join(cams, ", ")
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// judgeFaults finds, for every fault, when each affected camera's media
// arrived at MediaMTX again: the first poll after the fault cleared at
// which its path is ready and its bytes grew since the poll before (that
// one after the clearing too). A publisher that came back in a new
// MediaMTX session starts its path's byte count again from zero: a count
// that fell is a new session, and growth is looked for from there.
func (r *run) judgeFaults(fs []Fault) []Fault {
	r.mu.Lock()
	polls := append([]poll(nil), r.polls...)
	r.mu.Unlock()
	for i := range fs {
		f := &fs[i]
		cleared := r.t0.Add(time.Duration(f.Cleared * float64(time.Second)))
		start := r.t0.Add(time.Duration(f.Start * float64(time.Second)))
		f.PerCamera = map[string]float64{}
		prev := map[string]pathState{}
		seen := map[string]bool{}
		for _, p := range polls {
			if p.t.Before(cleared) || !p.ok {
				continue
			}
			for _, c := range f.Cameras {
				if _, done := f.PerCamera[c]; done {
					continue
				}
				st, had := p.paths[c], seen[c]
				before := prev[c]
				prev[c], seen[c] = st, true
				if had && st.ready && before.ready && st.bytes > before.bytes {
					f.PerCamera[c] = p.t.Sub(cleared).Seconds()
				}
			}
		}
		f.OK, f.Recovery = f.Err == "", 0
		for _, c := range f.Cameras {
			d, ok := f.PerCamera[c]
			if !ok {
				f.NotRecovered = append(f.NotRecovered, c)
				f.Recovery, f.OK = -1, false
				continue
			}
			if f.Recovery >= 0 && d > f.Recovery {
				f.Recovery = d
			}
			if d > r.o.Recover.Seconds() {
				f.OK = false
			}
		}
		// Cameras not in the fault: the longest run of polls without new
		// bytes, from the fault's start to the deadline after it cleared.
		if len(f.Cameras) == 1 {
			end := cleared.Add(r.o.Recover)
			for j := 1; j <= r.o.Cameras; j++ {
				c := camName(j)
				if c == f.Cameras[0] {
					continue
				}
				var last time.Time
				var prev uint64
				for _, p := range polls {
					if p.t.Before(start) || p.t.After(end) || !p.ok {
						continue
					}
					st := p.paths[c]
					if last.IsZero() || st.bytes != prev { // grown, or a new session
						last, prev = p.t, st.bytes
						continue
					}
					f.OthersStalled = max(f.OthersStalled, p.t.Sub(last).Seconds())
				}
			}
		}
	}
	return fs
}

// sampleLoop samples at 50 s past every SampleEvery (faults start on the
// minute and are over by then), until Duration.
func (r *run) sampleLoop(ctx context.Context) []Sample {
	var out []Sample
	pid := r.relay.Process.Pid
	prevCPU, _ := harness.ReadCPU(pid)
	prevMachine, _ := harness.ReadMachineCPU()
	prevT := time.Now()
	var prevBytes map[string]uint64
	offset := r.o.SampleEvery * 5 / 6
	for k := 0; ; k++ {
		at := r.t0.Add(offset + time.Duration(k)*r.o.SampleEvery)
		if at.After(r.t0.Add(r.o.Duration)) {
			return out
		}
		select {
		case <-ctx.Done():
			return out
		case <-r.exited:
			r.progress("camrelay exited: %v", r.relay.ProcessState)
			return out
		case <-time.After(time.Until(at)):
		}
		now := time.Now()
		s := Sample{T: r.since(now), Load: harness.LoadAvg(), BytesPerCam: map[string]uint64{}, RatePerCam: map[string]float64{}}
		if m, err := harness.ReadMemory(pid); err == nil {
			s.RSS, s.PSS, s.USS = m.RSS, m.PSS, m.USS
		}
		s.Anon = readAnonymous(pid)
		if c, err := harness.ReadCPU(pid); err == nil {
			s.CPU = 100 * (c - prevCPU).Seconds() / now.Sub(prevT).Seconds()
			prevCPU = c
		}
		if m, err := harness.ReadMachineCPU(); err == nil {
			s.MachineCPU = 100 * m.Utilization(prevMachine)
			prevMachine = m
		}
		vals, err := scrape(ctx, r.metrics)
		if err != nil {
			s.MetricsError = err.Error()
		}
		s.Goroutines = vals["go_goroutines"]
		s.HeapInuse = vals["go_memstats_heap_inuse_bytes"]
		s.Reconnects = vals["camrelay_camera_reconnects_total"]
		s.Up = vals["camrelay_camera_up"]
		if ps := r.lastPolls(2); len(ps) == 2 && ps[1].ok {
			for name, st := range ps[1].paths {
				s.BytesPerCam[name] = st.bytes
				before := ps[0].paths[name]
				switch prev, ok := prevBytes[name]; {
				case ok && st.bytes >= prev:
					s.RatePerCam[name] = float64(st.bytes-prev) * 8 / 1000 / now.Sub(prevT).Seconds()
				case ps[0].ok && st.bytes >= before.bytes:
					// A new MediaMTX session (a restart) counts from zero:
					// the rate over the last second.
					s.RatePerCam[name] = float64(st.bytes-before.bytes) * 8 / 1000 / ps[1].t.Sub(ps[0].t).Seconds()
				}
				// Flowing: ready, and new bytes since the poll before.
				if st.ready && ps[0].ok && st.bytes > ps[0].paths[name].bytes {
					s.CamsFlowing++
				}
			}
			prevBytes = s.BytesPerCam
		}
		prevT = now
		out = append(out, s)
		r.progress("sample %d at %.0fs: RSS %.1f MiB, PSS %.1f MiB, heap %.1f MiB, %v goroutines, %v reconnects, %d/%d cameras flowing, camrelay CPU %.1f%%, load %.2f",
			k+1, s.T, mib(s.RSS), mib(s.PSS), s.HeapInuse/(1<<20), s.Goroutines, s.Reconnects, s.CamsFlowing, r.o.Cameras, s.CPU, s.Load[0])
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// scrape reads camrelay's Prometheus metrics, summing the series of each
// name (over cameras).
func scrape(ctx context.Context, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	res, err := apiHTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: %s", res.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		name := line[:sp]
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err == nil {
			out[name] += v
		}
	}
	return out, sc.Err()
}

// trends tests RSS, anonymous RSS, heap in use and goroutines for growth.
func trends(ss []Sample, o Options) []Trend {
	var out []Trend
	series := []struct {
		name, unit string
		limit      float64
		v          func(Sample) float64
	}{
		{"RSS", "bytes", o.MemSlope, func(s Sample) float64 { return float64(s.RSS) }},
		// Anonymous memory (Go's heap and stacks, C allocations): what a
		// leak grows. RSS and USS also count pages of the binary and its
		// libraries as code paths run for the first time (a fault's
		// handling); PSS moreover moves when other processes map the same
		// libraries.
		{"anonymous RSS", "bytes", o.MemSlope, func(s Sample) float64 { return float64(s.Anon) }},
		{"heap in use", "bytes", o.MemSlope, func(s Sample) float64 { return s.HeapInuse }},
		{"goroutines", "goroutines", o.GoroutineSlope, func(s Sample) float64 { return s.Goroutines }},
	}
	for _, sr := range series {
		t := Trend{Series: sr.name, Unit: sr.unit, Limit: sr.limit}
		if len(ss) < 6 {
			out = append(out, t)
			continue
		}
		var xs, ys []float64
		half := ss[len(ss)-1].T / 2
		for _, s := range ss {
			if s.T >= half {
				xs, ys = append(xs, s.T/600), append(ys, sr.v(s))
			}
		}
		t.First, t.Last = sr.v(ss[0]), sr.v(ss[len(ss)-1])
		t.SlopePer10 = slope(xs, ys)
		third := len(ss) / 3
		var mid, last []float64
		for i, s := range ss {
			switch {
			case i >= len(ss)-third:
				last = append(last, sr.v(s))
			case i >= third:
				mid = append(mid, sr.v(s))
			}
		}
		t.Rise = median(last) - median(mid)
		t.Up = t.SlopePer10 > t.Limit && t.Rise > t.Limit/2
		out = append(out, t)
	}
	return out
}

func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	if n < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx, sy, sxx, sxy = sx+xs[i], sy+ys[i], sxx+xs[i]*xs[i], sxy+xs[i]*ys[i]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (rep *Report) verdict() {
	for _, t := range rep.Trends {
		if t.Up {
			rep.Failures = append(rep.Failures, fmt.Sprintf("%s trends up: %+.3g %s per 10 min over the second half, last third %+.3g over the middle third (limit %.3g per 10 min)",
				t.Series, t.SlopePer10, t.Unit, t.Rise, t.Limit))
		}
	}
	for i, f := range rep.Faults {
		switch {
		case f.Err != "":
			rep.Failures = append(rep.Failures, fmt.Sprintf("fault %d (%s) could not be made: %s", i+1, f.Kind, f.Err))
		case len(f.NotRecovered) > 0:
			rep.Failures = append(rep.Failures, fmt.Sprintf("fault %d (%s at %.0fs): %s never recovered", i+1, f.Kind, f.Start, summarize(f.NotRecovered)))
		case !f.OK:
			var slow []string
			for c, d := range f.PerCamera {
				if d > rep.Options.Recover.Seconds() {
					slow = append(slow, c)
				}
			}
			sort.Strings(slow)
			rep.Failures = append(rep.Failures, fmt.Sprintf("fault %d (%s at %.0fs): %s recovered after %.1fs, more than %v after the fault cleared",
				i+1, f.Kind, f.Start, summarize(slow), f.Recovery, rep.Options.Recover))
		}
	}
	if len(rep.Panics) > 0 {
		rep.Failures = append(rep.Failures, fmt.Sprintf("camrelay logged %d panic lines, first: %s", len(rep.Panics), rep.Panics[0]))
	}
	if rep.Exited != "" {
		rep.Failures = append(rep.Failures, "camrelay exited during the run: "+rep.Exited)
	}
	if len(rep.Samples) == 0 {
		rep.Failures = append(rep.Failures, "no samples")
	}
	rep.Pass = len(rep.Failures) == 0
}

func machine() map[string]string {
	m := map[string]string{"cpus": strconv.Itoa(runtime.NumCPU()), "go": runtime.Version(), "os": runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if l, _, ok := strings.Cut(string(b), "\n"); ok {
			m["memory"] = strings.Join(strings.Fields(l)[1:], " ")
		}
	}
	l := harness.LoadAvg()
	m["loadavg_at_start"] = fmt.Sprintf("%.2f %.2f %.2f", l[0], l[1], l[2])
	return m
}

// readAnonymous is the Anonymous line of /proc/PID/smaps_rollup, in bytes.
func readAnonymous(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Anonymous:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseUint(f[0], 10, 64)
				return n << 10
			}
		}
	}
	return 0
}

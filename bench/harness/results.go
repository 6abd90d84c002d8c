package harness

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Results is everything a harness run found; results.json is this.
type Results struct {
	Tool      string            `json:"tool"`
	Started   time.Time         `json:"started"`
	Finished  time.Time         `json:"finished"`
	Seconds   float64           `json:"seconds"`
	Complete  bool              `json:"complete"` // false when interrupted
	Machine   Machine           `json:"machine"`
	Versions  map[string]string `json:"versions"`
	Settings  Settings          `json:"settings"`
	Method    []string          `json:"method"`
	Idle      *Idle             `json:"idle,omitempty"`
	Goals     []Goal            `json:"goals"`
	Density   *Density          `json:"density,omitempty"`
	Fits      []Fit             `json:"fits,omitempty"`
	Summary   []Aggregate       `json:"summary"`
	Rows      []Row             `json:"rows"`
	Skipped   []string          `json:"skipped,omitempty"`
	Plots     []string          `json:"plots,omitempty"`
	Command   string            `json:"command"`
	Interrupt string            `json:"interrupted,omitempty"`
}

// Machine describes where the run happened.
type Machine struct {
	CPU         string     `json:"cpu"`
	Cores       int        `json:"cores"`
	MemTotalMiB uint64     `json:"mem_total_mib"`
	Kernel      string     `json:"kernel"`
	OS          string     `json:"os"`
	LoadStart   [3]float64 `json:"load_start"`
	LoadEnd     [3]float64 `json:"load_end"`
	// Netns is true when the run happened in a loopback-only network
	// namespace (--whep).
	Netns bool `json:"loopback_netns"`
}

// Settings are the options that shaped the figures.
type Settings struct {
	Scenarios       []string `json:"scenarios"`
	Relays          []string `json:"relays"`
	CopyNs          []int    `json:"copy_n"`
	TranscodeNs     []int    `json:"transcode_n"`
	DensityNs       []int    `json:"density_n"`
	Reps            int      `json:"repetitions"`
	SettleS         float64  `json:"settle_s"`
	MeasureS        float64  `json:"measure_s"`
	SampleCopy      int      `json:"latency_sample_copy"`
	SampleTranscode int      `json:"latency_sample_transcode"`
	WHEP            bool     `json:"whep"`
	WHEPSample      int      `json:"whep_sample"`
	Clip            string   `json:"clip"`
	ClipBytesFrame  float64  `json:"clip_bytes_per_frame"`
	Transcode       string   `json:"transcode"`
	Bitrate         string   `json:"bitrate"`
	FFmpegThreads   int      `json:"ffmpeg_threads"`
}

// Aggregate is one (scenario, relay, N) over its repetitions: medians with
// min and max. Figures are left out (nil) when any repetition failed.
type Aggregate struct {
	Scenario string `json:"scenario"`
	Relay    string `json:"relay"`
	N        int    `json:"n"`
	Runs     int    `json:"runs"`
	OK       int    `json:"ok"`
	Status   string `json:"status"` // ok or failed
	Reason   string `json:"reason,omitempty"`

	RelayCPUPct         *Spread `json:"relay_cpu_pct_per_stream,omitempty"`
	RelayCPUPctMarginal *Spread `json:"relay_cpu_pct_per_stream_marginal,omitempty"`
	MTXCPUPct           *Spread `json:"mediamtx_cpu_pct_per_stream,omitempty"`
	TotalCPUPct         *Spread `json:"total_cpu_pct_per_stream,omitempty"`
	RelayPSSMiB         *Spread `json:"relay_pss_mib_per_stream,omitempty"`
	RelayPSSMiBMarginal *Spread `json:"relay_pss_mib_per_stream_marginal,omitempty"`
	RelayUSSMiB         *Spread `json:"relay_uss_mib_per_stream,omitempty"`
	TotalPSSMiB         *Spread `json:"total_pss_mib_per_stream,omitempty"`
	TotalPSSMiBMarginal *Spread `json:"total_pss_mib_per_stream_marginal,omitempty"`
	P50                 *Spread `json:"latency_p50_ms,omitempty"`
	P95                 *Spread `json:"latency_p95_ms,omitempty"`
	P99                 *Spread `json:"latency_p99_ms,omitempty"`
	WHEPP50             *Spread `json:"whep_latency_p50_ms,omitempty"`
	WHEPP99             *Spread `json:"whep_latency_p99_ms,omitempty"`
	CamsimCPU           *Spread `json:"camsim_cpu_cores,omitempty"`
	ReadersCPU          *Spread `json:"readers_cpu_cores,omitempty"`
	MachineBusy         *Spread `json:"machine_busy,omitempty"`

	SampledFrames   uint64  `json:"sampled_frames"`
	SampledExpected uint64  `json:"sampled_expected"`
	LostFrames      uint64  `json:"lost_frames"`
	RTPPacketsLost  uint64  `json:"rtp_packets_lost"`
	WHEPFrames      uint64  `json:"whep_frames,omitempty"`
	WHEPExpected    uint64  `json:"whep_expected,omitempty"`
	BytesRatioMin   float64 `json:"bytes_ratio_min,omitempty"`
	CamsimFPSMin    float64 `json:"camsim_fps_min"`
	Loss            bool    `json:"loss"`
	RigSaturated    bool    `json:"rig_saturated"`
}

// aggregate groups rows by (scenario, relay, N).
func aggregate(rows []Row) []Aggregate {
	rows = slices.Clone(rows)
	sortRows(rows)
	var out []Aggregate
	for i := 0; i < len(rows); {
		j := i
		for j < len(rows) && rows[j].Scenario == rows[i].Scenario && rows[j].Relay == rows[i].Relay && rows[j].N == rows[i].N {
			j++
		}
		out = append(out, aggregateOne(rows[i:j]))
		i = j
	}
	return out
}

func aggregateOne(rs []Row) Aggregate {
	a := Aggregate{Scenario: rs[0].Scenario, Relay: rs[0].Relay, N: rs[0].N, Runs: len(rs), Status: "ok", BytesRatioMin: math.Inf(1), CamsimFPSMin: math.Inf(1)}
	var reasons []string
	for _, r := range rs {
		if r.Status == "ok" {
			a.OK++
		} else {
			reasons = append(reasons, fmt.Sprintf("rep %d: %s", r.Rep, r.Reason))
		}
	}
	if a.OK < a.Runs {
		a.Status = "failed"
		a.Reason = strings.Join(reasons, "; ")
		a.BytesRatioMin, a.CamsimFPSMin = 0, 0
		return a
	}
	col := func(f func(Row) float64) *Spread {
		var v []float64
		for _, r := range rs {
			v = append(v, f(r))
		}
		return SpreadOf(v)
	}
	lat := func(f func(*LatencySummary) float64, whep bool) *Spread {
		var v []float64
		for _, r := range rs {
			l := r.Latency
			if whep {
				l = r.WHEPLatency
			}
			if l != nil {
				v = append(v, f(l))
			}
		}
		return SpreadOf(v)
	}
	a.RelayCPUPct = col(func(r Row) float64 { return r.Derived.RelayCPUPct })
	a.RelayCPUPctMarginal = col(func(r Row) float64 { return r.Derived.RelayCPUPctMarginal })
	a.MTXCPUPct = col(func(r Row) float64 { return r.Derived.MTXCPUPct })
	a.TotalCPUPct = col(func(r Row) float64 { return r.Derived.TotalCPUPct })
	a.RelayPSSMiB = col(func(r Row) float64 { return r.Derived.RelayPSSMiB })
	a.RelayPSSMiBMarginal = col(func(r Row) float64 { return r.Derived.RelayPSSMiBMarginal })
	a.RelayUSSMiB = col(func(r Row) float64 { return r.Derived.RelayUSSMiB })
	a.TotalPSSMiB = col(func(r Row) float64 { return r.Derived.TotalPSSMiB })
	a.TotalPSSMiBMarginal = col(func(r Row) float64 { return r.Derived.TotalPSSMiBMarginal })
	a.P50 = lat(func(l *LatencySummary) float64 { return l.P50 }, false)
	a.P95 = lat(func(l *LatencySummary) float64 { return l.P95 }, false)
	a.P99 = lat(func(l *LatencySummary) float64 { return l.P99 }, false)
	a.WHEPP50 = lat(func(l *LatencySummary) float64 { return l.P50 }, true)
	a.WHEPP99 = lat(func(l *LatencySummary) float64 { return l.P99 }, true)
	a.CamsimCPU = col(func(r Row) float64 { return r.Rig["camsim"] })
	a.ReadersCPU = col(func(r Row) float64 { return r.Rig["readers"] })
	a.MachineBusy = col(func(r Row) float64 { return r.MachineBusy })
	for _, r := range rs {
		a.SampledFrames += r.SampledFrames
		a.SampledExpected += r.SampledExpected
		a.LostFrames += r.LostFrames
		a.RTPPacketsLost += r.RTPPacketsLost
		a.WHEPFrames += r.WHEPFrames
		a.WHEPExpected += r.WHEPExpected
		a.Loss = a.Loss || r.Loss
		a.RigSaturated = a.RigSaturated || r.RigSaturated
		if r.BytesRatioMin > 0 {
			a.BytesRatioMin = min(a.BytesRatioMin, r.BytesRatioMin)
		}
		a.CamsimFPSMin = min(a.CamsimFPSMin, r.CamsimFPSMin)
	}
	if math.IsInf(a.BytesRatioMin, 1) {
		a.BytesRatioMin = 0
	}
	if math.IsInf(a.CamsimFPSMin, 1) {
		a.CamsimFPSMin = 0
	}
	return a
}

func findAgg(aggs []Aggregate, scenario, relay string, n int) *Aggregate {
	for i := range aggs {
		if aggs[i].Scenario == scenario && aggs[i].Relay == relay && aggs[i].N == n {
			return &aggs[i]
		}
	}
	return nil
}

// Goal is one of the targets, checked against this run.
type Goal struct {
	Goal     string   `json:"goal"`
	Target   string   `json:"target"`
	Measured string   `json:"measured"`
	Ratio    *float64 `json:"ratio,omitempty"`
	// Met is nil when the run could not tell (a row failed or was not
	// run).
	Met  *bool  `json:"met"`
	Note string `json:"note,omitempty"`
}

// Density is the largest N camrelay carried without losing a frame.
type Density struct {
	MaxN int `json:"max_n_without_loss"`
	// Next is the first larger N tried, and what happened there.
	NextN      int    `json:"next_n,omitempty"`
	NextResult string `json:"next_result,omitempty"`
	Note       string `json:"note"`
}

func ptrBool(b bool) *bool        { return &b }
func ptrFloat(f float64) *float64 { return &f }
func med(s *Spread) float64       { return s.Median }
func spreadStr(s *Spread, f string) string {
	if s == nil {
		return "-"
	}
	if s.N == 1 || s.Min == s.Max {
		return fmt.Sprintf(f, s.Median)
	}
	return fmt.Sprintf(f+" ["+f+"-"+f+"]", s.Median, s.Min, s.Max)
}

// goals checks the targets.
func goals(aggs []Aggregate, fs []Fit) []Goal {
	var g []Goal
	notMeasured := func(name, target, why string) Goal {
		return Goal{Goal: name, Target: target, Measured: "not measured", Note: why}
	}
	const n64 = 64
	cr := findAgg(aggs, ScenarioCopy, RelayCamrelay, n64)
	dir := findAgg(aggs, ScenarioCopy, RelayDirect, n64)
	okAgg := func(a *Aggregate) bool { return a != nil && a.Status == "ok" }
	why := func(as ...*Aggregate) string {
		for _, a := range as {
			if a == nil {
				return "row not run"
			}
			if a.Status != "ok" {
				return fmt.Sprintf("%s N=%d failed: %s", a.Relay, a.N, a.Reason)
			}
		}
		return ""
	}

	t := "copy N=64: camrelay CPU per stream (its process alone) <= 0.1% of a core"
	if okAgg(cr) {
		v := med(cr.RelayCPUPct)
		g = append(g, Goal{Goal: t, Target: "<= 0.100%", Measured: fmt.Sprintf("%s%% (marginal %.3f%%)", spreadStr(cr.RelayCPUPct, "%.3f"), med(cr.RelayCPUPctMarginal)),
			Ratio: ptrFloat(v / 0.1), Met: ptrBool(v <= 0.1), Note: "whole process / N, idle cost included"})
	} else {
		g = append(g, notMeasured(t, "<= 0.100%", why(cr)))
	}

	for _, n := range []int{n64, 256} {
		cr, dir := findAgg(aggs, ScenarioCopy, RelayCamrelay, n), findAgg(aggs, ScenarioCopy, RelayDirect, n)
		if n != n64 && cr == nil && dir == nil {
			continue // not part of this run
		}
		t := fmt.Sprintf("copy N=%d: camrelay CPU per stream (its whole process / N) <= 0.5x MediaMTX direct's", n)
		if okAgg(cr) && okAgg(dir) {
			r := med(cr.RelayCPUPct) / med(dir.RelayCPUPct)
			g = append(g, Goal{Goal: t, Target: "<= 0.50x", Measured: fmt.Sprintf("%s%% vs %s%% per stream: %.2fx", spreadStr(cr.RelayCPUPct, "%.3f"), spreadStr(dir.RelayCPUPct, "%.3f"), r),
				Ratio: ptrFloat(r), Met: ptrBool(r <= 0.5), Note: "medians over repetitions, same run; this is what makes camrelay + MediaMTX <= 1.5x MediaMTX direct"})
		} else {
			g = append(g, notMeasured(t, "<= 0.50x", why(cr, dir)))
		}
		t = fmt.Sprintf("copy N=%d: camrelay + receiving MediaMTX CPU <= 1.5x MediaMTX direct", n)
		if okAgg(cr) && okAgg(dir) {
			r := med(cr.TotalCPUPct) / med(dir.TotalCPUPct)
			g = append(g, Goal{Goal: t, Target: "<= 1.50x", Measured: fmt.Sprintf("%.3f%% vs %.3f%% per stream: %.2fx", med(cr.TotalCPUPct), med(dir.TotalCPUPct), r),
				Ratio: ptrFloat(r), Met: ptrBool(r <= 1.5), Note: "medians over repetitions; both MediaMTX also serve the same sampled readers"})
		} else {
			g = append(g, notMeasured(t, "<= 1.50x", why(cr, dir)))
		}
		if n == n64 {
			continue // the N=64 loss goal follows
		}
		t = fmt.Sprintf("copy N=%d: no frame lost through camrelay", n)
		if okAgg(cr) {
			g = append(g, Goal{Goal: t, Target: "0 lost", Measured: fmt.Sprintf("%d of %d sampled frames lost, %d RTP packets lost at MediaMTX, bytes delivered >= %.3f of sent on every stream",
				cr.LostFrames, cr.SampledExpected, cr.RTPPacketsLost, cr.BytesRatioMin), Met: ptrBool(!cr.Loss)})
		} else {
			g = append(g, notMeasured(t, "0 lost", why(cr)))
		}
	}

	t = "copy: camrelay PSS per added stream <= MediaMTX direct's"
	fc, fd := findFit(fs, ScenarioCopy, RelayCamrelay), findFit(fs, ScenarioCopy, RelayDirect)
	switch {
	case fc != nil && fd != nil && len(fc.Ns) >= 2 && len(fd.Ns) >= 2:
		// The slope over every N is steadier than one N minus an idle
		// process measured separately.
		m := fmt.Sprintf("fit over N: %.3f vs %.3f MiB per added stream", fc.PSSMiB, fd.PSSMiB)
		if okAgg(cr) && okAgg(dir) {
			m += fmt.Sprintf("; at N=64, (PSS - idle)/N %.3f vs %.3f MiB, PSS/N %.3f vs %.3f MiB",
				med(cr.RelayPSSMiBMarginal), med(dir.RelayPSSMiBMarginal), med(cr.RelayPSSMiB), med(dir.RelayPSSMiB))
		}
		g = append(g, Goal{Goal: t, Target: fmt.Sprintf("<= %.3f MiB (MediaMTX direct, per added stream)", fd.PSSMiB), Measured: m,
			Ratio: ptrFloat(fc.PSSMiB / fd.PSSMiB), Met: ptrBool(fc.PSSMiB <= fd.PSSMiB),
			Note: "marginal PSS per added stream = slope of a least-squares line through PSS against N over all runs"})
	case okAgg(cr) && okAgg(dir):
		c, d := med(cr.RelayPSSMiBMarginal), med(dir.RelayPSSMiBMarginal)
		cg, dg := med(cr.RelayPSSMiB), med(dir.RelayPSSMiB)
		g = append(g, Goal{Goal: t, Target: fmt.Sprintf("<= %.3f MiB (MediaMTX direct, marginal)", d),
			Measured: fmt.Sprintf("marginal %.3f vs %.3f MiB; whole process / N %.3f vs %.3f MiB", c, d, cg, dg),
			Ratio:    ptrFloat(c / d), Met: ptrBool(c <= d), Note: "marginal = (PSS at N - PSS of the idle process) / N"})
	default:
		g = append(g, notMeasured(t, "<= MediaMTX direct", why(cr, dir)))
	}

	t = "copy N=64: no frame lost through camrelay"
	if okAgg(cr) {
		g = append(g, Goal{Goal: t, Target: "0 lost", Measured: fmt.Sprintf("%d of %d sampled frames lost, %d RTP packets lost at MediaMTX, bytes delivered >= %.3f of sent on every stream",
			cr.LostFrames, cr.SampledExpected, cr.RTPPacketsLost, cr.BytesRatioMin), Met: ptrBool(!cr.Loss)})
	} else {
		g = append(g, notMeasured(t, "0 lost", why(cr)))
	}

	d := density(aggs)
	t = "copy density: largest N camrelay holds with no frame loss on this machine"
	if d != nil {
		m := fmt.Sprintf("N = %d", d.MaxN)
		if d.NextN > 0 {
			m += fmt.Sprintf("; at N = %d: %s", d.NextN, d.NextResult)
		} else {
			m += " or more: the largest N measured held (the density scenario of --full goes further)"
		}
		g = append(g, Goal{Goal: t, Target: "stated", Measured: m, Met: ptrBool(d.MaxN > 0), Note: d.Note})
	} else {
		g = append(g, notMeasured(t, "stated", "no camrelay copy row"))
	}

	if d := densityOf(aggs, RelayNull); d != nil {
		t := "copy density into a null sink: largest N camrelay itself holds with no loss on this machine"
		m := fmt.Sprintf("N = %d", d.MaxN)
		if d.NextN > 0 {
			m += fmt.Sprintf("; at N = %d: %s", d.NextN, d.NextResult)
		} else {
			m += " or more: the largest N tried held"
		}
		g = append(g, Goal{Goal: t, Target: "stated", Measured: m, Met: ptrBool(d.MaxN > 0), Note: d.Note + "; the sink reads and discards (no MediaMTX), so this is camrelay's own limit"})
	}

	const n2 = 2
	tc := findAgg(aggs, ScenarioTranscode, RelayCamrelay, n2)
	tf := findAgg(aggs, ScenarioTranscode, RelayFFmpeg, n2)
	t = "transcode N=2: camrelay CPU per stream <= 0.9x ffmpeg's (same x264 settings)"
	if okAgg(tc) && okAgg(tf) {
		r := med(tc.RelayCPUPct) / med(tf.RelayCPUPct)
		g = append(g, Goal{Goal: t, Target: "<= 0.90x", Measured: fmt.Sprintf("%.1f%% vs %.1f%% per stream: %.2fx", med(tc.RelayCPUPct), med(tf.RelayCPUPct), r),
			Ratio: ptrFloat(r), Met: ptrBool(r <= 0.9)})
	} else {
		g = append(g, notMeasured(t, "<= 0.90x", why(tc, tf)))
	}
	t = "transcode N=2: camrelay p99 glass-to-glass latency <= ffmpeg's"
	if okAgg(tc) && okAgg(tf) && tc.P99 != nil && tf.P99 != nil {
		r := med(tc.P99) / med(tf.P99)
		g = append(g, Goal{Goal: t, Target: "<= 1.00x", Measured: fmt.Sprintf("%.1f ms vs %.1f ms: %.2fx", med(tc.P99), med(tf.P99), r),
			Ratio: ptrFloat(r), Met: ptrBool(r <= 1)})
	} else {
		g = append(g, notMeasured(t, "<= 1.00x", why(tc, tf)))
	}
	g = append(g, Goal{Goal: "memory reported as PSS or USS from /proc/PID/smaps_rollup, not RSS", Target: "PSS/USS",
		Measured: "PSS and USS per stream (RSS kept in results.json for comparison only)", Met: ptrBool(true)})
	return g
}

// density finds the largest N of camrelay's copy and density rows that is
// ok, without loss and without saturating the rig, with every smaller N so
// too. A saturated rig is not counted as held even when no frame was lost:
// latency then grows without bound.
func density(aggs []Aggregate) *Density { return densityOf(aggs, RelayCamrelay) }

// densityOf is density for one relay: camrelay into MediaMTX, or into the
// null sink (RelayNull).
func densityOf(aggs []Aggregate, relay string) *Density {
	var rows []Aggregate
	for _, a := range aggs {
		if a.Relay == relay && (a.Scenario == ScenarioCopy || a.Scenario == ScenarioDensity) {
			rows = append(rows, a)
		}
	}
	if len(rows) == 0 {
		return nil
	}
	slices.SortFunc(rows, func(a, b Aggregate) int { return a.N - b.N })
	d := &Density{}
	for _, a := range rows {
		if a.Status == "ok" && !a.Loss && !a.RigSaturated {
			d.MaxN = a.N
			continue
		}
		d.NextN = a.N
		switch {
		case a.Status != "ok":
			d.NextResult = "failed: " + a.Reason
		case a.Loss:
			d.NextResult = fmt.Sprintf("frames lost (%d of %d sampled, %d RTP packets, bytes ratio %.3f)", a.LostFrames, a.SampledExpected, a.RTPPacketsLost, a.BytesRatioMin)
		default:
			d.NextResult = "no frame lost"
		}
		if a.Status == "ok" {
			if a.RigSaturated {
				d.NextResult += fmt.Sprintf(", but the machine was saturated (%s busy, camsim's slowest camera %.1f fps)", pctSpread(a.MachineBusy), a.CamsimFPSMin)
			}
			if a.P99 != nil {
				d.NextResult += fmt.Sprintf("; latency p50 %.0f ms, p99 %.0f ms", a.P50.Median, a.P99.Median)
			}
		}
		break
	}
	if d.NextN == 0 {
		d.Note = "no larger N was tried (raise --density-n)"
	} else {
		d.Note = "held = every stream delivered, no frame lost, and the rig not saturated"
	}
	return d
}

// describeMachine reads what the run ran on.
func describeMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), LoadStart: LoadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb uint64
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "MemTotal:") {
				fmt.Sscanf(strings.TrimPrefix(l, "MemTotal:"), "%d", &kb)
			}
		}
		m.MemTotalMiB = kb / 1024
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				m.OS = strings.Trim(v, `"`)
			}
		}
	}
	if b, err := os.ReadFile("/etc/debian_version"); err == nil {
		m.OS += " (" + strings.TrimSpace(string(b)) + ")"
	}
	return m
}

// versions asks every program for its version.
func versions(o *Options) map[string]string {
	v := map[string]string{"go": runtime.Version(), "mediamtx": mtxVersion}
	first := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).Output()
		if err != nil {
			return "unknown (" + err.Error() + ")"
		}
		l, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		return l
	}
	v["camrelay"] = first(o.Camrelay, "version")
	// The tree camrelay was built from: the commit, and whether files
	// outside bench/ differed from it (others may be editing the tree).
	if out, err := exec.Command("git", "-C", o.Root, "rev-parse", "--short", "HEAD").Output(); err == nil {
		c := strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "-C", o.Root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil {
			var dirty []string
			for _, l := range strings.Split(strings.TrimSpace(string(st)), "\n") {
				if f := strings.TrimSpace(l); len(f) > 3 && !strings.HasPrefix(strings.TrimSpace(f[2:]), "bench/") {
					dirty = append(dirty, strings.TrimSpace(f[2:]))
				}
			}
			if len(dirty) > 0 {
				c += fmt.Sprintf(" + uncommitted changes in %d files (%s)", len(dirty), truncate(strings.Join(dirty, ", "), 200))
			}
		}
		v["camrelay_commit"] = c
	}
	v["ffmpeg"] = first(o.FFmpeg, "-hide_banner", "-version")
	if f := strings.Fields(first(o.FFmpeg, "-hide_banner", "-version")); len(f) >= 3 {
		v["ffmpeg"] = "ffmpeg " + f[2]
	}
	if out, err := exec.Command("pkg-config", "--modversion", "libavcodec").Output(); err == nil {
		v["libavcodec"] = strings.TrimSpace(string(out))
	}
	// libx264 ships no .pc file without its -dev package: ask dpkg.
	if out, err := exec.Command("dpkg-query", "-W", "-f", "${Package} ${Version}\n", "libx264-[0-9]*").Output(); err == nil {
		if l, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n"); l != "" {
			v["libx264"] = l
		}
	}
	return v
}

// method explains how every figure was obtained.
func method(o *Options) []string {
	return []string{
		"Every run starts fresh processes: camsim (a worker process of this binary: simulated cameras), a real MediaMTX " + mtxVersion + " with internal auth (a publish-only relay user limited to 127.0.0.1; anonymous read), the relay, and a reader worker process. Only loopback is used; TCP everywhere (cameras, publishing, readers, direct sources).",
		"Relays: camrelay is one process (`camrelay run -c FILE`, built with -tags libav); ffmpeg is one process per camera; mediamtx-direct is MediaMTX pulling every camera itself (source: rtsp://..., sourceOnDemand: no, rtspTransport: tcp), so MediaMTX is the relay there.",
		fmt.Sprintf("After every MediaMTX path is ready, readers connect, then the run settles %v and measures for %v. Relays run in a different order in each repetition.", o.Settle, o.Measure),
		"CPU: utime+stime from /proc/PID/stat at the window's edges, divided by the window: cores; per stream = cores / N x 100 (% of one core). 'Marginal' subtracts the idle process first (MediaMTX without streams, camrelay without cameras, measured at the start); ffmpeg has no shared idle process. Total = relay + the MediaMTX it publishes into (for mediamtx-direct, MediaMTX alone).",
		"Memory: PSS (and USS = Private_Clean + Private_Dirty) from /proc/PID/smaps_rollup, the mean of four readings spread over the window, summed over a relay's processes (PSS adds up across processes; RSS would count shared libraries once per ffmpeg).",
		"Latency: camsim stamps every frame with its send time: an SEI message for H.264 (copy), a pixel barcode for MJPEG (transcode; it survives decoding and re-encoding; whole milliseconds, so up to 1 ms high). A reader process plays a sample of streams from MediaMTX over RTSP/TCP (gortsplib) and takes the arrival of each frame's last packet; for the barcode it decodes the pictures with libav (decoding time is not counted). With --whep the same is done for a sample through MediaMTX's WebRTC server with a pion/webrtc client, inside a loopback-only network namespace.",
		"Loss, sampled streams: SEI stamps carry camsim's frame number, so frames lost = numbers missing between the first and last stamp of the window. Transcoded streams are counted against camsim's frames sent in the window (up to 2 frames of window-edge difference per stream are not counted as loss).",
		"Loss, every stream: MediaMTX's API: every path ready and receiving; bytesReceived per path in the window against camsim's frames in the window times the clip's mean bytes per frame as RTP (a stream below 0.97 counts as loss; ffmpeg re-packetizes at 1460 bytes so its ratio sits slightly under camsim's 1400-byte packets); rtpPacketsLost of the publishing RTSP sessions.",
		"Honesty: a run whose paths are not all ready and receiving, whose sampled readers get no frames, or whose relay process exits, is reported as failed and shows no figures. A relay that fails at some N is not tried at larger N.",
		"Rig: camsim, the readers and the harness are measured too (their CPU is in results.json and the table); a run where camsim could not keep its 25 fps clock on every camera (below 95%) or the machine was over 97% busy is marked rig-saturated.",
		"Transcode: camsim serves 1280x720 25 fps MJPEG over HTTP; both relays output H.264 1280x720 25 fps with libx264 ultrafast, zerolatency, baseline, the same bitrate (" + o.Bitrate + " with maxrate = bitrate and a half-second VBV buffer), an IDR every 50 frames, no scenecut, one thread each for decoding and encoding (camrelay's transcoder setting; ffmpeg gets -threads " + fmt.Sprint(o.FFmpegThreads) + ").",
	}
}

// Fit is the marginal cost per added stream by a least-squares line over
// every successful run of a relay in a scenario: cost = idle + slope * N.
type Fit struct {
	Scenario string `json:"scenario"`
	Relay    string `json:"relay"`
	Ns       []int  `json:"n"`
	Runs     int    `json:"runs"`
	// CPUPct is the slope of the relay's CPU, % of one core per added
	// stream; CPUIdlePct the intercept (the fitted idle process).
	CPUPct     float64 `json:"relay_cpu_pct_per_stream"`
	CPUIdlePct float64 `json:"relay_cpu_pct_at_0"`
	// TotalCPUPct includes the receiving MediaMTX (mediamtx-direct: itself).
	TotalCPUPct float64 `json:"total_cpu_pct_per_stream"`
	PSSMiB      float64 `json:"relay_pss_mib_per_stream"`
	PSSIdleMiB  float64 `json:"relay_pss_mib_at_0"`
	TotalPSSMiB float64 `json:"total_pss_mib_per_stream"`
}

// fits fits every (scenario, relay) that has successful runs at two or
// more N. Density runs extend camrelay's copy fit.
func fits(rows []Row) []Fit {
	type key struct{ sc, relay string }
	groups := map[key][]Row{}
	var order []key
	for _, r := range rows {
		if r.Status != "ok" {
			continue
		}
		sc := r.Scenario
		if sc == ScenarioDensity {
			sc = ScenarioCopy
		}
		k := key{sc, r.Relay}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	var out []Fit
	for _, k := range order {
		rs := groups[k]
		var n, cpu, tot, pss, tpss []float64
		var ns []int
		for _, r := range rs {
			n = append(n, float64(r.N))
			if !slices.Contains(ns, r.N) {
				ns = append(ns, r.N)
			}
			cpu = append(cpu, 100*r.RelayCPU)
			pss = append(pss, float64(r.RelayMem.PSS)/mib)
			if r.Relay == RelayDirect {
				tot = append(tot, 100*r.RelayCPU)
				tpss = append(tpss, float64(r.RelayMem.PSS)/mib)
			} else {
				tot = append(tot, 100*(r.RelayCPU+r.MediaMTXCPU))
				tpss = append(tpss, float64(r.RelayMem.PSS+r.MediaMTXMem.PSS)/mib)
			}
		}
		if len(ns) < 2 {
			continue
		}
		slices.Sort(ns)
		f := Fit{Scenario: k.sc, Relay: k.relay, Ns: ns, Runs: len(rs)}
		f.CPUIdlePct, f.CPUPct, _ = fitLine(n, cpu)
		_, f.TotalCPUPct, _ = fitLine(n, tot)
		f.PSSIdleMiB, f.PSSMiB, _ = fitLine(n, pss)
		_, f.TotalPSSMiB, _ = fitLine(n, tpss)
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b Fit) int {
		order := map[string]int{ScenarioCopy: 0, ScenarioTranscode: 1, RelayCamrelay: 0, RelayFFmpeg: 1, RelayDirect: 2}
		if a.Scenario != b.Scenario {
			return order[a.Scenario] - order[b.Scenario]
		}
		return order[a.Relay] - order[b.Relay]
	})
	return out
}

func findFit(fs []Fit, scenario, relay string) *Fit {
	for i := range fs {
		if fs[i].Scenario == scenario && fs[i].Relay == relay {
			return &fs[i]
		}
	}
	return nil
}

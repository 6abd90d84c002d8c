package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// writeJSON writes results.json.
func writeJSON(dir string, r *Results) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, "results.json"), append(b, '\n'))
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func yesNo(b *bool) string {
	switch {
	case b == nil:
		return "not measured"
	case *b:
		return "**met**"
	default:
		return "**not met**"
	}
}

// RenderMarkdown writes the report: goals, then one table per scenario.
func RenderMarkdown(w io.Writer, r *Results) {
	fmt.Fprintf(w, "# relaybench results, %s\n\n", r.Started.Format("2006-01-02 15:04 MST"))
	if !r.Complete {
		fmt.Fprintf(w, "**Incomplete run** (%s): only the runs listed were made.\n\n", r.Interrupt)
	}
	m := r.Machine
	fmt.Fprintf(w, "Machine: %s, %d cores, %d MiB, %s, kernel %s. Load average at start %.2f %.2f %.2f, at end %.2f %.2f %.2f.",
		m.CPU, m.Cores, m.MemTotalMiB, m.OS, m.Kernel, m.LoadStart[0], m.LoadStart[1], m.LoadStart[2], m.LoadEnd[0], m.LoadEnd[1], m.LoadEnd[2])
	if m.Netns {
		fmt.Fprint(w, " Run inside a loopback-only network namespace (WHEP).")
	}
	vs := []string{"camrelay `" + r.Versions["camrelay"] + "`"}
	if c := r.Versions["camrelay_commit"]; c != "" {
		vs[0] += " built from commit " + c
	}
	vs = append(vs, "MediaMTX "+r.Versions["mediamtx"], r.Versions["ffmpeg"])
	if v := r.Versions["libavcodec"]; v != "" {
		vs = append(vs, "libavcodec "+v)
	}
	if v := r.Versions["libx264"]; v != "" {
		vs = append(vs, v)
	}
	vs = append(vs, r.Versions["go"])
	fmt.Fprintf(w, "\n\nVersions: %s.\n\n", strings.Join(vs, "; "))
	s := r.Settings
	fmt.Fprintf(w, "Run: `%s`, %s in all. %d repetition(s) per point (median [min-max] below), %.0f s settle + %.0f s window per run; latency on %d sampled stream(s) per copy run, %d per transcode run",
		r.Command, fmtDuration(secondsDuration(r.Seconds)), s.Reps, s.SettleS, s.MeasureS, s.SampleCopy, s.SampleTranscode)
	if s.WHEP {
		fmt.Fprintf(w, ", plus %d over WHEP", s.WHEPSample)
	}
	fmt.Fprint(w, ".\n\n")

	fmt.Fprint(w, "## Goals\n\n| goal | target | measured | ratio | verdict |\n|---|---|---|---|---|\n")
	for _, g := range r.Goals {
		ratio := "-"
		if g.Ratio != nil {
			ratio = fmt.Sprintf("%.2f", *g.Ratio)
		}
		note := g.Measured
		if g.Note != "" {
			note += " (" + g.Note + ")"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", g.Goal, g.Target, mdEscape(note), ratio, yesNo(g.Met))
	}
	fmt.Fprintln(w)
	if r.Idle != nil {
		if r.Idle.Error != "" {
			fmt.Fprintf(w, "Idle processes: not measured (%s).\n\n", r.Idle.Error)
		} else {
			fmt.Fprintf(w, "Idle processes (subtracted for the marginal figures): MediaMTX %.3f%% of a core, PSS %.1f MiB; camrelay without cameras %.3f%% of a core, PSS %.1f MiB.\n\n",
				100*r.Idle.MediaMTXCPU, float64(r.Idle.MediaMTXMem.PSS)/mib, 100*r.Idle.CamrelayCPU, float64(r.Idle.CamrelayMem.PSS)/mib)
		}
	}

	for _, sc := range []string{ScenarioCopy, ScenarioTranscode, ScenarioDensity} {
		var aggs []Aggregate
		for _, a := range r.Summary {
			if a.Scenario == sc {
				aggs = append(aggs, a)
			}
		}
		if len(aggs) == 0 {
			continue
		}
		switch sc {
		case ScenarioCopy:
			fmt.Fprint(w, "## Copy: H.264 720p25 cameras relayed into MediaMTX\n\n")
		case ScenarioTranscode:
			fmt.Fprint(w, "## Transcode: MJPEG 720p25 over HTTP to H.264 720p25\n\n")
		case ScenarioDensity:
			fmt.Fprint(w, "## Density: camrelay alone at larger N (one run each)\n\n")
		}
		renderTable(w, aggs)
		if sc == ScenarioCopy {
			renderRatios(w, aggs)
		}
	}
	fmt.Fprint(w, "Columns: CPU in % of one core per stream (relay = its own processes; +MediaMTX = relay plus the MediaMTX it publishes into, for mediamtx-direct MediaMTX alone); PSS in MiB per stream, whole processes / N and marginal (idle process subtracted); latency from camsim's send-time stamp to the reader, in ms (RTSP readers; WHEP if measured); frames = received / sent on the sampled streams; RTP lost = MediaMTX's rtpPacketsLost on publishing sessions; bytes = lowest ratio of bytes received to bytes sent over all streams; rig = CPU of camsim and of the readers in cores, and how busy the whole machine was.\n\n")
	if len(r.Fits) > 0 {
		fmt.Fprint(w, "## Marginal cost per added stream (least-squares fit over N)\n\n")
		fmt.Fprint(w, "cost(N) = idle + slope x N through every successful run; density runs extend camrelay's copy line.\n\n")
		fmt.Fprint(w, "| scenario | relay | N fitted | CPU relay %/stream | CPU +MediaMTX %/stream | PSS relay MiB/stream | PSS +MediaMTX MiB/stream | fitted idle: CPU %, PSS MiB |\n|---|---|---|---|---|---|---|---|\n")
		for _, f := range r.Fits {
			fmt.Fprintf(w, "| %s | %s | %s | %.3f | %.3f | %.3f | %.3f | %.2f, %.1f |\n", f.Scenario, f.Relay, joinInts(f.Ns),
				f.CPUPct, f.TotalCPUPct, f.PSSMiB, f.TotalPSSMiB, f.CPUIdlePct, f.PSSIdleMiB)
		}
		fmt.Fprintln(w)
	}

	if len(r.Plots) > 0 {
		fmt.Fprint(w, "## Plots\n\n")
		for _, p := range r.Plots {
			fmt.Fprintf(w, "![%s](%s)\n", strings.TrimSuffix(p, ".png"), p)
		}
		fmt.Fprintln(w)
	}
	var notes []string
	for _, row := range r.Rows {
		for _, n := range row.Notes {
			notes = append(notes, fmt.Sprintf("%s %s N=%d rep %d: %s", row.Scenario, row.Relay, row.N, row.Rep, n))
		}
		if row.Status != "ok" {
			notes = append(notes, fmt.Sprintf("%s %s N=%d rep %d: FAILED: %s", row.Scenario, row.Relay, row.N, row.Rep, row.Reason))
		}
	}
	notes = append(notes, r.Skipped...)
	if len(notes) > 0 {
		fmt.Fprint(w, "## Notes, failures and skipped runs\n\n")
		for _, n := range notes {
			fmt.Fprintf(w, "- %s\n", mdEscape(n))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprint(w, "## Method\n\n")
	for _, m := range r.Method {
		fmt.Fprintf(w, "- %s\n", m)
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, "## Commands\n\n")
	seen := map[string]bool{}
	for _, row := range r.Rows {
		key := row.Scenario + "/" + row.Relay
		if seen[key] || len(row.Commands) == 0 || row.Scenario == ScenarioDensity {
			continue
		}
		seen[key] = true
		fmt.Fprintf(w, "%s, %s (N=%d):\n\n```\n%s\n```\n\n", row.Scenario, row.Relay, row.N, strings.Join(row.Commands, "\n"))
	}
}

func renderTable(w io.Writer, aggs []Aggregate) {
	fmt.Fprint(w, "| relay | N | runs | CPU relay %/stream | CPU +MediaMTX %/stream | PSS MiB/stream (marginal) | USS MiB/stream | latency p50 / p95 / p99 ms | WHEP p50 / p99 ms | frames recv/sent | RTP lost | bytes | rig camsim / readers cores, machine busy |\n")
	fmt.Fprint(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, a := range aggs {
		if a.Status != "ok" {
			fmt.Fprintf(w, "| %s | %d | %d | **failed** | | | | | | | | | %s |\n", a.Relay, a.N, a.Runs, mdEscape(truncate(a.Reason, 200)))
			continue
		}
		flags := ""
		if a.Loss {
			flags += " **LOSS**"
		}
		if a.RigSaturated {
			flags += " **rig saturated**"
		}
		whep := "-"
		if a.WHEPP50 != nil {
			whep = fmt.Sprintf("%.1f / %.1f", a.WHEPP50.Median, a.WHEPP99.Median)
		}
		bytes := "-"
		if a.BytesRatioMin > 0 {
			bytes = fmt.Sprintf("%.3f", a.BytesRatioMin)
		}
		fmt.Fprintf(w, "| %s | %d | %d | %s | %s | %s (%s) | %s | %s / %s / %s | %s | %d/%d%s | %d | %s | %s / %s, %s |\n",
			a.Relay, a.N, a.Runs,
			spreadStr(a.RelayCPUPct, "%.3f"), spreadStr(a.TotalCPUPct, "%.3f"),
			spreadStr(a.RelayPSSMiB, "%.2f"), spreadStr(a.RelayPSSMiBMarginal, "%.2f"), spreadStr(a.RelayUSSMiB, "%.2f"),
			spreadStr(a.P50, "%.1f"), spreadStr(a.P95, "%.1f"), spreadStr(a.P99, "%.1f"), whep,
			a.SampledFrames, a.SampledExpected, flags, a.RTPPacketsLost, bytes,
			spreadStr(a.CamsimCPU, "%.2f"), spreadStr(a.ReadersCPU, "%.2f"), pctSpread(a.MachineBusy))
	}
	fmt.Fprintln(w)
}

func pctSpread(s *Spread) string {
	if s == nil {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*s.Median)
}

// renderRatios compares camrelay with the others at each N.
func renderRatios(w io.Writer, aggs []Aggregate) {
	ns := map[int]bool{}
	var order []int
	for _, a := range aggs {
		if !ns[a.N] {
			ns[a.N] = true
			order = append(order, a.N)
		}
	}
	fmt.Fprint(w, "Ratios (medians): camrelay's CPU per stream against the others'. \"alone\" is the relay process(es) alone; \"+MediaMTX\" includes the MediaMTX it publishes into, against MediaMTX pulling the cameras itself.\n\n")
	fmt.Fprint(w, "| N | camrelay / ffmpeg, alone | camrelay / ffmpeg, +MediaMTX | camrelay+MediaMTX / MediaMTX direct | camrelay PSS / MediaMTX direct PSS (marginal) |\n|---|---|---|---|---|\n")
	ratio := func(a, b *Aggregate, f func(*Aggregate) *Spread) string {
		if a == nil || b == nil || a.Status != "ok" || b.Status != "ok" || f(a) == nil || f(b) == nil || f(b).Median == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", f(a).Median/f(b).Median)
	}
	for _, n := range order {
		c := findAgg(aggs, ScenarioCopy, RelayCamrelay, n)
		f := findAgg(aggs, ScenarioCopy, RelayFFmpeg, n)
		d := findAgg(aggs, ScenarioCopy, RelayDirect, n)
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s |\n", n,
			ratio(c, f, func(a *Aggregate) *Spread { return a.RelayCPUPct }),
			ratio(c, f, func(a *Aggregate) *Spread { return a.TotalCPUPct }),
			ratio(c, d, func(a *Aggregate) *Spread { return a.TotalCPUPct }),
			ratio(c, d, func(a *Aggregate) *Spread { return a.RelayPSSMiBMarginal }))
	}
	fmt.Fprintln(w)
}

func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	return strings.ReplaceAll(s, "\n", " ")
}

package soak

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// writeReport writes soak.json, README.md and soak.png into dir.
func writeReport(dir string, rep *Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "soak.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	plotErr := writePlot(filepath.Join(dir, "soak.png"), rep)
	var md bytes.Buffer
	renderMarkdown(&md, rep, plotErr)
	if err := os.WriteFile(filepath.Join(dir, "README.md"), md.Bytes(), 0o644); err != nil {
		return err
	}
	return plotErr
}

func renderMarkdown(w *bytes.Buffer, rep *Report, plotErr error) {
	o := rep.Options
	verdict := "PASS"
	if !rep.Pass {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "# camrelay soak: %s\n\n", verdict)
	fmt.Fprintf(w, "%d cameras (camsim, H.264 %s at %d fps, over RTSP/TCP) through camrelay into MediaMTX for %v, started %s; a fault every %v rotating over %s; a sample every %v. Made by `make soak` (cmd/soak, bench/soak).\n\n",
		o.Cameras, filepath.Base(o.Clip), o.FPS, o.Duration, rep.Started.Format("2006-01-02 15:04 UTC"), o.FaultEvery, strings.Join(faultKinds, ", "), o.SampleEvery)
	if rep.Pass {
		w.WriteString("Memory and goroutines did not trend up, every camera recovered from every fault within the deadline, and camrelay logged no panic.\n\n")
	} else {
		w.WriteString("## Failures\n\n")
		for _, f := range rep.Failures {
			fmt.Fprintf(w, "- %s\n", f)
		}
		w.WriteString("\n")
	}
	if len(rep.Notes) > 0 {
		w.WriteString("## Notes\n\n")
		for _, n := range rep.Notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
		w.WriteString("\n")
	}
	if plotErr == nil {
		w.WriteString("![camrelay over the run](soak.png)\n\n")
	}

	w.WriteString("## Memory and goroutines\n\n")
	fmt.Fprintf(w, "How growth is decided: for each series, the least-squares slope over the second half of the run (after start-up and the first faults), and the median of the last third of the samples against the median of the middle third. A series trends up (and fails the run) when the slope exceeds the limit per 10 minutes **and** the rise exceeds half of it: a steady climb fails, noise that comes back or a single high sample does not. Memory series tested: RSS, anonymous RSS (Go's heap and stacks, C allocations: where a leak shows; RSS also counts pages of the binary and its libraries the first time a code path runs) and Go's heap in use. PSS and USS are sampled and plotted, not tested: PSS divides the pages camrelay shares (libav, libc) among every process on the machine that maps them, so it moves when other processes start and stop. Limits: %.0f MiB per 10 min for RSS, anonymous RSS and heap in use, %.0f goroutine per 10 min. Samples are taken %v into each %v, when the fault that started with it (if any) has cleared and cameras have recovered.\n\n",
		o.MemSlope/(1<<20), o.GoroutineSlope, o.SampleEvery*5/6, o.SampleEvery)
	w.WriteString("| series | first sample | last sample | slope, 2nd half, per 10 min | last third vs middle third | limit per 10 min | trends up |\n|---|---|---|---|---|---|---|\n")
	for _, t := range rep.Trends {
		f := func(v float64) string {
			if t.Unit == "bytes" {
				return fmt.Sprintf("%.2f MiB", v/(1<<20))
			}
			return fmt.Sprintf("%.1f", v)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", t.Series, f(t.First), f(t.Last), f(t.SlopePer10), f(t.Rise), f(t.Limit), yes(t.Up))
	}
	w.WriteString("\n")

	w.WriteString("## Faults\n\n")
	fmt.Fprintf(w, "Recovery is the time from the end of a fault (camera back up, stall over, MediaMTX ready after its restart, SIGCONT) to new media of every affected camera arriving at MediaMTX (its API's bytesReceived growing on a ready path; polled every second, so times are within about a second). Deadline: %v.\n\n", o.Recover)
	w.WriteString("| # | fault | cameras | start | cleared | recovery (slowest camera) | recovered within deadline | longest media gap of the other cameras |\n|---|---|---|---|---|---|---|---|\n")
	for i, f := range rep.Faults {
		rec := fmt.Sprintf("%.1f s", f.Recovery)
		if f.Recovery < 0 {
			rec = fmt.Sprintf("never (%s)", summarize(f.NotRecovered))
		}
		if f.Err != "" {
			rec += " (error: " + f.Err + ")"
		}
		others := "-"
		if len(f.Cameras) == 1 {
			others = fmt.Sprintf("%.0f s", f.OthersStalled)
		}
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s | %s | %s |\n", i+1, f.Kind, summarize(f.Cameras), mmss(f.Start), mmss(f.Cleared), rec, yes(f.OK), others)
	}
	w.WriteString("\n")

	w.WriteString("## Samples\n\n")
	w.WriteString("| t | RSS MiB | anonymous RSS MiB | PSS MiB | USS MiB | heap in use MiB | goroutines | reconnects (all cameras) | cameras up (camrelay) | cameras flowing at MediaMTX | kbit/s per camera at MediaMTX (min-median) | camrelay CPU % of a core | machine CPU % | load 1m |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range rep.Samples {
		var rates []float64
		for _, v := range s.RatePerCam {
			rates = append(rates, v)
		}
		sort.Float64s(rates)
		rate := "-"
		if len(rates) > 0 {
			rate = fmt.Sprintf("%.0f-%.0f", rates[0], median(rates))
		}
		fmt.Fprintf(w, "| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.0f | %.0f | %.0f | %d/%d | %s | %.1f | %.0f | %.2f |\n",
			mmss(s.T), mib(s.RSS), mib(s.Anon), mib(s.PSS), mib(s.USS), s.HeapInuse/(1<<20), s.Goroutines, s.Reconnects, s.Up, s.CamsFlowing, o.Cameras, rate, s.CPU, s.MachineCPU, s.Load[0])
	}
	w.WriteString("\n")

	w.WriteString("## The machine and its load\n\n")
	keys := make([]string, 0, len(rep.Machine))
	for k := range rep.Machine {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "- %s: %s\n", k, strings.ReplaceAll(rep.Machine[k], "\n", "; "))
	}
	var load, mcpu []float64
	for _, s := range rep.Samples {
		load, mcpu = append(load, s.Load[0]), append(mcpu, s.MachineCPU)
	}
	if len(load) > 0 {
		sort.Float64s(load)
		sort.Float64s(mcpu)
		fmt.Fprintf(w, "- during the run: 1-minute load average %.2f to %.2f (median %.2f), machine CPU %.0f%% to %.0f%% (median %.0f%%) of all cores. The machine was shared: other work ran beside the soak (camsim and this program's own polling included), so CPU figures are not a benchmark.\n",
			load[0], load[len(load)-1], median(load), mcpu[0], mcpu[len(mcpu)-1], median(mcpu))
	}
	fmt.Fprintf(w, "- start-up (camrelay started to every camera flowing at MediaMTX): %.1f s; run: %.0f s\n", rep.StartupSec, rep.Elapsed)
	fmt.Fprintf(w, "- camrelay's log: %d lines (camrelay.log), by level: %v; panic lines: %d\n", rep.LogLines, rep.LogErrors, len(rep.Panics))
	if plotErr != nil {
		fmt.Fprintf(w, "- plot not written: %v\n", plotErr)
	}
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func mmss(s float64) string {
	if s < 0 {
		return "-"
	}
	return fmt.Sprintf("%d:%02d", int(s)/60, int(s)%60)
}

var (
	blue   = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	orange = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
	green  = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}
	red    = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	grey   = color.RGBA{R: 0x99, G: 0x99, B: 0x99, A: 0xff}
	purple = color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}
)

// writePlot draws three panels over the run's minutes: memory (RSS, PSS,
// heap in use), goroutines and reconnects, and the media arriving at
// MediaMTX (sum over cameras and the slowest camera); faults are marked.
func writePlot(path string, rep *Report) error {
	if len(rep.Samples) == 0 {
		return fmt.Errorf("no samples")
	}
	line := func(p *plot.Plot, name string, c color.Color, v func(Sample) float64) error {
		var pts plotter.XYs
		for _, s := range rep.Samples {
			if y := v(s); !math.IsNaN(y) { // NaN: no reading
				pts = append(pts, plotter.XY{X: s.T / 60, Y: y})
			}
		}
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		l.Color, l.Width = c, vg.Points(1.5)
		sc.Color, sc.Shape, sc.Radius = c, draw.CircleGlyph{}, vg.Points(2)
		p.Add(l, sc)
		p.Legend.Add(name, l)
		return nil
	}
	faults := func(p *plot.Plot, ymax float64) {
		p.Y.Min, p.Y.Max = 0, ymax*1.4 // room for the legend above the lines
		for _, f := range rep.Faults {
			c := grey
			if !f.OK {
				c = red
			}
			l, err := plotter.NewLine(plotter.XYs{{X: f.Start / 60, Y: 0}, {X: f.Start / 60, Y: ymax}})
			if err == nil {
				l.Color, l.Dashes = c, []vg.Length{vg.Points(2), vg.Points(2)}
				p.Add(l)
			}
		}
	}
	maxOf := func(v func(Sample) float64) float64 {
		m := 0.0
		for _, s := range rep.Samples {
			if y := v(s); !math.IsNaN(y) {
				m = max(m, y)
			}
		}
		return m * 1.1
	}
	newPlot := func(title, y string) *plot.Plot {
		p := plot.New()
		p.Title.Text = title
		p.X.Label.Text = "minutes (dashed: faults; red: a fault not recovered in time)"
		p.Y.Label.Text = y
		p.Legend.Top, p.Legend.Left = true, false
		p.Add(plotter.NewGrid())
		return p
	}

	mem := newPlot(fmt.Sprintf("camrelay memory, %d cameras", rep.Options.Cameras), "MiB")
	for _, s := range []struct {
		n string
		c color.Color
		v func(Sample) float64
	}{
		{"RSS", blue, func(s Sample) float64 { return mib(s.RSS) }},
		{"PSS", orange, func(s Sample) float64 { return mib(s.PSS) }},
		{"USS", red, func(s Sample) float64 { return mib(s.USS) }},
		{"anonymous RSS", purple, func(s Sample) float64 { return mib(s.Anon) }},
		{"heap in use", green, func(s Sample) float64 { return s.HeapInuse / (1 << 20) }},
	} {
		if err := line(mem, s.n, s.c, s.v); err != nil {
			return err
		}
	}
	faults(mem, maxOf(func(s Sample) float64 { return mib(s.RSS) }))

	gr := newPlot("camrelay goroutines and reconnects (all cameras, cumulative)", "count")
	if err := line(gr, "goroutines", blue, func(s Sample) float64 { return s.Goroutines }); err != nil {
		return err
	}
	if err := line(gr, "reconnects", orange, func(s Sample) float64 { return s.Reconnects }); err != nil {
		return err
	}
	faults(gr, maxOf(func(s Sample) float64 { return max(s.Goroutines, s.Reconnects) }))

	media := newPlot("media arriving at MediaMTX, per camera, over the last minute", "kbit/s")
	perCam := func(f func([]float64) float64) func(Sample) float64 {
		return func(s Sample) float64 {
			var v []float64
			for _, r := range s.RatePerCam {
				v = append(v, r)
			}
			if len(v) == 0 {
				return math.NaN()
			}
			sort.Float64s(v)
			return f(v)
		}
	}
	if err := line(media, "median camera", blue, perCam(median)); err != nil {
		return err
	}
	if err := line(media, "slowest camera", red, perCam(func(v []float64) float64 { return v[0] })); err != nil {
		return err
	}
	faults(media, maxOf(perCam(median)))

	const w, h = 9 * vg.Inch, 11 * vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	t := draw.Tiles{Rows: 3, Cols: 1, PadTop: vg.Points(6), PadBottom: vg.Points(6), PadX: vg.Points(6), PadY: vg.Points(10)}
	canvases := plot.Align([][]*plot.Plot{{mem}, {gr}, {media}}, t, dc)
	mem.Draw(canvases[0][0])
	gr.Draw(canvases[1][0])
	media.Draw(canvases[2][0])
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		return err
	}
	return f.Close()
}

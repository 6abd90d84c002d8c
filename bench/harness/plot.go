package harness

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

func secondsDuration(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

var relayColors = map[string]color.Color{
	RelayCamrelay: color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	RelayFFmpeg:   color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	RelayDirect:   color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
}

// plotSpec is one figure: a value per (relay, N) of a scenario.
type plotSpec struct {
	file, title, ylabel string
	value               func(*Aggregate) *Spread
	// rising lines (latency) keep the legend on the left and get a log Y
	// axis when they span more than a factor of 20.
	rising bool
}

// writePlots draws, for every scenario, CPU per stream (relay alone, and
// with MediaMTX), PSS per stream and p99 latency against N, one line per
// relay, with min-max bars over the repetitions. Failed points are left
// out. It returns the files written.
func writePlots(dir string, aggs []Aggregate) ([]string, error) {
	specs := []plotSpec{
		{"cpu_per_stream", "CPU per stream, relay process(es) alone", "% of one core per stream", func(a *Aggregate) *Spread { return a.RelayCPUPct }, false},
		{"total_cpu_per_stream", "CPU per stream, relay + receiving MediaMTX", "% of one core per stream", func(a *Aggregate) *Spread { return a.TotalCPUPct }, false},
		{"pss_per_stream", "PSS per stream, relay process(es), marginal", "MiB per stream", func(a *Aggregate) *Spread { return a.RelayPSSMiBMarginal }, false},
		{"p99_latency", "p99 glass-to-glass latency (RTSP reader)", "ms", func(a *Aggregate) *Spread { return a.P99 }, true},
	}
	var files []string
	for _, sc := range []string{ScenarioCopy, ScenarioTranscode} {
		var aggs2 []Aggregate
		for _, a := range aggs {
			// Density points extend camrelay's copy line.
			if a.Scenario == sc || (sc == ScenarioCopy && a.Scenario == ScenarioDensity) {
				aggs2 = append(aggs2, a)
			}
		}
		if len(aggs2) == 0 {
			continue
		}
		for _, s := range specs {
			name := sc + "_" + s.file + ".png"
			ok, err := drawPlot(filepath.Join(dir, name), sc+": "+s.title, s.ylabel, aggs2, s.value, s.rising)
			if err != nil {
				return files, fmt.Errorf("plot %s: %w", name, err)
			}
			if ok {
				files = append(files, name)
			}
		}
	}
	return files, nil
}

func drawPlot(path, title, ylabel string, aggs []Aggregate, value func(*Aggregate) *Spread, rising bool) (bool, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "cameras (N)"
	p.Y.Label.Text = ylabel
	p.Legend.Top = true
	p.Legend.Left = rising
	var ns []int
	lines := 0
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, relay := range []string{RelayCamrelay, RelayFFmpeg, RelayDirect} {
		var pts plotter.XYs
		var errs plotter.YErrors
		for _, a := range aggs {
			if a.Relay != relay || a.Status != "ok" {
				continue
			}
			s := value(&a)
			if s == nil {
				continue
			}
			pts = append(pts, plotter.XY{X: float64(a.N), Y: s.Median})
			errs = append(errs, struct{ Low, High float64 }{s.Median - s.Min, s.Max - s.Median})
			if !slices.Contains(ns, a.N) {
				ns = append(ns, a.N)
			}
			ymin, ymax = min(ymin, s.Min), max(ymax, s.Max)
		}
		if len(pts) == 0 {
			continue
		}
		slices.SortFunc(pts, func(a, b plotter.XY) int { return int(a.X - b.X) })
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return false, err
		}
		c := relayColors[relay]
		l.Color, l.Width = c, vg.Points(1.5)
		sc.Color, sc.Shape = c, draw.CircleGlyph{}
		p.Add(l, sc)
		bars, err := plotter.NewYErrorBars(struct {
			plotter.XYer
			plotter.YErrorer
		}{pts, errs})
		if err == nil {
			bars.Color = c
			p.Add(bars)
		}
		p.Legend.Add(relay, l, sc)
		lines++
	}
	if lines == 0 {
		return false, nil
	}
	slices.Sort(ns)
	if len(ns) > 1 && ns[0] > 0 {
		p.X.Scale = plot.LogScale{}
		var ticks []plot.Tick
		for _, n := range ns {
			ticks = append(ticks, plot.Tick{Value: float64(n), Label: strconv.Itoa(n)})
		}
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
		p.X.Min, p.X.Max = float64(ns[0])*0.8, float64(ns[len(ns)-1])*1.25
	}
	switch {
	case rising && ymin > 0 && ymax/ymin > 20:
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Y.Label.Text += " (log scale)"
	case ymin >= 0:
		p.Y.Min = 0
	}
	p.Add(plotter.NewGrid())
	return true, p.Save(7*vg.Inch, 4.5*vg.Inch, path)
}

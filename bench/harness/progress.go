package harness

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progress keeps one status line on the terminal: which run, its phase,
// and the time left (the plan's estimates, scaled by how long the finished
// runs really took). Off a terminal it prints a line every 15 s instead.
type progress struct {
	w   io.Writer
	tty bool

	mu        sync.Mutex
	plan      []plannedRun
	est       []time.Duration
	doneIdx   map[int]bool
	estDone   time.Duration // estimates of finished runs
	realDone  time.Duration // what they took
	cur       int
	label     string
	ph        string
	phaseEnd  time.Time
	runStart  time.Time
	lastPrint time.Time
	stop      chan struct{}
	stopped   chan struct{}
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, doneIdx: map[int]bool{}}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) start(plan []plannedRun, estimate func(plannedRun) time.Duration) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	p.plan = plan
	p.est = make([]time.Duration, len(plan))
	for i, r := range plan {
		p.est[i] = estimate(r)
	}
	p.stop, p.stopped = make(chan struct{}), make(chan struct{})
	p.mu.Unlock()
	go p.loop()
}

func (p *progress) loop() {
	defer close(p.stopped)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.print(false)
		}
	}
}

// close ends the status line.
func (p *progress) close() {
	if p == nil || p.stop == nil {
		return
	}
	close(p.stop)
	<-p.stopped
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

func (p *progress) begin(i int, label string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.cur, p.label, p.runStart = i, label, time.Now()
	p.mu.Unlock()
	p.print(true)
}

func (p *progress) done(i int, took time.Duration) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if i < len(p.est) && !p.doneIdx[i] {
		p.doneIdx[i] = true
		if took > 0 {
			p.estDone += p.est[i]
			p.realDone += took
		}
	}
}

func (p *progress) phase(s string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.ph, p.phaseEnd = s, time.Time{}
	p.mu.Unlock()
}

// countdown shows the time left in the current phase.
func (p *progress) countdown(d time.Duration) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.phaseEnd = time.Now().Add(d)
	p.mu.Unlock()
}

// logf prints a line above the status line.
func (p *progress) logf(format string, args ...any) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}

func (p *progress) line() string {
	var left time.Duration
	for i, e := range p.est {
		if !p.doneIdx[i] {
			left += e
		}
	}
	if p.estDone > 0 {
		left = time.Duration(float64(left) * float64(p.realDone) / float64(p.estDone))
	}
	if p.cur < len(p.est) && !p.doneIdx[p.cur] && !p.runStart.IsZero() {
		left -= min(time.Since(p.runStart), left)
	}
	ph := p.ph
	if !p.phaseEnd.IsZero() {
		if r := time.Until(p.phaseEnd); r > 0 {
			ph += fmt.Sprintf(" %ds", int(r.Seconds()+0.5))
		}
	}
	return fmt.Sprintf("[run %d/%d] %s: %s | about %s left", p.cur+1, len(p.plan), p.label, ph, fmtDuration(left))
}

func (p *progress) print(force bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.w == nil || p.plan == nil {
		return
	}
	l := p.line()
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K"+truncate(l, 150))
		return
	}
	if force || time.Since(p.lastPrint) >= 15*time.Second {
		fmt.Fprintln(p.w, l)
		p.lastPrint = time.Now()
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

func fmtDuration(d time.Duration) string {
	d = d.Round(time.Second)
	if d >= time.Hour {
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	if d >= time.Minute {
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%ds", int(d.Seconds()))
}

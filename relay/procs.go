package relay

import (
	"log/slog"
	"math"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// Procs adapts the Go scheduler's processor count (GOMAXPROCS) to how busy
// the process is.
//
// A copy relay's work per frame is one read, one write and a few
// microseconds of Go; tens to hundreds of cameras use a fraction of a core.
// With more Ps than that needs, every time the network poller readies a
// camera the runtime wakes an idle thread to look for more work, which it
// rarely finds: futex wake-ups, spinning and context switches that were 15%
// of camrelay's CPU at 64 cameras on the 2-core development machine
// (bench/README.md). Procs keeps the Ps the measured load needs: it raises
// GOMAXPROCS at once when the process gets busy and lowers it one step at
// a time after the load has stayed well under what one fewer P carries.
// Work outside the Go scheduler (libav in cgo calls, the kernel's network
// stack inside system calls of threads that hand their P off) does not hold
// a P; the measured load includes it, so a transcoding relay keeps its Ps.
//
// An operator who sets GOMAXPROCS pins it: camrelay run then does not start
// Procs.
type Procs struct {
	// Max is the most Ps to use; 0 means GOMAXPROCS at Start (the CPUs
	// the process may use, cgroup limits included).
	Max int
	// Period is the time between load samples; 0 means a second.
	Period time.Duration
	// Floor, when set, is the fewest Ps to keep whatever the load. A
	// transcoder spends most of its time in long cgo calls that hold their
	// P until the runtime's monitor takes it back (up to 10 ms when it has
	// been idle): with one P, the camera readers and publishers would wait
	// behind x264. camrelay run keeps one P per transcoder besides one for
	// the rest.
	Floor func() int
	Log   *slog.Logger

	// cpu and set stand in for the process's CPU time and
	// runtime.GOMAXPROCS in tests.
	cpu func() time.Duration
	set func(int) int

	cur, calm int
	last      time.Duration
	lastAt    time.Time

	stop chan struct{}
	wg   sync.WaitGroup
}

const (
	// procsBusy: raise when the load per P goes above it.
	procsBusy = 0.6
	// procsIdle: lower when the load would stay under this per P with one
	// P fewer, for procsCalm samples in a row.
	procsIdle = 0.3
	procsCalm = 3
)

// Start begins sampling; Close stops it. Neither may be called twice.
func (p *Procs) Start() {
	if p.cpu == nil {
		p.cpu = processCPU
	}
	if p.set == nil {
		p.set = runtime.GOMAXPROCS
	}
	if p.Max <= 0 {
		p.Max = p.set(0)
	}
	if p.Period <= 0 {
		p.Period = time.Second
	}
	p.cur = p.set(0)
	p.last, p.lastAt = p.cpu(), time.Now()
	p.stop = make(chan struct{})
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(p.Period)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case now := <-t.C:
				c := p.cpu()
				if wall := now.Sub(p.lastAt); wall > 0 {
					p.sample(float64(c-p.last) / float64(wall))
				}
				p.last, p.lastAt = c, now
			}
		}
	}()
}

// Close stops sampling and leaves GOMAXPROCS where it is.
func (p *Procs) Close() {
	close(p.stop)
	p.wg.Wait()
}

// sample takes one load measurement (CPU time per wall time: cores) and
// changes GOMAXPROCS when it calls for it.
func (p *Procs) sample(load float64) {
	floor := 1
	if p.Floor != nil {
		floor = min(p.Max, max(1, p.Floor()))
	}
	next := p.cur
	switch {
	case p.cur < floor:
		next, p.calm = floor, 0
	case load > procsBusy*float64(p.cur) && p.cur < p.Max:
		next = min(p.Max, max(p.cur+1, int(math.Ceil(load/procsBusy))))
		p.calm = 0
	case p.cur > floor && load < procsIdle*float64(p.cur-1):
		p.calm++
		if p.calm >= procsCalm {
			next, p.calm = p.cur-1, 0
		}
	default:
		p.calm = 0
	}
	if next == p.cur {
		return
	}
	p.set(next)
	if p.Log != nil {
		p.Log.Debug("GOMAXPROCS adapted to the load", "from", p.cur, "to", next, "load_cores", math.Round(load*100)/100)
	}
	p.cur = next
}

// processCPU is the CPU time the process has used (user and system, every
// thread).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Command soak runs camrelay for a long time under faults (bench/soak):
// N cameras from camsim through the camrelay binary into MediaMTX, a fault
// every two minutes, a sample a minute, and a report (JSON, Markdown, PNG)
// that says whether memory and goroutines stayed flat and every camera
// recovered. It exits 1 when the run fails. `make soak` builds camrelay
// with libav and runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/camrelay/camrelay/bench/soak"
)

func main() {
	o := soak.Defaults()
	flag.IntVar(&o.Cameras, "cameras", o.Cameras, "simulated cameras")
	flag.DurationVar(&o.Duration, "duration", o.Duration, "how long to run")
	flag.DurationVar(&o.FaultEvery, "fault-every", o.FaultEvery, "a fault starts this often")
	flag.DurationVar(&o.FaultLength, "fault-length", o.FaultLength, "how long a camera stalls or MediaMTX stays frozen (a killed camera: half of it)")
	flag.DurationVar(&o.SampleEvery, "sample-every", o.SampleEvery, "a sample this often")
	flag.DurationVar(&o.Recover, "recover", o.Recover, "deadline from a fault's end to media flowing again")
	flag.IntVar(&o.FPS, "fps", o.FPS, "camera frame rate")
	flag.StringVar(&o.Clip, "clip", o.Clip, "H.264 Annex-B clip the cameras loop")
	flag.StringVar(&o.Camrelay, "camrelay", o.Camrelay, "camrelay binary")
	flag.StringVar(&o.MediaMTX, "mediamtx", o.MediaMTX, "MediaMTX binary (default: the cached build, see scripts/build-mediamtx.sh)")
	flag.StringVar(&o.Out, "out", o.Out, "report folder")
	mem := flag.Float64("mem-slope-mib", o.MemSlope/(1<<20), "memory growth limit, MiB per 10 minutes")
	flag.Float64Var(&o.GoroutineSlope, "goroutine-slope", o.GoroutineSlope, "goroutine growth limit per 10 minutes")
	render := flag.String("render", "", "write the README.md and soak.png of a report folder again from its soak.json, and exit")
	flag.Parse()
	if *render != "" {
		if err := soak.Render(*render); err != nil {
			fmt.Fprintln(os.Stderr, "soak:", err)
			os.Exit(2)
		}
		return
	}
	o.MemSlope = *mem * (1 << 20)
	o.Progress = os.Stderr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := soak.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		if rep == nil {
			os.Exit(2)
		}
	}
	if !rep.Pass {
		fmt.Fprintf(os.Stderr, "soak: FAIL (%s/README.md)\n", o.Out)
		for _, f := range rep.Failures {
			fmt.Fprintln(os.Stderr, "  -", f)
		}
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "soak: PASS (%s/README.md)\n", o.Out)
}

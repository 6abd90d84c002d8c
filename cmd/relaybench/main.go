// Command relaybench compares camrelay with an ffmpeg process per camera and
// with MediaMTX pulling the cameras itself: CPU and memory per stream,
// frame loss and glass-to-glass latency, as JSON, Markdown and PNG plots.
// See package bench/harness and bench/README.md.
package main

import (
	"os"

	"github.com/camrelay/camrelay/bench/harness"
)

func main() {
	if harness.IsWorker() {
		os.Exit(harness.WorkerMain(os.Args[1:]))
	}
	os.Exit(harness.Main(os.Args[1:], os.Stdout, os.Stderr))
}

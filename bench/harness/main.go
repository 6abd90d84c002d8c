package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/camrelay/camrelay/internal/testenv/mtxtest"
)

// netnsEnv marks the harness re-executed inside a loopback-only network
// namespace.
const netnsEnv = "RELAYBENCH_IN_NETNS"

// Main is relaybench: it parses args, runs the harness and writes the
// results, and returns the exit code. Workers are dispatched by the caller
// (IsWorker, WorkerMain) before this.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 2 && (args[0] == "-render" || args[0] == "--render") {
		if err := Render(args[1]); err != nil {
			fmt.Fprintln(stderr, "relaybench:", err)
			return 1
		}
		return 0
	}
	o, err := Parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "relaybench:", err)
		return 2
	}
	if o.WHEP && os.Getenv(netnsEnv) == "" {
		return reexecInNetns(args, stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o.Progress = stderr
	res, dir, err := Run(ctx, o, strings.Join(append([]string{"relaybench"}, args...), " "))
	if err != nil {
		fmt.Fprintln(stderr, "relaybench:", err)
		if res == nil {
			return 1
		}
	}
	fmt.Fprintf(stdout, "\nresults in %s (results.json, results.md, %d plots)\n\n", dir, len(res.Plots))
	for _, g := range res.Goals {
		fmt.Fprintf(stdout, "%-12s %s: %s\n", strings.Trim(yesNo(g.Met), "*"), g.Goal, g.Measured)
	}
	if !res.Complete {
		return 1
	}
	return 0
}

// reexecInNetns runs this command again in a new network namespace that has
// only a loopback interface: MediaMTX's WebRTC server joins the mDNS group
// on every interface for each session, and must see nothing but lo.
func reexecInNetns(args []string, stderr io.Writer) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(stderr, "relaybench: --whep needs a loopback-only network namespace (MediaMTX's WebRTC server joins mDNS multicast on every interface), which needs root; run as root or without --whep")
		return 2
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		fmt.Fprintln(stderr, "relaybench: --whep needs unshare (util-linux) for a loopback-only network namespace")
		return 2
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "relaybench:", err)
		return 1
	}
	cmd := exec.Command("unshare", append([]string{"--net", "--", "sh", "-c", `ip link set lo up && exec "$@"`, "sh", exe}, args...)...)
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// Ctrl-C reaches the child too (same process group); it cleans up and
	// exits, and this process waits for it.
	signal.Ignore(os.Interrupt, syscall.SIGTERM)
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		fmt.Fprintln(stderr, "relaybench: unshare:", err)
		return 1
	}
	return 0
}

// checkLoopbackOnly fails unless lo is the only interface.
func checkLoopbackOnly() error {
	ifs, err := net.Interfaces()
	if err != nil {
		return err
	}
	for _, i := range ifs {
		if i.Name != "lo" {
			return fmt.Errorf("interface %s in the network namespace: not loopback-only", i.Name)
		}
	}
	return nil
}

// Run runs the harness with o and writes results.json, results.md and the
// plots into the results folder, which it returns. Results are written
// after every run, so an interrupted harness leaves what it measured.
func Run(ctx context.Context, o Options, command string) (*Results, string, error) {
	res := &Results{Tool: "relaybench", Started: time.Now().UTC(), Command: command, Machine: describeMachine()}
	if o.WHEP {
		if os.Getenv(netnsEnv) == "" {
			return nil, "", errors.New("--whep: not in a loopback-only network namespace (Main re-executes itself with unshare)")
		}
		if err := checkLoopbackOnly(); err != nil {
			return nil, "", err
		}
		res.Machine.Netns = true
	}
	built := o.Camrelay == ""
	if err := prepare(ctx, &o); err != nil {
		return nil, "", err
	}
	if built {
		defer os.RemoveAll(filepath.Dir(o.Camrelay))
	}
	dir := o.Out
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", err
	}
	res.Versions = versions(&o)
	res.Method = method(&o)
	clipRate, err := clipBytesPerFrame(o.Clip, o.FPS)
	if err != nil {
		return nil, "", fmt.Errorf("clip: %w", err)
	}
	res.Settings = Settings{Scenarios: o.Scenarios, Relays: o.Relays, CopyNs: o.CopyNs, TranscodeNs: o.TranscodeNs, DensityNs: o.DensityNs,
		Reps: o.Reps, SettleS: o.Settle.Seconds(), MeasureS: o.Measure.Seconds(), SampleCopy: o.SampleCopy, SampleTranscode: o.SampleTranscode,
		WHEP: o.WHEP, WHEPSample: o.WHEPSample, Clip: relPath(o.Root, o.Clip), ClipBytesFrame: clipRate, Bitrate: o.Bitrate, FFmpegThreads: o.FFmpegThreads,
		Transcode: fmt.Sprintf("MJPEG %dx%d %d fps over HTTP -> H.264 %dx%d %d fps, libx264 ultrafast zerolatency baseline, %s", o.Width, o.Height, o.FPS, o.Width, o.Height, o.FPS, o.Bitrate)}
	if !o.has(ScenarioDensity) {
		res.Settings.DensityNs = nil
	}

	h := &harness{o: o, res: res, prog: newProgress(o.Progress), clipRate: clipRate}
	if o.WHEP {
		if h.whepPort, h.whepUDP, err = freePorts(); err != nil {
			return nil, "", err
		}
	}
	finish := func() error {
		res.Finished = time.Now().UTC()
		res.Seconds = res.Finished.Sub(res.Started).Seconds()
		res.Machine.LoadEnd = LoadAvg()
		return writeReport(dir, res)
	}
	h.onRow = func() {
		// Keep what was measured so far on disk (rows only; the report is
		// rendered at the end).
		_ = writeJSON(dir, res)
	}
	if o.Idle {
		res.Idle = h.measureIdle(ctx)
	}
	h.execute(ctx)
	h.prog.close()
	res.Complete = ctx.Err() == nil
	if !res.Complete {
		res.Interrupt = "interrupted: " + context.Cause(ctx).Error()
	}
	if err := finish(); err != nil {
		return res, dir, err
	}
	if !res.Complete {
		return res, dir, errors.New(res.Interrupt)
	}
	return res, dir, nil
}

func relPath(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

// prepare fills in defaults that need the file system: the module root,
// the clip, the results folder, the camrelay binary (built when not given),
// the worker executable; and checks MediaMTX and ffmpeg.
func prepare(ctx context.Context, o *Options) error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	if o.Root == "" {
		if o.Root, err = findRoot(wd); err != nil && (o.Clip == "" || o.Camrelay == "") {
			return err
		}
	}
	if o.Clip == "" {
		o.Clip = filepath.Join(o.Root, "testdata", "clips", "h264_1280x720_25.h264")
	}
	if o.Out == "" {
		if o.Full {
			o.Out = filepath.Join(o.Root, "bench", "results", time.Now().UTC().Format("2006-01-02"))
		} else if o.Out, err = os.MkdirTemp("", "relaybench-results-"); err != nil {
			return err
		}
	}
	if _, err := mtxtest.Binary(); err != nil {
		return err
	}
	if o.hasRelay(RelayFFmpeg) {
		if p, err := exec.LookPath(o.FFmpeg); err != nil {
			return fmt.Errorf("ffmpeg (%s) not found: install it (make deps) or leave it out with -relays: %w", o.FFmpeg, err)
		} else {
			o.FFmpeg = p
		}
	}
	if o.has(ScenarioTranscode) && !haveLibav {
		return errors.New("the transcode scenario reads barcodes with libav: build relaybench with -tags libav, or leave it out with -scenarios copy")
	}
	if o.Self.Path == "" {
		if o.Self.Path, err = os.Executable(); err != nil {
			return err
		}
	}
	if o.Camrelay == "" {
		bin, err := buildCamrelay(ctx, o.Root, o.has(ScenarioTranscode), o.CamrelayPureGo && !o.has(ScenarioTranscode))
		if err != nil {
			return err
		}
		o.Camrelay = bin
	}
	return nil
}

// buildCamrelay builds camrelay (with libav when the FFmpeg libraries are
// there, unless pureGo) into a new temporary folder, which Run removes.
func buildCamrelay(ctx context.Context, root string, needLibav, pureGo bool) (string, error) {
	dir, err := os.MkdirTemp("", "relaybench-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "camrelay")
	args := []string{"build", "-o", bin}
	if pureGo {
		// no libav
	} else if exec.Command("pkg-config", "--exists", "libavcodec", "libavformat", "libavutil", "libswscale", "libavfilter", "libswresample").Run() == nil {
		args = append(args, "-tags", "libav")
	} else if needLibav {
		return "", errors.New("the transcode scenario needs camrelay built with libav, and pkg-config finds no FFmpeg libraries (make deps)")
	}
	args = append(args, "./cmd/camrelay")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin, nil
}

// writeReport derives the summary, goals and fits from the rows and writes
// results.json, results.md and the plots.
func writeReport(dir string, res *Results) error {
	sortRows(res.Rows)
	res.Summary = aggregate(res.Rows)
	res.Fits = fits(res.Rows)
	res.Goals = goals(res.Summary, res.Fits)
	res.Density = density(res.Summary)
	plots, perr := writePlots(dir, res.Summary)
	res.Plots = plots
	var md bytes.Buffer
	RenderMarkdown(&md, res)
	if err := writeFileAtomic(filepath.Join(dir, "results.md"), md.Bytes()); err != nil {
		return err
	}
	if err := writeJSON(dir, res); err != nil {
		return err
	}
	return perr
}

// Render reads dir/results.json and writes the report again from its rows
// (after a change to the report code, without measuring again).
func Render(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		return err
	}
	var res Results
	if err := json.Unmarshal(b, &res); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(dir, "results.json"), err)
	}
	return writeReport(dir, &res)
}

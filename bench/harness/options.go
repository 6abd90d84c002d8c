package harness

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Options configure a harness run. Flags map onto them one to one (see
// Parse); the zero value is not usable, start from ShortOptions or
// FullOptions.
type Options struct {
	Scenarios   []string // copy, transcode, density
	Relays      []string // subset of camrelay, ffmpeg, mediamtx-direct
	CopyNs      []int
	TranscodeNs []int
	// DensityNs are camrelay-only copy runs beyond CopyNs, one repetition
	// each, in order, until one loses frames or fails.
	DensityNs []int
	Reps      int
	Settle    time.Duration // after every stream is ready, before measuring
	Measure   time.Duration // the measurement window
	// SampleCopy and SampleTranscode are how many streams get a latency
	// reader (spread over the N cameras).
	SampleCopy      int
	SampleTranscode int
	// WHEP adds a pion/webrtc reader on WHEPSample streams; the harness then
	// runs inside a loopback-only network namespace.
	WHEP       bool
	WHEPSample int
	// Idle measures the idle processes (MediaMTX without streams, camrelay
	// without cameras) for the marginal figures.
	Idle bool

	Out      string // results folder
	Camrelay string // camrelay binary; empty: built from the module
	FFmpeg   string
	Clip     string // H.264 720p25 clip for the copy cameras
	Width    int    // transcode output (and MJPEG camera) size
	Height   int
	FPS      int
	Bitrate  string // transcode bitrate, both sides, e.g. 2M
	// FFmpegThreads is -threads for ffmpeg's decoder and encoder in the
	// transcode scenario; camrelay's transcoder runs one thread each.
	FFmpegThreads int
	// CamrelayPureGo builds camrelay without libav when only the copy
	// scenario runs (the tests do, for a quicker build); the benchmark
	// itself runs the libav build, as deployed.
	CamrelayPureGo bool
	Full           bool
	Progress       io.Writer
	Self           Self
	// Root is the module's folder (found from the working directory).
	Root string
}

// ShortOptions is `make bench`'s run: a few minutes.
func ShortOptions() Options {
	return Options{
		Scenarios: []string{ScenarioCopy, ScenarioTranscode}, Relays: []string{RelayCamrelay, RelayFFmpeg, RelayDirect},
		CopyNs: []int{1, 8}, TranscodeNs: []int{1, 2}, Reps: 1,
		Settle: 3 * time.Second, Measure: 8 * time.Second,
		SampleCopy: 4, SampleTranscode: 1, WHEPSample: 1, Idle: true,
		Width: 1280, Height: 720, FPS: 25, Bitrate: "2M", FFmpegThreads: 1, FFmpeg: "ffmpeg",
	}
}

// FullOptions is `relaybench --full`: every scenario and N of the issue,
// three repetitions, WHEP on.
func FullOptions() Options {
	o := ShortOptions()
	o.Full = true
	o.Scenarios = []string{ScenarioCopy, ScenarioTranscode, ScenarioDensity}
	o.CopyNs = []int{1, 8, 64, 128, 256}
	o.TranscodeNs = []int{1, 2, 4, 8}
	o.DensityNs = []int{384, 512, 768, 1024}
	o.Reps = 3
	o.Settle = 10 * time.Second
	o.Measure = 30 * time.Second
	o.WHEP = true
	return o
}

// ffmpegX264 are the libx264 options of the ffmpeg transcode command: the
// issue's (-preset ultrafast -tune zerolatency) plus what camrelay's
// transcoder sets (codec/libav x264Options), so that both sides encode
// alike: the same bitrate with maxrate = bitrate and a half-second VBV
// buffer, baseline profile, an IDR every 2 s exactly, no B-frames, no
// scenecut, SPS/PPS repeated, and -threads.
func (o *Options) ffmpegX264() []string {
	br := o.Bitrate
	half := br
	if v, err := parseBitrate(br); err == nil {
		half = strconv.Itoa(v / 2)
		br = strconv.Itoa(v)
	}
	gop := strconv.Itoa(2 * o.FPS)
	args := []string{"-preset", "ultrafast", "-tune", "zerolatency", "-profile:v", "baseline",
		"-b:v", br, "-maxrate", br, "-bufsize", half, "-g", gop, "-keyint_min", gop, "-bf", "0",
		"-x264-params", "scenecut=0:repeat-headers=1:rc-lookahead=0:sync-lookahead=0"}
	if o.FFmpegThreads > 0 {
		args = append(args, "-threads", strconv.Itoa(o.FFmpegThreads))
	}
	return args
}

func parseBitrate(s string) (int, error) {
	s = strings.TrimSpace(s)
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "M"), strings.HasSuffix(s, "m"):
		mult, s = 1e6, s[:len(s)-1]
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, s = 1e3, s[:len(s)-1]
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("bitrate %q: write e.g. 2M or 1500k", s)
	}
	return int(f * mult), nil
}

// Parse reads the command line: --full picks FullOptions, and every other
// flag overrides one setting.
func Parse(args []string, stderr io.Writer) (Options, error) {
	full := false
	for _, a := range args {
		if a == "--full" || a == "-full" || a == "--full=true" || a == "-full=true" {
			full = true
		}
	}
	o := ShortOptions()
	if full {
		o = FullOptions()
	}
	fs := flag.NewFlagSet("relaybench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: relaybench [--full] [flags]

Compares camrelay with an ffmpeg process per camera and with MediaMTX pulling
the cameras itself, on simulated cameras (bench/camsim) and a real MediaMTX
%s with authentication, and writes results.json, results.md and PNG plots.
Without --full it runs a short comparison (a few minutes).

Flags:
`, mtxVersion)
		fs.PrintDefaults()
	}
	fs.Bool("full", full, "every scenario and N of the issue, 3 repetitions, 10 s settle + 30 s window, WHEP on (about an hour)")
	scen := fs.String("scenarios", strings.Join(o.Scenarios, ","), "comma-separated: copy, transcode, density")
	relays := fs.String("relays", strings.Join(o.Relays, ","), "comma-separated relays: camrelay, ffmpeg, mediamtx-direct")
	copyNs := fs.String("copy-n", joinInts(o.CopyNs), "camera counts of the copy scenario")
	trNs := fs.String("transcode-n", joinInts(o.TranscodeNs), "camera counts of the transcode scenario")
	denNs := fs.String("density-n", joinInts(o.DensityNs), "camera counts camrelay is tried at beyond -copy-n, until frames are lost")
	fs.IntVar(&o.Reps, "reps", o.Reps, "repetitions of every (relay, N)")
	fs.DurationVar(&o.Settle, "settle", o.Settle, "warm-up after every stream is ready")
	fs.DurationVar(&o.Measure, "measure", o.Measure, "measurement window")
	fs.IntVar(&o.SampleCopy, "sample", o.SampleCopy, "streams with a latency reader in the copy scenario")
	fs.IntVar(&o.SampleTranscode, "sample-transcode", o.SampleTranscode, "streams decoded for barcode latency in the transcode scenario")
	fs.BoolVar(&o.WHEP, "whep", o.WHEP, "also read a sample over WHEP (pion/webrtc); runs everything in a loopback-only network namespace (root)")
	fs.IntVar(&o.WHEPSample, "whep-sample", o.WHEPSample, "streams read over WHEP")
	fs.BoolVar(&o.Idle, "idle", o.Idle, "measure idle MediaMTX and camrelay for the marginal figures")
	fs.StringVar(&o.Out, "out", "", "results folder (default: bench/results/DATE with --full, else a new temporary folder)")
	fs.StringVar(&o.Camrelay, "camrelay", "", "camrelay binary (default: go build -tags libav ./cmd/camrelay into a temporary folder)")
	fs.StringVar(&o.FFmpeg, "ffmpeg", o.FFmpeg, "ffmpeg binary")
	fs.StringVar(&o.Clip, "clip", "", "H.264 clip of the copy cameras (default testdata/clips/h264_1280x720_25.h264)")
	fs.StringVar(&o.Bitrate, "bitrate", o.Bitrate, "x264 bitrate of both transcoders")
	fs.IntVar(&o.FFmpegThreads, "ffmpeg-threads", o.FFmpegThreads, "ffmpeg -threads in the transcode scenario (camrelay uses 1)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	o.Scenarios = splitList(*scen)
	scenSet := false
	fs.Visit(func(f *flag.Flag) { scenSet = scenSet || f.Name == "scenarios" })
	if !scenSet && !haveLibav && o.has(ScenarioTranscode) {
		// The default list, in a build without libav (make bench on a
		// machine without the FFmpeg libraries): copy only, said aloud.
		o.Scenarios = slices.DeleteFunc(o.Scenarios, func(s string) bool { return s == ScenarioTranscode })
		fmt.Fprintln(stderr, "relaybench: built without libav: the transcode scenario is left out (build with -tags libav to run it)")
	}
	o.Relays = splitList(*relays)
	if o.CopyNs, err = parseInts(*copyNs); err != nil {
		return o, fmt.Errorf("-copy-n: %w", err)
	}
	if o.TranscodeNs, err = parseInts(*trNs); err != nil {
		return o, fmt.Errorf("-transcode-n: %w", err)
	}
	if o.DensityNs, err = parseInts(*denNs); err != nil {
		return o, fmt.Errorf("-density-n: %w", err)
	}
	return o, o.validate()
}

func (o *Options) validate() error {
	for _, s := range o.Scenarios {
		if s != ScenarioCopy && s != ScenarioTranscode && s != ScenarioDensity {
			return fmt.Errorf("unknown scenario %q (copy, transcode, density)", s)
		}
	}
	for _, r := range o.Relays {
		if r != RelayCamrelay && r != RelayFFmpeg && r != RelayDirect && r != RelayNull {
			return fmt.Errorf("unknown relay %q (camrelay, ffmpeg, mediamtx-direct, camrelay-null)", r)
		}
	}
	switch {
	case o.Reps < 1:
		return errors.New("-reps must be at least 1")
	case o.Measure < time.Second:
		return errors.New("-measure must be at least 1s")
	case o.Settle < 0:
		return errors.New("-settle must not be negative")
	case o.SampleCopy < 1 || o.SampleTranscode < 1 || o.WHEPSample < 1:
		return errors.New("samples must be at least 1")
	case o.FFmpegThreads < 0:
		return errors.New("-ffmpeg-threads must not be negative (0: ffmpeg's automatic choice)")
	}
	if _, err := parseBitrate(o.Bitrate); err != nil {
		return err
	}
	return nil
}

func (o *Options) has(scenario string) bool {
	for _, s := range o.Scenarios {
		if s == scenario {
			return true
		}
	}
	return false
}

func (o *Options) hasRelay(r string) bool {
	for _, s := range o.Relays {
		if s == r {
			return true
		}
	}
	return false
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, p := range splitList(s) {
		v, err := strconv.Atoi(p)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("%q is not a positive number", p)
		}
		out = append(out, v)
	}
	return out, nil
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// findRoot walks up from dir to the folder holding camrelay's go.mod.
func findRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/camrelay/camrelay\n") {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no camrelay module (go.mod) in %s or above: run relaybench from the repository", dir)
		}
	}
}

package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/camrelay/camrelay/internal/testenv/mtxtest"
)

// The relays compared.
const (
	RelayCamrelay = "camrelay"
	RelayFFmpeg   = "ffmpeg"
	RelayDirect   = "mediamtx-direct"
)

// Scenarios.
const (
	ScenarioCopy      = "copy"
	ScenarioTranscode = "transcode"
	ScenarioDensity   = "density"
)

// runEnv is what a relay needs to know to start: where the cameras are and
// where MediaMTX listens.
type runEnv struct {
	scenario string
	n        int
	dir      string // a temporary folder for this run
	camsim   camsimReady
	mtx      *mtxtest.Server
	opts     *Options
	// output, when set, is camrelay's output template instead of MediaMTX
	// (the null sink).
	output string
}

// camURL is camera i's URL at camsim.
func (e *runEnv) camURL(i int) string {
	if e.scenario == ScenarioTranscode {
		return "http://" + e.camsim.HTTPAddr + "/" + mjpegCamPath(i)
	}
	return "rtsp://" + e.camsim.RTSPAddr + "/" + rtspCamPath(i)
}

// camPath is camera i's MediaMTX path (the same name as at camsim).
func (e *runEnv) camPath(i int) string {
	if e.scenario == ScenarioTranscode {
		return mjpegCamPath(i)
	}
	return rtspCamPath(i)
}

// publishURL is where a relay publishes camera i: MediaMTX as the
// publish-only relay user.
func (e *runEnv) publishURL(i int) string {
	return e.mtx.RTSPURL(e.camPath(i), mtxtest.RelayUser, mtxtest.RelayPass)
}

// runningRelay is a started relay.
type runningRelay struct {
	procs    []*process
	commands []string // as run, the publish password replaced by ***
	stop     func()
}

func (r *runningRelay) pids() []int {
	var p []int
	for _, x := range r.procs {
		p = append(p, x.pid)
	}
	return p
}

// exited names a relay process that has ended, or "".
func (r *runningRelay) exited() string {
	for _, p := range r.procs {
		if p.exited() {
			status := "with status 0 (its input or output ended)"
			if p.err != nil {
				status = p.err.Error()
			}
			msg := fmt.Sprintf("%s (pid %d) exited %s", p.name, p.pid, status)
			if t := p.tail(); t != "" {
				msg += ": " + t
			}
			return msg
		}
	}
	return ""
}

func redactPass(s string) string {
	return strings.ReplaceAll(s, ":"+mtxtest.RelayPass+"@", ":***@")
}

// camrelayConfig is the configuration camrelay runs with: every camera over
// TCP, published as the relay user, the API off, warnings only.
func camrelayConfig(e *runEnv, disabled bool) string {
	var b strings.Builder
	out := e.output
	if out == "" {
		out = "rtsp://" + mtxtest.RelayUser + ":" + mtxtest.RelayPass + "@" + e.mtx.RTSPAddr() + "/{path}"
	}
	fmt.Fprintf(&b, "output: %s\nlog: {level: warn}\napi: {listen: \"off\"}\ndefaults: {transport: tcp}\ncameras:\n", out)
	if e.n == 0 {
		b.WriteString("  []\n")
	}
	for i := 1; i <= e.n; i++ {
		fmt.Fprintf(&b, "  - name: %s\n    source: %s\n", e.camPath(i), e.camURL(i))
		if disabled {
			b.WriteString("    disabled: true\n")
		}
		if e.scenario == ScenarioTranscode {
			fmt.Fprintf(&b, "    mode: transcode\n    video: {width: %d, height: %d, fps: %d, preset: ultrafast, bitrate: %s}\n",
				e.opts.Width, e.opts.Height, e.opts.FPS, e.opts.Bitrate)
		}
	}
	return b.String()
}

func startCamrelay(e *runEnv, disabled bool) (*runningRelay, error) {
	conf := filepath.Join(e.dir, "camrelay.yml")
	if err := os.WriteFile(conf, []byte(camrelayConfig(e, disabled)), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(e.opts.Camrelay, "run", "-c", conf)
	cmd.Dir = e.dir
	p, err := startProcess(cmd, "camrelay")
	if err != nil {
		return nil, err
	}
	return &runningRelay{
		procs:    []*process{p},
		commands: []string{e.opts.Camrelay + " run -c camrelay.yml", "camrelay.yml:\n" + redactPass(camrelayConfig(e, disabled))},
		stop:     func() { p.stop(10 * time.Second) },
	}, nil
}

// ffmpegArgs is the command line of one ffmpeg re-stream: the issue's
// command, with the same x264 settings as camrelay's transcoder in the
// transcode scenario (see Options.ffmpegX264).
func ffmpegArgs(e *runEnv, i int) []string {
	args := []string{"-nostdin", "-hide_banner", "-loglevel", "error"}
	if e.scenario == ScenarioTranscode {
		if t := e.opts.FFmpegThreads; t > 0 {
			// One thread for the MJPEG decoder and the scaler as well, as
			// camrelay's transcoder runs them.
			args = append(args, "-threads", strconv.Itoa(t), "-filter_threads", strconv.Itoa(t))
		}
		args = append(args, "-f", "mjpeg", "-i", e.camURL(i), "-c:v", "libx264")
		args = append(args, e.opts.ffmpegX264()...)
		args = append(args, "-r", strconv.Itoa(e.opts.FPS), "-s", fmt.Sprintf("%dx%d", e.opts.Width, e.opts.Height))
	} else {
		args = append(args, "-rtsp_transport", "tcp", "-i", e.camURL(i), "-c", "copy")
	}
	return append(args, "-f", "rtsp", "-rtsp_transport", "tcp", e.publishURL(i))
}

func startFFmpeg(ctx context.Context, e *runEnv) (*runningRelay, error) {
	r := &runningRelay{}
	r.stop = func() {
		// SIGTERM to all first, then wait: N processes end together.
		for _, p := range r.procs {
			p.term()
		}
		for _, p := range r.procs {
			p.stop(5 * time.Second)
		}
	}
	// Start them a few at a time so that N connections do not all land on
	// camsim and MediaMTX in the same millisecond.
	for i := 1; i <= e.n; i++ {
		if err := ctx.Err(); err != nil {
			r.stop()
			return nil, err
		}
		args := ffmpegArgs(e, i)
		cmd := exec.Command(e.opts.FFmpeg, args...)
		p, err := startProcess(cmd, "ffmpeg "+e.camPath(i))
		if err != nil {
			r.stop()
			return nil, err
		}
		r.procs = append(r.procs, p)
		if i == 1 {
			r.commands = append(r.commands, redactPass(e.opts.FFmpeg+" "+strings.Join(args, " ")))
		}
		if i%16 == 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if e.n > 1 {
		r.commands = append(r.commands, fmt.Sprintf("... one such process per camera, %d in all", e.n))
	}
	return r, nil
}

// directPaths is MediaMTX's paths section for the direct relay: MediaMTX
// pulls every camera itself, always on, over TCP.
func directPaths(e *runEnv) string {
	var b strings.Builder
	for i := 1; i <= e.n; i++ {
		fmt.Fprintf(&b, "%s:\n  source: %s\n  sourceOnDemand: no\n  rtspTransport: tcp\n", e.camPath(i), e.camURL(i))
	}
	return b.String()
}

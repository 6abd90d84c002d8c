// Command camsim serves simulated IP cameras over RTSP on loopback, for tests,
// demos and benchmarks of camrelay. See package bench/camsim.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/camrelay/camrelay/bench/camsim"
)

func main() {
	err := run(os.Args[1:])
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "camsim:", strings.TrimPrefix(err.Error(), "camsim: "))
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("camsim", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: camsim [flags]

Serves simulated IP cameras over RTSP (TCP interleaved and UDP unicast) and
prints their URLs, then runs until SIGINT or SIGTERM.

Flags:
`)
		fs.PrintDefaults()
	}
	listen := fs.String("listen", "127.0.0.1:8555", "RTSP listen address")
	clip := fs.String("clip", "testdata/clips/h264_320x240_25.h264", "Annex-B H.264 clip every camera loops")
	n := fs.Int("n", 4, "number of cameras, named cam1..camN (ignored with -paths)")
	paths := fs.String("paths", "", "comma-separated camera paths, instead of -n")
	audio := fs.String("audio", "", "raw G.711 mu-law 8 kHz file (a PCMU track) or AAC ADTS file named .aac (an MPEG4-GENERIC track): adds audio to every camera, or only to those of -audio-cams")
	audioCams := fs.String("audio-cams", "", "comma-separated paths that get -audio (default: all cameras)")
	user := fs.String("user", "", "user name every camera asks for")
	pass := fs.String("pass", "", "password every camera asks for")
	authName := fs.String("auth", "", "none|basic|digest|digest-qop (default: digest with -user, else none)")
	fps := fs.Int("fps", 25, "frame rate of every camera")
	codecName := fs.String("codec", "H264", "RTSP video: H264, H265 (with -clip of Annex-B H.265) or JPEG (MJPEG over RTP, -size)")
	size := fs.String("size", "640x480", "picture size of JPEG cameras (RTSP -codec JPEG and -mjpeg)")
	mjpeg := fs.String("mjpeg", "", "comma-separated paths of MJPEG-over-HTTP cameras (served on -mjpeg-listen)")
	mjpegListen := fs.String("mjpeg-listen", "127.0.0.1:8080", "HTTP listen address of the MJPEG cameras")
	variable := fs.Bool("variable-fps", false, "MJPEG cameras send at a variable frame rate (0.5x to 1.5x the interval)")
	verbose := fs.Bool("v", false, "log connections and requests to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}

	auth, err := parseAuth(*authName, *user)
	if err != nil {
		return err
	}
	var names []string
	if *paths != "" {
		names = splitList(*paths)
	} else {
		if *n < 0 || (*n == 0 && *mjpeg == "") {
			return fmt.Errorf("-n %d: need at least one camera (or -mjpeg)", *n)
		}
		for i := 1; i <= *n; i++ {
			names = append(names, "cam"+strconv.Itoa(i))
		}
	}
	withAudio := map[string]bool{}
	for _, p := range splitList(*audioCams) {
		withAudio[strings.Trim(p, "/")] = true
	}
	if len(withAudio) > 0 && *audio == "" {
		return fmt.Errorf("-audio-cams needs -audio")
	}

	var w, h int
	if _, err := fmt.Sscanf(*size, "%dx%d", &w, &h); err != nil || w <= 0 || h <= 0 {
		return fmt.Errorf("-size %q: want WIDTHxHEIGHT", *size)
	}
	srv := &camsim.Server{ListenAddr: *listen, MJPEGListenAddr: *mjpegListen}
	if *verbose {
		srv.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	for _, name := range names {
		cfg := camsim.CameraConfig{
			Path: name, Clip: *clip, FPS: *fps, Codec: strings.ToUpper(*codecName), Width: w, Height: h,
			User: *user, Pass: *pass, Auth: auth,
		}
		if *audio != "" && (len(withAudio) == 0 || withAudio[strings.Trim(name, "/")]) {
			cfg.Audio = *audio
		}
		if _, err := srv.AddCamera(cfg); err != nil {
			return err
		}
	}
	mjpegNames := splitList(*mjpeg)
	for _, name := range mjpegNames {
		if _, err := srv.AddMJPEGCamera(camsim.MJPEGConfig{Path: name, Width: w, Height: h, FPS: *fps, VariableFPS: *variable,
			User: *user, Pass: *pass, Auth: auth}); err != nil {
			return err
		}
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer srv.Close()

	for _, name := range names {
		fmt.Println(camsim.Redacted(srv.URL(name)))
	}
	for _, name := range mjpegNames {
		fmt.Println(camsim.Redacted(srv.MJPEGURL(name)))
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	signal.Stop(sig)
	return nil
}

func parseAuth(name, user string) (camsim.AuthMethod, error) {
	switch name {
	case "":
		if user != "" {
			return camsim.AuthDigest, nil
		}
		return camsim.AuthNone, nil
	case "none":
		if user != "" {
			return 0, fmt.Errorf("-auth none with -user: the camera would ask for digest anyway; drop -user or pick a method")
		}
		return camsim.AuthNone, nil
	case "basic":
		return camsim.AuthBasic, nil
	case "digest":
		return camsim.AuthDigest, nil
	case "digest-qop":
		return camsim.AuthDigestQop, nil
	}
	return 0, fmt.Errorf("-auth %q: want none, basic, digest or digest-qop", name)
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

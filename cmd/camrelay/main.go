// Command camrelay relays IP cameras into MediaMTX. See README.md.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/camrelay/camrelay/codec/libav"
	"github.com/camrelay/camrelay/relay"
	"github.com/camrelay/camrelay/relay/api"
	"github.com/camrelay/camrelay/relay/auth"
	"github.com/camrelay/camrelay/relay/config"
	"github.com/camrelay/camrelay/transport"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `camrelay relays IP cameras into MediaMTX.

Usage:
  camrelay run -c FILE               run the relay (FILE is watched; SIGHUP reloads it; SIGINT/SIGTERM stop)
  camrelay check -c FILE             validate FILE and list the cameras, without connecting
                                     (run and check take --shard I/N: only the cameras of shard I of N)
  camrelay probe URL                 connect to a camera; print tracks, codecs, size, frame rate, WebRTC readiness
  camrelay mediamtx-config -c FILE   print the MediaMTX users and paths that match FILE
  camrelay passwd < PASSWORD         print an argon2id hash for api.users and auth.users
  camrelay token -c FILE --user U    mint a JWT for U (--read, --publish, --playback, --api, --ttl narrow it)
  camrelay keys rotate -c FILE       rotate the JWT signing key (through the running camrelay if it answers)
  camrelay version                   print version information

Run "camrelay COMMAND -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stderr)
	case "check":
		return cmdCheck(args[1:], stdout, stderr)
	case "probe":
		return cmdProbe(args[1:], stdout, stderr)
	case "mediamtx-config":
		return cmdMediaMTXConfig(args[1:], stdout, stderr)
	case "passwd":
		return cmdPasswd(args[1:], os.Stdin, stdout, stderr)
	case "token":
		return cmdToken(args[1:], stdout, stderr)
	case "keys":
		return cmdKeys(args[1:], stdout, stderr)
	case "healthcheck":
		return cmdHealthcheck(args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "camrelay %s (%s, %s/%s)%s\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH, buildFeatures())
		if libav.Available {
			fmt.Fprintln(stdout, "transcoding: libav (FFmpeg libraries linked in)")
		} else {
			fmt.Fprintln(stdout, "transcoding: not available (pure-Go build; build with -tags libav)")
		}
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "camrelay: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func buildFeatures() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	s := ""
	for _, d := range bi.Deps {
		if d.Path == "github.com/bluenviron/gortsplib/v4" {
			s += " gortsplib " + d.Version
		}
	}
	return s
}

// configFlag parses -c FILE and --shard INDEX/COUNT (nil when not given).
func configFlag(name string, args []string, stderr io.Writer) (string, *config.ShardSpec, bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "camrelay.yml", "configuration file")
	var sh *config.ShardSpec
	fs.Func("shard", "INDEX/COUNT: relay only the cameras of shard INDEX of COUNT (overrides shard: and $"+config.EnvShard+", $"+config.EnvShards+")", func(v string) error {
		s, err := config.ParseShardSpec(v)
		sh = &s
		return err
	})
	if err := fs.Parse(args); err != nil {
		return "", nil, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "camrelay %s: unexpected argument %q\n", name, fs.Arg(0))
		return "", nil, false
	}
	return *path, sh, true
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	path, sh, ok := configFlag("check", args, stderr)
	if !ok {
		return 2
	}
	// Loaded as run loads it: the same --shard and environment overrides.
	app := &relay.App{ConfigPath: path, Shard: sh}
	if err := app.Load(); err != nil {
		fmt.Fprintf(stderr, "camrelay check: %v\n", err)
		return 1
	}
	cfg := app.Config()
	fmt.Fprintf(stdout, "%s: ok, %d camera(s)\n", path, len(cfg.Cameras))
	cams := cfg.Cameras
	if s := cfg.Shard; s.Count > 1 {
		cams = cfg.LocalCameras()
		fmt.Fprintf(stdout, "shard %d/%d relays %d of the %d camera(s):\n", s.Index, s.Count, len(cams), len(cfg.Cameras))
	}
	for _, c := range cams {
		fmt.Fprintf(stdout, "  %s\n", describe(cfg.Resolved(c)))
	}
	return 0
}

// describe renders one resolved camera for check, redacted.
func describe(c config.Camera) string {
	state := ""
	if c.Disabled {
		state = " (disabled)"
	}
	outs := make([]string, len(c.Outputs))
	for i, o := range c.Outputs {
		outs[i] = transport.RedactURL(o)
	}
	out := strings.Join(outs, " + ")
	switch {
	case c.Mode == config.ModeDirect:
		out = "MediaMTX pulls it directly"
	case c.OnDemand:
		out = "served to MediaMTX on demand"
	}
	return fmt.Sprintf("%s%s: %s -> %s (mode %s, transport %s, path %s)", c.Name, state,
		transport.RedactURL(c.Source), out, c.Mode, c.Transport, c.Path)
}

func cmdRun(args []string, stderr io.Writer) int {
	path, sh, ok := configFlag("run", args, stderr)
	if !ok {
		return 2
	}
	app := &relay.App{ConfigPath: path, Shard: sh}
	if err := app.Load(); err != nil {
		fmt.Fprintf(stderr, "camrelay run: %v\n", err)
		return 1
	}
	app.Log = newLogger(app.Config().Log, stderr)
	// The scheduler's processors follow the load (relay.Procs) unless the
	// operator pinned GOMAXPROCS.
	if os.Getenv("GOMAXPROCS") == "" {
		procs := &relay.Procs{Log: app.Log, Floor: func() int {
			if sup := app.Supervisor(); sup != nil {
				return 1 + sup.Transcoders()
			}
			return 1
		}}
		procs.Start()
		defer procs.Close()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				select {
				case reload <- struct{}{}:
				default:
				}
			}
		}
	}()

	r, err := start(ctx, app, reload)
	if err == nil {
		err = r.wait()
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		app.Log.Error("camrelay stopped", "err", err.Error())
		return 1
	}
	return 0
}

// running is a started camrelay: the App and its API server.
type running struct {
	apiAddr string
	tls     bool
	cancel  context.CancelFunc
	errc    chan error
	n       int
}

// start runs the app and, unless api.listen is off, the API beside it.
func start(ctx context.Context, app *relay.App, reload <-chan struct{}) (*running, error) {
	ctx, cancel := context.WithCancel(ctx)
	r := &running{cancel: cancel, errc: make(chan error, 2), n: 1}
	started := app.Started()
	go func() { r.errc <- app.Run(ctx, reload) }()
	select {
	case <-started:
	case err := <-r.errc:
		cancel()
		return nil, err
	}
	cfg := app.Config()
	if cfg.API.Listen != "off" {
		ln, err := net.Listen("tcp", cfg.API.Listen)
		if err != nil {
			cancel()
			<-r.errc
			return nil, fmt.Errorf("api: %w", err)
		}
		r.apiAddr = ln.Addr().String()
		scheme := "http://"
		if cfg.Auth.TLS.Cert != "" {
			scheme = "https://"
		}
		app.SetAPIURL(scheme + r.apiAddr)
		if t := cfg.Auth.TLS; t.Cert != "" {
			tc, err := auth.TLSConfig(t.Cert, t.Key)
			if err != nil {
				ln.Close()
				cancel()
				<-r.errc
				return nil, fmt.Errorf("auth.tls: %w", err)
			}
			ln = tls.NewListener(ln, tc)
			r.tls = true
		}
		srv := &api.Server{App: app, Log: app.Log}
		r.n++
		go func() { r.errc <- srv.ServeListener(ctx, ln) }()
	}
	return r, nil
}

// wait returns when the app or the API stops (or ctx ends), after
// stopping the other.
func (r *running) wait() error {
	err := <-r.errc
	r.cancel()
	for i := 1; i < r.n; i++ {
		if e := <-r.errc; err == nil {
			err = e
		}
	}
	return err
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

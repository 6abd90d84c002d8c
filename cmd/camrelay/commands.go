package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/camrelay/camrelay/codec"
	"github.com/camrelay/camrelay/relay"
	"github.com/camrelay/camrelay/relay/auth"
	"github.com/camrelay/camrelay/relay/config"
	"github.com/camrelay/camrelay/transport"
)

func cmdProbe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dur := fs.Duration("t", 3*time.Second, "how long to watch the camera")
	tr := fs.String("transport", "tcp", "tcp, udp or auto (RTSP)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "usage: camrelay probe [-t 3s] [-transport tcp] URL (%s)\n", transport.Sources.SchemeList())
		return 2
	}
	raw := fs.Arg(0)
	ctx, cancel := context.WithTimeout(context.Background(), *dur+15*time.Second)
	defer cancel()
	res, err := transport.Sources.Probe(ctx, transport.SourceOptions{URL: raw, Transport: *tr}, *dur)
	if err != nil {
		fmt.Fprintf(stderr, "camrelay probe %s: %v\n", transport.RedactURL(raw), transport.Scrub(err, raw))
		return 1
	}
	printProbe(stdout, transport.RedactURL(raw), res)
	return 0
}

func printProbe(w io.Writer, url string, r *transport.ProbeResult) {
	fmt.Fprintf(w, "%s\n", url)
	transcode := false
	for i, t := range r.Tracks {
		line := fmt.Sprintf("  track %d: %s", i, t)
		if t.Kind == codec.KindVideo {
			if r.Width > 0 {
				line += fmt.Sprintf(", %dx%d", r.Width, r.Height)
			}
			line += fmt.Sprintf(", %.1f fps", r.FPS)
		}
		if i < len(r.Packets) {
			line += fmt.Sprintf(", %d packets in %.1fs", r.Packets[i], r.Duration.Seconds())
		}
		ok, why := codec.WebRTCPlayable(t)
		if ok {
			line += ", WebRTC: ready"
		} else {
			line += ", WebRTC: " + why
			if t.Kind == codec.KindVideo {
				transcode = true
			}
		}
		fmt.Fprintln(w, line)
	}
	if transcode {
		fmt.Fprintln(w, "  needs transcoding for WebRTC viewers: use mode: transcode")
	} else {
		fmt.Fprintln(w, "  no transcoding needed for WebRTC viewers (mode: copy)")
	}
}

func cmdMediaMTXConfig(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mediamtx-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "camrelay.yml", "camrelay configuration file")
	authMode := fs.String("auth", "internal", "MediaMTX authMethod to write: internal, http (camrelay's callback) or jwt (camrelay's JWKS)")
	apiURL := fs.String("api-url", "", "how MediaMTX reaches camrelay's API for --auth jwt|http (default http(s)://api.listen)")
	relayIP := fs.String("relay-ip", "", "comma-separated addresses camrelay publishes from (limits the publishing user)")
	serveURL := fs.String("serve-url", "", "how MediaMTX reaches camrelay's RTSP server (default: serve.url or rtsp://serve.listen)")
	secrets := fs.Bool("secrets", false, "write camera passwords into path sources (keep the output private)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*path, relay.Caps())
	if err != nil {
		fmt.Fprintf(stderr, "camrelay mediamtx-config: %v\n", err)
		return 1
	}
	o := relay.MediaMTXOptions{Secrets: *secrets, ServeURL: *serveURL}
	if *relayIP != "" {
		o.RelayIPs = strings.Split(*relayIP, ",")
	}
	var out string
	switch *authMode {
	case "internal":
		out, err = relay.MediaMTXConfig(cfg, o)
	case "jwt", "http":
		o.NoUsers = true
		if out, err = mediamtxAuthSection(cfg, *authMode, *apiURL); err == nil {
			var paths string
			paths, err = relay.MediaMTXConfig(cfg, o)
			out += paths
		}
	default:
		err = fmt.Errorf("--auth %q: want internal, http or jwt", *authMode)
	}
	if err != nil {
		fmt.Fprintf(stderr, "camrelay mediamtx-config: %v\n", err)
		return 1
	}
	fmt.Fprint(stdout, out)
	return 0
}

// cmdPasswd hashes a password read from stdin (never from the command
// line, where it would sit in shell history and ps).
func cmdPasswd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) != 0 {
		fmt.Fprintln(stderr, "usage: camrelay passwd < password   (prints an argon2id hash for api.users or auth.users)")
		return 2
	}
	if f, ok := stdin.(*os.File); ok && isTerminal(f) {
		fmt.Fprint(stderr, "password: ")
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		fmt.Fprintf(stderr, "camrelay passwd: %v\n", err)
		return 1
	}
	pass := strings.TrimRight(line, "\r\n")
	if pass == "" {
		fmt.Fprintln(stderr, "camrelay passwd: empty password")
		return 1
	}
	h, err := auth.HashArgon2id(pass)
	if err != nil {
		fmt.Fprintf(stderr, "camrelay passwd: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, h)
	return 0
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/camrelay/camrelay/codec"
	"github.com/camrelay/camrelay/relay/auth"
	"github.com/camrelay/camrelay/transport"
)

// rePathName is MediaMTX v1.15.3's rule for path names
// (internal/conf/path.go); a camera name is its default path.
var rePathName = regexp.MustCompile(`^[0-9a-zA-Z_\-/\.~:]+$`)

// ValidPathName checks a MediaMTX path name the way MediaMTX does.
func ValidPathName(name string) error {
	switch {
	case name == "":
		return errors.New("must not be empty")
	case name[0] == '/':
		return errors.New("must not begin with a slash")
	case name[len(name)-1] == '/':
		return errors.New("must not end with a slash")
	case !rePathName.MatchString(name):
		return errors.New("may contain only letters, digits, underscore, minus, slash, dot, tilde and colon")
	}
	// "." and ".." segments and empty ones ("a//b") are names that URL
	// paths clean into other names: /v1/cameras/a/../b would be camera b.
	for seg := range strings.SplitSeq(name, "/") {
		switch seg {
		case "", ".", "..":
			return fmt.Errorf("must not contain an empty, \".\" or \"..\" segment between slashes")
		}
	}
	return nil
}

// Validate checks the whole configuration and reports every problem found,
// each naming its camera and field.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level: must be debug, info, warn or error, not %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		add("log.format: must be text or json, not %q", c.Log.Format)
	}
	d := c.Defaults
	if err := checkTransport(d.Transport); err != nil {
		add("defaults.transport: %v", err)
	}
	if d.BackoffMin > d.BackoffMax {
		add("defaults: backoff_min (%v) is larger than backoff_max (%v)", time.Duration(d.BackoffMin), time.Duration(d.BackoffMax))
	}
	if d.RingSize < 16<<10 || d.RingSize > 64<<20 {
		add("defaults.ring_size: must be between 16KiB and 64MiB")
	}
	errs = append(errs, c.checkTemplateOutputs()...) // outputs.go
	errs = append(errs, c.checkServices()...)
	errs = append(errs, c.checkUI()...)
	errs = append(errs, c.checkShard()...)
	errs = append(errs, c.checkFleet()...)
	names := map[string]int{}
	paths := map[string]string{}
	for i, cam := range c.Cameras {
		label := fmt.Sprintf("cameras[%d]", i)
		if cam.Name != "" {
			label = fmt.Sprintf("camera %q", cam.Name)
		}
		for _, err := range c.CheckCamera(cam) {
			errs = append(errs, fmt.Errorf("%s: %w", label, err))
		}
		if cam.Name != "" {
			if j, dup := names[cam.Name]; dup {
				add("%s: name: duplicate of cameras[%d]", label, j)
			}
			names[cam.Name] = i
		}
		r := c.Resolved(cam)
		if r.Path != "" && !cam.Disabled {
			if other, dup := paths[r.Path]; dup {
				add("%s: path: is already published by camera %q", label, other) // the path may hold an expanded ${VAR}: not echoed
			}
			paths[r.Path] = cam.Name
		}
	}
	return errors.Join(errs...)
}

// CheckCamera validates one camera entry (as in the file, or as posted to
// the API) against this configuration. Each error starts with the field.
func (c *Config) CheckCamera(cam Camera) []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if err := ValidPathName(cam.Name); err != nil {
		add("name: %v", err)
	}
	if cam.Path != "" {
		if err := ValidPathName(cam.Path); err != nil {
			add("path: %v", err)
		}
	}
	mode := cam.Mode
	switch mode {
	case "", ModeCopy, ModeTranscode, ModeDirect:
	default:
		add("mode: must be copy, transcode or direct, not %q", mode)
	}
	kind, err := c.checkSource(cam.Source)
	if err != nil {
		add("source: %v", err)
	}
	if mode == "" && kind != nil {
		mode = c.impliedMode(cam.Source)
	}
	if kind != nil {
		switch {
		case mode == ModeCopy && (!kind.Packets || kind.Open == nil):
			if kind.Frames {
				add("mode: a %s source must be transcoded (mode: transcode)", kind.Name)
			} else {
				add("mode: a %s source is only supported for mode: direct (MediaMTX pulls it)", kind.Name)
			}
		case mode == ModeTranscode && (!kind.Frames || kind.Open == nil):
			add("mode: a %s source cannot be transcoded by camrelay; use mode: direct", kind.Name)
		case mode == ModeDirect && !kind.Direct:
			add("mode: MediaMTX cannot pull a %s source itself (mode: direct); use copy or transcode", kind.Name)
		}
	}
	if cam.Transport != "" {
		if err := checkTransport(cam.Transport); err != nil {
			add("transport: %v", err)
		}
	}
	errs = append(errs, c.checkCameraOutputs(cam, mode)...) // outputs.go
	if mode == ModeDirect && c.MediaMTX.API == "" {
		add("mode: direct needs mediamtx.api, to provision the MediaMTX path")
	}
	transcoding := mode == ModeTranscode
	if !transcoding && cam.Video != (Video{}) {
		add("video: only a camera with mode: transcode takes video settings (copy relays the camera's video as it is)")
	}
	if mode == ModeDirect && cam.Audio != "" {
		add("audio: a direct camera is pulled by MediaMTX itself; only copy and transcode cameras take audio settings")
	}
	if mode == ModeCopy && cam.Audio != "" {
		// Copy keeps the video as it is; the audio is copied, dropped or
		// re-encoded (libav) for WebRTC (opus) or HLS (aac) viewers.
		if err := codec.CheckAudio(cam.Audio); err != nil {
			errs = append(errs, err)
		} else if (cam.Audio == codec.AudioOpus || cam.Audio == codec.AudioAAC) && c.caps.Transcode != nil {
			add("audio: %s re-encodes the camera's audio, and %v", cam.Audio, c.caps.Transcode)
		}
	}
	if transcoding && c.caps.Transcode != nil {
		add("mode: %v", c.caps.Transcode)
	}
	if transcoding {
		errs = append(errs, cam.Video.Codec().Check()...)
		if err := codec.CheckAudio(cam.Audio); err != nil {
			errs = append(errs, err)
		}
	}
	for field, d := range map[string]Duration{"stall_timeout": cam.StallTimeout, "read_timeout": cam.ReadTimeout, "publish_timeout": cam.PublishTimeout} {
		if d < 0 {
			add("%s: must not be negative", field)
		}
	}
	if cam.StallTimeout != 0 && time.Duration(cam.StallTimeout) < 500*time.Millisecond {
		add("stall_timeout: must be at least 500ms")
	}
	return errs
}

func checkTransport(t string) error {
	switch t {
	case "tcp", "udp", "auto":
		return nil
	}
	return fmt.Errorf("must be tcp, udp or auto, not %q", t)
}

// checkSource checks a camera URL and finds its kind in the registry.
func (c *Config) checkSource(s string) (*transport.SourceKind, error) {
	if s == "" {
		return nil, errors.New("is required")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("not a valid URL: %v", redactedParseError(err))
	}
	if u.Scheme == "" {
		return nil, errors.New("must be a URL such as rtsp://user:pass@host:554/stream")
	}
	reg := c.caps.sources()
	kind, ok := reg.Lookup(s)
	if !ok {
		// Not echoed: a URL in ${VAR} without its rtsp:// reads as
		// "user:pass@host", and its scheme would be the user name.
		return nil, fmt.Errorf("unsupported scheme (want one of %s)", reg.SchemeList())
	}
	if u.Hostname() == "" {
		return kind, errors.New("has no host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return kind, errors.New("port is not valid (want 1 to 65535)")
		}
	}
	return kind, nil
}

func checkOutput(s string, template bool) error {
	probe := s
	if template {
		probe = strings.NewReplacer("{path}", "p", "{name}", "n").Replace(s)
	}
	u, err := url.Parse(probe)
	if err != nil {
		return fmt.Errorf("not a valid URL: %v", redactedParseError(err))
	}
	if _, ok := transport.LookupSink(probe); !ok {
		return fmt.Errorf("unsupported scheme (want one of %s)", transport.SinkSchemeList())
	}
	if u.Hostname() == "" {
		return errors.New("has no host")
	}
	if template && !strings.Contains(s, "{path}") && !strings.Contains(s, "{name}") {
		return errors.New("must contain {path} (or {name}) so that cameras do not share one path")
	}
	return nil
}

// redactedParseError avoids echoing a URL (and its password) back: url's
// messages quote the bad part (`invalid port ":s3cret" after host` for a
// URL with a password and no @), so quoted parts are left out.
func redactedParseError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return strings.Join(strings.Fields(reQuoted.ReplaceAllString(ue.Err.Error(), "")), " ")
	}
	return "cannot parse"
}

var reQuoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// checkServices validates api:, mediamtx: and serve:.
func (c *Config) checkServices() []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.API.Listen != "off" {
		host, port, err := net.SplitHostPort(c.API.Listen)
		if err != nil || port == "" {
			add("api.listen: %q is not host:port", c.API.Listen)
		} else if !isLoopback(host) && len(c.API.Users) == 0 {
			add("api.listen: refusing to serve the API on %s without api.users (only a loopback address may go without authentication)", c.API.Listen)
		}
	}
	seen := map[string]bool{}
	for i, u := range c.API.Users {
		if u.User == "" {
			add("api.users[%d].user: is required", i)
		}
		if seen[u.User] {
			add("api.users[%d].user: duplicate %q", i, u.User)
		}
		seen[u.User] = true
		if err := auth.Credential(u.Pass).Validate(); err != nil {
			add("api.users[%d].pass: %v", i, err)
		}
	}
	if c.MediaMTX.API != "" {
		u, err := url.Parse(c.MediaMTX.API)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("mediamtx.api: must be an http(s) URL such as http://127.0.0.1:9997")
		}
	}
	if _, _, err := net.SplitHostPort(c.Serve.Listen); err != nil {
		add("serve.listen: %q is not host:port", c.Serve.Listen)
	}
	if c.Serve.URL != "" {
		if u, err := url.Parse(c.Serve.URL); err != nil || u.Scheme != "rtsp" || u.Host == "" {
			add("serve.url: must be an rtsp:// URL that MediaMTX can reach")
		}
	}
	if (c.Serve.User == "") != (c.Serve.Pass == "") {
		add("serve: set both user and pass, or neither")
	}
	errs = append(errs, c.checkAuth()...)
	return errs
}

var authActions = map[string]bool{"publish": true, "read": true, "playback": true, "api": true, "metrics": true}

func (c *Config) checkAuth() []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	a := c.Auth
	if !a.Enabled() {
		if len(a.Users) > 0 || len(a.Internal) > 0 || a.PublishTokens {
			add("auth.keys: is required to turn on the auth server (users, internal, publish_tokens)")
		}
		return errs
	}
	if a.Algorithm != "EdDSA" && a.Algorithm != "RS256" {
		add("auth.algorithm: must be EdDSA or RS256, not %q", a.Algorithm)
	}
	if a.MaxTTL < a.TokenTTL {
		add("auth.max_ttl (%v) is shorter than auth.token_ttl (%v)", time.Duration(a.MaxTTL), time.Duration(a.TokenTTL))
	}
	if a.TokenTTL < Duration(time.Minute) {
		add("auth.token_ttl: must be at least 1m")
	}
	if (a.TLS.Cert == "") != (a.TLS.Key == "") {
		add("auth.tls: set both cert and key, or neither")
	}
	if a.JWKSPath != "" && !strings.HasPrefix(a.JWKSPath, "/") {
		add("auth.jwks_path: must start with /")
	}
	for i, o := range a.AllowedOrigins {
		if o == "*" {
			add("auth.allowed_origins[%d]: \"*\" is refused: the token endpoint takes credentials; list the origins", i)
		}
	}
	check := func(list string, users []AuthUser, needArgon bool) {
		seen := map[string]bool{}
		for i, u := range users {
			label := fmt.Sprintf("auth.%s[%d]", list, i)
			if u.User == "" {
				add("%s.user: is required", label)
			}
			if seen[u.User] {
				add("%s.user: duplicate %q", label, u.User)
			}
			seen[u.User] = true
			switch {
			case u.User == "any" && list == "internal":
				if u.Pass != "" {
					add("%s.pass: the any user takes no password", label)
				}
			case needArgon && !strings.HasPrefix(u.Pass, "argon2:"):
				add("%s.pass: token users need an argon2 hash (make one with `camrelay passwd`)", label)
			default:
				if err := auth.Credential(u.Pass).Validate(); err != nil {
					add("%s.pass: %v", label, err)
				}
			}
			if needArgon && len(u.IPs) > 0 {
				add("%s.ips: only internal users are limited by address", label)
			}
			for _, ip := range u.IPs {
				if _, _, err := net.ParseCIDR(ip); err != nil && net.ParseIP(ip) == nil {
					add("%s.ips: %q is not an address or CIDR range", label, ip)
				}
			}
			for j, p := range u.Permissions {
				if !authActions[p.Action] {
					add("%s.permissions[%d].action: must be publish, read, playback, api or metrics, not %q", label, j, p.Action)
				}
				if strings.HasPrefix(p.Path, "~") {
					if _, err := regexp.Compile(p.Path[1:]); err != nil {
						add("%s.permissions[%d].path: bad regular expression: %v", label, j, err)
					}
				}
			}
		}
	}
	check("users", a.Users, true)
	check("internal", a.Internal, false)
	return errs
}

// MaxShards bounds shard.count: finding a camera's owner costs one hash per
// shard.
const MaxShards = 1024

func (c *Config) checkShard() []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	s := c.Shard
	switch {
	case s.Count < 1:
		add("shard.count: must be 1 or more, not %d", s.Count)
	case s.Count > MaxShards:
		add("shard.count: must be at most %d, not %d", MaxShards, s.Count)
	case s.Count == 1 && s.Index != 0:
		add("shard.index: must be 0 (shard.count is 1), not %d", s.Index)
	case s.Index < 0 || s.Index >= s.Count:
		add("shard.index: must be from 0 to %d (shard.count is %d), not %d", s.Count-1, s.Count, s.Index)
	}
	for i, t := range s.ViewerURLs {
		label := fmt.Sprintf("shard.viewer_urls[%d]", i)
		if s.Count > 1 && !strings.Contains(t, "{shard}") {
			add("%s: must contain {shard} when shard.count is more than 1: each shard's cameras are at its own MediaMTX", label)
		}
		if !strings.Contains(t, "{path}") && !strings.Contains(t, "{name}") {
			add("%s: must contain {path} (or {name}) so that each camera gets its own URL", label)
		}
		u, err := url.Parse(strings.NewReplacer("{shard}", "0", "{path}", "p", "{name}", "n").Replace(t))
		if err != nil || u.Scheme == "" || u.Host == "" {
			add("%s: must be a URL template such as rtsp://camrelay-{shard}.camrelay:8554/{path}", label)
		}
	}
	return errs
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

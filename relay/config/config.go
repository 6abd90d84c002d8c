// Package config reads camrelay's YAML configuration: ${ENV} expansion so
// passwords stay out of the file, strict parsing (an unknown key is an
// error), defaults, and validation that names the camera and the field.
// A configuration either loads whole or not at all: a bad line never starts
// a half-configured relay.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/camrelay/camrelay/relay/auth"
	"github.com/camrelay/camrelay/transport"
)

// Config is the whole file.
type Config struct {
	// Output is the default sink of every camera: an RTSP URL in which
	// {path} (and {name}) are replaced per camera.
	Output   string   `yaml:"output"`
	Log      Log      `yaml:"log"`
	Defaults Defaults `yaml:"defaults"`
	API      API      `yaml:"api"`
	MediaMTX MediaMTX `yaml:"mediamtx"`
	Serve    Serve    `yaml:"serve"`
	// StateFile keeps what camrelay must remember across restarts that is
	// not configuration: which MediaMTX paths it created. Default: the
	// configuration file's name + ".state.json".
	StateFile string `yaml:"state_file"`
	// Auth turns on camrelay's JWT issuer (served on api.listen) when
	// keys is set.
	Auth    Auth     `yaml:"auth"`
	Cameras []Camera `yaml:"cameras"`

	caps Caps // what the binary that validates this configuration can do
}

// Caps is what a binary can do, as validation needs to know it: the kinds
// of camera source it reads (by URL scheme) and whether it can transcode.
// The relay package gives its own (relay.Caps).
type Caps struct {
	// Sources are the source kinds. Nil means transport.Sources.
	Sources transport.Registry
	// Transcode, when set, says why this binary cannot transcode (it was
	// built without libav); transcoding cameras are then refused.
	Transcode error
}

func (c Caps) sources() transport.Registry {
	if c.Sources == nil {
		return transport.Sources
	}
	return c.Sources
}

// Auth configures the JWT issuer MediaMTX trusts, its users, and
// camrelay's own publishing with tokens.
type Auth struct {
	// Keys is the folder of the signing keys (created if missing, mode
	// 0700; the key file inside is 0600).
	Keys      string   `yaml:"keys"`
	Algorithm string   `yaml:"algorithm"` // EdDSA (default) or RS256
	TokenTTL  Duration `yaml:"token_ttl"` // default 1h
	// MaxTTL caps every token's lifetime; default token_ttl. It is also
	// how long a revoked token stays usable in MediaMTX's jwt mode.
	MaxTTL   Duration `yaml:"max_ttl"`
	ClaimKey string   `yaml:"claim_key"` // default mediamtx_permissions
	// RotateEvery rotates the signing key automatically; 0: only by
	// `camrelay keys rotate`.
	RotateEvery Duration `yaml:"rotate_every"`
	// JWKSPath serves the JWKS there too, besides /.well-known/jwks.json.
	JWKSPath string `yaml:"jwks_path"`
	// AllowedOrigins are the browser origins that may call /v1/token.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// TLS serves api.listen over HTTPS.
	TLS struct {
		Cert string `yaml:"cert"`
		Key  string `yaml:"key"`
	} `yaml:"tls"`
	// PublishTokens makes camrelay publish each camera with a token it
	// mints for itself: publish on that camera's path only, short-lived,
	// renewed. The output URL then needs no password.
	PublishTokens bool `yaml:"publish_tokens"`
	// Users may get tokens from POST /v1/token.
	Users []AuthUser `yaml:"users"`
	// Internal users are checked by the MediaMTX http callback before
	// tokens (clients that cannot carry a token).
	Internal []AuthUser `yaml:"internal"`
}

// AuthUser is a token user (pass must be an argon2 hash) or an internal
// user of the MediaMTX callback.
type AuthUser struct {
	User        string           `yaml:"user"`
	Pass        string           `yaml:"pass"`
	IPs         []string         `yaml:"ips"`
	Permissions []AuthPermission `yaml:"permissions"`
}

// AuthPermission is one {action, path} a user may have, as MediaMTX
// matches it: path empty for any, "~regexp", or an exact name.
type AuthPermission struct {
	Action string `yaml:"action"`
	Path   string `yaml:"path"`
}

// Enabled reports whether the auth server is configured.
func (a *Auth) Enabled() bool { return a.Keys != "" }

// API is the HTTP control API (cameras, status, health, metrics).
type API struct {
	// Listen is host:port; default 127.0.0.1:9990. "off" disables the API.
	Listen string    `yaml:"listen"`
	Users  []APIUser `yaml:"users"`
}

// APIUser may call the API with HTTP Basic auth. Pass is plain, or a hash
// as MediaMTX writes them (sha256:..., argon2:...).
type APIUser struct {
	User string `yaml:"user"`
	Pass string `yaml:"pass"`
}

// MediaMTX is how camrelay reaches MediaMTX's control API, to provision
// paths (direct and on-demand cameras) and read viewer counts.
type MediaMTX struct {
	API  string `yaml:"api"` // e.g. http://127.0.0.1:9997; empty: no provisioning
	User string `yaml:"user"`
	Pass string `yaml:"pass"`
}

// Serve is camrelay's own RTSP server, from which MediaMTX pulls on-demand
// cameras (a path with source: rtsp://camrelay/NAME and sourceOnDemand).
type Serve struct {
	Listen string `yaml:"listen"` // default 127.0.0.1:8556
	// URL is how MediaMTX reaches the server; default rtsp://LISTEN (with
	// the port actually bound when LISTEN asks for port 0).
	URL  string `yaml:"url"`
	User string `yaml:"user"` // credentials MediaMTX must present
	Pass string `yaml:"pass"`
	// ReleaseAfter is how long a camera stays connected after its last
	// viewer left. Default 10s.
	ReleaseAfter Duration `yaml:"release_after"`
}

// Log configures log/slog output.
type Log struct {
	Level  string `yaml:"level"`  // debug, info (default), warn, error
	Format string `yaml:"format"` // text (default) or json
}

// Defaults apply to every camera that does not set its own value.
type Defaults struct {
	Transport string `yaml:"transport"` // tcp, udp or auto (default auto)
	// StallTimeout: no media for this long means reconnect, even if the
	// camera keeps its connection open. Default 5s.
	StallTimeout Duration `yaml:"stall_timeout"`
	// ReadTimeout bounds dialing and each RTSP request. Default 10s.
	ReadTimeout Duration `yaml:"read_timeout"`
	// PublishTimeout is how long the MediaMTX session (and its viewers) is
	// kept while a camera reconnects. Default 10s.
	PublishTimeout Duration `yaml:"publish_timeout"`
	// BackoffMin and BackoffMax bound the exponential backoff between
	// attempts. Defaults 500ms and 30s.
	BackoffMin Duration `yaml:"backoff_min"`
	BackoffMax Duration `yaml:"backoff_max"`
	// RingSize is each camera's packet ring, e.g. 128KiB (default: half a
	// second of a 2 Mbit/s camera; sinks keep up within a frame) or 1MiB for
	// high-bitrate cameras.
	RingSize Size `yaml:"ring_size"`
}

// Camera is one entry of cameras:.
type Camera struct {
	Name      string `yaml:"name" json:"name"`
	Source    string `yaml:"source" json:"source"`
	Transport string `yaml:"transport,omitempty" json:"transport,omitempty"`
	Path      string `yaml:"path,omitempty" json:"path,omitempty"`
	Output    string `yaml:"output,omitempty" json:"output,omitempty"`
	// Per-camera overrides of Defaults.
	StallTimeout   Duration `yaml:"stall_timeout,omitempty" json:"stall_timeout,omitempty"`
	ReadTimeout    Duration `yaml:"read_timeout,omitempty" json:"read_timeout,omitempty"`
	PublishTimeout Duration `yaml:"publish_timeout,omitempty" json:"publish_timeout,omitempty"`
	// Disabled keeps a camera in the file without connecting it.
	Disabled bool `yaml:"disabled,omitempty" json:"disabled,omitempty"`

	// Mode is copy (relay the camera's packets), transcode (normalize to
	// H.264 through libav) or direct (MediaMTX pulls the camera itself; camrelay
	// only provisions the path). Default copy; an http(s) source implies
	// transcode.
	Mode string `yaml:"mode,omitempty" json:"mode,omitempty"`
	// OnDemand connects the camera only while MediaMTX has a reader.
	OnDemand bool `yaml:"on_demand,omitempty" json:"on_demand,omitempty"`
	// Video and Audio configure transcoding.
	Video Video  `yaml:"video,omitempty" json:"video,omitzero"`
	Audio string `yaml:"audio,omitempty" json:"audio,omitempty"` // copy | drop | opus | aac
}

// Video is the output of a transcoding camera.
type Video struct {
	Width   int     `yaml:"width,omitempty" json:"width,omitempty"`
	Height  int     `yaml:"height,omitempty" json:"height,omitempty"`
	FPS     int     `yaml:"fps,omitempty" json:"fps,omitempty"`
	Bitrate Bitrate `yaml:"bitrate,omitempty" json:"bitrate,omitempty"`
	Preset  string  `yaml:"preset,omitempty" json:"preset,omitempty"`
	GOP     int     `yaml:"gop,omitempty" json:"gop,omitempty"`
	Profile string  `yaml:"profile,omitempty" json:"profile,omitempty"`
	// Scale is fit (keep the aspect ratio, pad with black; default) or
	// stretch.
	Scale string `yaml:"scale,omitempty" json:"scale,omitempty"`
}

// Camera modes.
const (
	ModeCopy      = "copy"
	ModeTranscode = "transcode"
	ModeDirect    = "direct"
)

// Bitrate is bits per second, written as 2000000, 2000k or 2M.
type Bitrate int

func parseBitrate(v string) (Bitrate, error) {
	v = strings.TrimSpace(v)
	mult := 1
	switch {
	case strings.HasSuffix(v, "M"), strings.HasSuffix(v, "m"):
		mult, v = 1000*1000, v[:len(v)-1]
	case strings.HasSuffix(v, "k"), strings.HasSuffix(v, "K"):
		mult, v = 1000, v[:len(v)-1]
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("%q is not a bitrate (write e.g. 2M, 1500k or 2000000)", v)
	}
	return Bitrate(f * float64(mult)), nil
}

// UnmarshalYAML reads 2M, 1500k or a number.
func (b *Bitrate) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseBitrate(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

// UnmarshalJSON reads "2M", "1500k" or a number.
func (b *Bitrate) UnmarshalJSON(d []byte) error {
	v, err := parseBitrate(strings.Trim(string(d), `"`))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// Duration is a time.Duration written as "5s", "1m30s".
type Duration time.Duration

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (write e.g. 5s or 1m30s)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// UnmarshalText reads a Go duration string (JSON bodies of the API).
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (write e.g. 5s or 1m30s)", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Size is a byte count written as 262144, 256KiB or 1MiB.
type Size int

// UnmarshalYAML reads a size with an optional KiB/MiB suffix.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	v := strings.TrimSpace(n.Value)
	mult := 1
	for suf, m := range map[string]int{"KiB": 1 << 10, "MiB": 1 << 20, "KB": 1000, "MB": 1000 * 1000} {
		if strings.HasSuffix(v, suf) {
			v, mult = strings.TrimSpace(strings.TrimSuffix(v, suf)), m
			break
		}
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 {
		return fmt.Errorf("line %d: %q is not a size (write e.g. 256KiB or 1MiB)", n.Line, n.Value)
	}
	*s = Size(i * mult)
	return nil
}

// Built-in defaults.
const (
	DefaultStallTimeout   = 5 * time.Second
	DefaultReadTimeout    = 10 * time.Second
	DefaultPublishTimeout = 10 * time.Second
	DefaultBackoffMin     = 500 * time.Millisecond
	DefaultBackoffMax     = 30 * time.Second
	DefaultRingSize       = 128 << 10
	DefaultAPIListen      = "127.0.0.1:9990"
	DefaultServeListen    = "127.0.0.1:8556"
	DefaultReleaseAfter   = 10 * time.Second

	DefaultFPS     = 25
	DefaultBitrate = 2000000
	DefaultPreset  = "ultrafast"
	DefaultProfile = "baseline"
	DefaultScale   = "fit"
)

// Load reads and validates a configuration file, expanding ${VAR} from the
// process environment.
func Load(path string, caps Caps) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := Parse(b, os.LookupEnv, caps)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse decodes and validates a configuration. lookup resolves ${VAR}; caps
// says what the binary can do.
func Parse(b []byte, lookup func(string) (string, bool), caps Caps) (*Config, error) {
	c := Config{caps: caps}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	// An empty document decodes as io.EOF: a valid file with no cameras.
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(err)
	}
	if err := c.expand(lookup); err != nil {
		return nil, err
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

var typeNames = strings.NewReplacer(
	"in type config.Config", "at the top level",
	"in type config.Camera", "in a camera",
	"in type config.Defaults", "in defaults",
	"in type config.Log", "in log",
	"in type config.API", "in api",
	"in type config.APIUser", "in an api user",
	"in type config.MediaMTX", "in mediamtx",
	"in type config.Serve", "in serve",
	"in type config.Video", "in video",
	"in type config.Auth", "in auth",
	"in type config.AuthUser", "in an auth user",
	"in type config.AuthPermission", "in a permission",
)

// yamlError rewrites yaml.v3's Go-flavoured messages for users.
func yamlError(err error) error {
	msg := typeNames.Replace(err.Error())
	msg = strings.ReplaceAll(msg, "yaml: unmarshal errors:\n  ", "")
	msg = strings.ReplaceAll(msg, "\n  ", "; ")
	msg = strings.TrimPrefix(msg, "yaml: ")
	return errors.New(msg)
}

func (c *Config) applyDefaults() {
	d := &c.Defaults
	if d.Transport == "" {
		d.Transport = "auto"
	}
	setDur(&d.StallTimeout, DefaultStallTimeout)
	setDur(&d.ReadTimeout, DefaultReadTimeout)
	setDur(&d.PublishTimeout, DefaultPublishTimeout)
	setDur(&d.BackoffMin, DefaultBackoffMin)
	setDur(&d.BackoffMax, DefaultBackoffMax)
	if d.RingSize == 0 {
		d.RingSize = DefaultRingSize
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.API.Listen == "" {
		c.API.Listen = DefaultAPIListen
	}
	if c.Serve.Listen == "" {
		c.Serve.Listen = DefaultServeListen
	}
	setDur(&c.Serve.ReleaseAfter, DefaultReleaseAfter)
	if c.Auth.Enabled() {
		if c.Auth.Algorithm == "" {
			c.Auth.Algorithm = "EdDSA"
		}
		setDur(&c.Auth.TokenTTL, time.Hour)
		if c.Auth.MaxTTL == 0 {
			c.Auth.MaxTTL = c.Auth.TokenTTL
		}
		if c.Auth.ClaimKey == "" {
			c.Auth.ClaimKey = "mediamtx_permissions"
		}
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
}

func setDur(d *Duration, def time.Duration) {
	if *d == 0 {
		*d = Duration(def)
	}
}

// Resolved returns cam with every default filled in: path, transport,
// output URL (template expanded) and timeouts. It does not validate.
func (c *Config) Resolved(cam Camera) Camera {
	if cam.Path == "" {
		cam.Path = cam.Name
	}
	if cam.Transport == "" {
		cam.Transport = c.Defaults.Transport
	}
	if cam.Output == "" {
		cam.Output = c.Output
	}
	cam.Output = strings.NewReplacer("{path}", cam.Path, "{name}", cam.Name).Replace(cam.Output)
	if cam.StallTimeout == 0 {
		cam.StallTimeout = c.Defaults.StallTimeout
	}
	if cam.ReadTimeout == 0 {
		cam.ReadTimeout = c.Defaults.ReadTimeout
	}
	if cam.PublishTimeout == 0 {
		cam.PublishTimeout = c.Defaults.PublishTimeout
	}
	if cam.Mode == "" {
		cam.Mode = c.impliedMode(cam.Source)
	}
	if cam.Mode == ModeDirect {
		cam.Output = "" // MediaMTX pulls the camera; camrelay publishes nothing
	}
	if cam.Mode == ModeTranscode {
		v := &cam.Video
		if v.FPS == 0 {
			v.FPS = DefaultFPS
		}
		if v.Bitrate == 0 {
			v.Bitrate = DefaultBitrate
		}
		if v.Preset == "" {
			v.Preset = DefaultPreset
		}
		if v.GOP == 0 {
			v.GOP = 2 * v.FPS
		}
		if v.Profile == "" {
			v.Profile = DefaultProfile
		}
		if v.Scale == "" {
			v.Scale = DefaultScale
		}
		if cam.Audio == "" {
			cam.Audio = "copy"
		}
	}
	return cam
}

// impliedMode is the mode of a camera that sets none: copy, or transcode
// for kinds whose packets cannot be relayed as they are (MJPEG over HTTP).
func (c *Config) impliedMode(source string) string {
	if k, ok := c.caps.sources().Lookup(source); ok && !k.Packets && k.Frames {
		return ModeTranscode
	}
	return ModeCopy
}

// Camera finds a camera by name.
func (c *Config) Camera(name string) (Camera, bool) {
	for _, cam := range c.Cameras {
		if cam.Name == name {
			return cam, true
		}
	}
	return Camera{}, false
}

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
	if c.Output != "" {
		if err := checkOutput(c.Output, true); err != nil {
			add("output: %v", err)
		}
	}
	errs = append(errs, c.checkServices()...)
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
				add("%s: path: %q is already published by camera %q", label, r.Path, other)
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
	switch {
	case mode == ModeDirect:
		if cam.Output != "" {
			add("output: a direct camera is pulled by MediaMTX itself; it has no output")
		}
		if c.MediaMTX.API == "" {
			add("mode: direct needs mediamtx.api, to provision the MediaMTX path")
		}
	case cam.OnDemand:
		// MediaMTX pulls it from camrelay's RTSP server: no output URL.
		if cam.Output != "" {
			add("output: an on-demand camera is served to MediaMTX from camrelay's RTSP server (serve:); it has no output")
		}
	case cam.Output != "":
		if err := checkOutput(cam.Output, false); err != nil {
			add("output: %v", err)
		}
	case c.Output == "":
		add("output: not set, and there is no top-level output template")
	}
	transcoding := mode == ModeTranscode
	if !transcoding && (cam.Video != (Video{}) || cam.Audio != "") {
		add("video/audio: only a camera with mode: transcode takes video and audio settings")
	}
	if transcoding && c.caps.Transcode != nil {
		add("mode: %v", c.caps.Transcode)
	}
	if transcoding {
		errs = append(errs, checkVideo(cam.Video)...)
		switch cam.Audio {
		case "", "copy", "drop", "opus", "aac":
		default:
			add("audio: must be copy, drop, opus or aac, not %q", cam.Audio)
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

var x264Presets = map[string]bool{"ultrafast": true, "superfast": true, "veryfast": true, "faster": true, "fast": true,
	"medium": true, "slow": true, "slower": true, "veryslow": true, "placebo": true}

func checkVideo(v Video) []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if (v.Width == 0) != (v.Height == 0) {
		add("video: set both width and height, or neither (keep the camera's size)")
	}
	for name, x := range map[string]int{"width": v.Width, "height": v.Height} {
		if x != 0 && (x < 16 || x > 8192 || x%2 != 0) {
			add("video.%s: must be an even number from 16 to 8192, not %d", name, x)
		}
	}
	if v.FPS != 0 && (v.FPS < 1 || v.FPS > 120) {
		add("video.fps: must be from 1 to 120, not %d", v.FPS)
	}
	if v.Bitrate != 0 && (v.Bitrate < 50000 || v.Bitrate > 100000000) {
		add("video.bitrate: must be from 50k to 100M bits per second, not %d", v.Bitrate)
	}
	if v.Preset != "" && !x264Presets[v.Preset] {
		add("video.preset: %q is not an x264 preset (ultrafast, superfast, veryfast, faster, fast, medium, slow, slower, veryslow)", v.Preset)
	}
	if v.GOP < 0 || v.GOP > 1000 {
		add("video.gop: must be from 1 to 1000 frames, not %d", v.GOP)
	}
	switch v.Profile {
	case "", "baseline", "main":
	default:
		add("video.profile: must be baseline or main, not %q", v.Profile)
	}
	switch v.Scale {
	case "", "fit", "stretch":
	default:
		add("video.scale: must be fit or stretch, not %q", v.Scale)
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
		return nil, fmt.Errorf("not a valid URL: %v", redactedParseError(err, s))
	}
	if u.Scheme == "" {
		return nil, errors.New("must be a URL such as rtsp://user:pass@host:554/stream")
	}
	reg := c.caps.sources()
	kind, ok := reg.Lookup(s)
	if !ok {
		return nil, fmt.Errorf("unsupported scheme %q (want one of %s)", u.Scheme, reg.SchemeList())
	}
	if u.Hostname() == "" {
		return kind, errors.New("has no host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return kind, fmt.Errorf("port %q is not valid", p)
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
		return fmt.Errorf("not a valid URL: %v", redactedParseError(err, probe))
	}
	if _, ok := transport.LookupSink(probe); !ok {
		return fmt.Errorf("unsupported scheme %q (want one of %s)", u.Scheme, transport.SinkSchemeList())
	}
	if u.Hostname() == "" {
		return errors.New("has no host")
	}
	if template && !strings.Contains(s, "{path}") && !strings.Contains(s, "{name}") {
		return errors.New("must contain {path} (or {name}) so that cameras do not share one path")
	}
	return nil
}

// redactedParseError avoids echoing a URL (and its password) back.
func redactedParseError(err error, _ string) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return "cannot parse"
}

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

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

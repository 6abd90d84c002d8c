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
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole file.
type Config struct {
	// Output is the default sink of every camera: an RTSP URL in which
	// {path} (and {name}) are replaced per camera.
	Output   string   `yaml:"output"`
	Log      Log      `yaml:"log"`
	Defaults Defaults `yaml:"defaults"`
	Cameras  []Camera `yaml:"cameras"`
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
	// RingSize is each camera's packet ring, e.g. 256KiB (default) or 1MiB.
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
	DefaultRingSize       = 256 << 10
)

// Load reads and validates a configuration file, expanding ${VAR} from the
// process environment.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := Parse(b, os.LookupEnv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse decodes and validates a configuration. lookup resolves ${VAR}.
func Parse(b []byte, lookup func(string) (string, bool)) (*Config, error) {
	var c Config
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
	return cam
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
	if err := checkSource(cam.Source); err != nil {
		add("source: %v", err)
	}
	if cam.Transport != "" {
		if err := checkTransport(cam.Transport); err != nil {
			add("transport: %v", err)
		}
	}
	switch {
	case cam.Output != "":
		if err := checkOutput(cam.Output, false); err != nil {
			add("output: %v", err)
		}
	case c.Output == "":
		add("output: not set, and there is no top-level output template")
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

func checkSource(s string) error {
	if s == "" {
		return errors.New("is required")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a valid URL: %v", redactedParseError(err, s))
	}
	switch u.Scheme {
	case "rtsp", "rtsps":
	case "":
		return errors.New("must be a URL such as rtsp://user:pass@host:554/stream")
	default:
		return fmt.Errorf("unsupported scheme %q (want rtsp or rtsps)", u.Scheme)
	}
	if u.Hostname() == "" {
		return errors.New("has no host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q is not valid", p)
		}
	}
	return nil
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
	if u.Scheme != "rtsp" && u.Scheme != "rtsps" {
		return fmt.Errorf("must be an rtsp:// or rtsps:// URL, not %q", u.Scheme)
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

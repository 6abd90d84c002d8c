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
	"os"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/camrelay/camrelay/codec"
	"github.com/camrelay/camrelay/relay/shard"
	"github.com/camrelay/camrelay/transport"
)

// Config is the whole file.
type Config struct {
	// Output is the default sink of every camera: an RTSP URL in which
	// {path} (and {name}) are replaced per camera.
	Output string `yaml:"output"`
	// Outputs is a list of such templates instead of Output: every camera
	// that sets neither output nor outputs publishes to each of them
	// (outputs.go).
	Outputs  []string `yaml:"outputs"`
	Log      Log      `yaml:"log"`
	Defaults Defaults `yaml:"defaults"`
	API      API      `yaml:"api"`
	MediaMTX MediaMTX `yaml:"mediamtx"`
	Serve    Serve    `yaml:"serve"`
	// UI is the status page at GET / on api.listen (ui.go).
	UI UI `yaml:"ui"`
	// StateFile keeps what camrelay must remember across restarts that is
	// not configuration: which MediaMTX paths it created. Default: the
	// configuration file's name + ".state.json".
	StateFile string `yaml:"state_file"`
	// Auth turns on camrelay's JWT issuer (served on api.listen) when
	// keys is set.
	Auth Auth `yaml:"auth"`
	// Shard splits the cameras among several camrelay instances that share
	// this configuration: each relays only the cameras it owns.
	Shard Shard `yaml:"shard"`
	// Fleet coordinates instances through etcd (see Fleet).
	Fleet   Fleet    `yaml:"fleet"`
	Cameras []Camera `yaml:"cameras"`

	caps  Caps         // what the binary that validates this configuration can do
	fleet *FleetOwners // fleet mode: who relays what (WithFleet)
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

// Shard is this instance's part of a sharded deployment. Rendezvous
// hashing of each camera's name over the indexes 0..count-1 picks the one
// instance that relays it (package relay/shard), so every instance may hold
// the same camera list. No shard section: one shard relays everything.
// CAMRELAY_SHARD and CAMRELAY_SHARDS (and --shard) override index and count.
type Shard struct {
	Index int `yaml:"index"`
	Count int `yaml:"count"` // default 1; written as 0 it is an error
	// ViewerURLs are where viewers find a camera relayed by shard {shard}:
	// templates in which {shard}, {path} and {name} are replaced, such as
	// rtsp://camrelay-{shard}.camrelay:8554/{path}. GET
	// /v1/cameras/NAME/location answers with them on every instance.
	ViewerURLs []string `yaml:"viewer_urls"`
}

// ShardOf is the shard that relays the camera name.
func (c *Config) ShardOf(name string) int { return shard.Owner(name, c.Shard.Count) }

// Local reports whether this instance relays the camera name: the one
// that holds its claim in fleet mode, its shard otherwise.
func (c *Config) Local(name string) bool {
	if c.fleet != nil {
		return c.fleet.Local[name]
	}
	return c.ShardOf(name) == c.Shard.Index
}

// LocalCameras are the cameras this instance relays, as in the file.
func (c *Config) LocalCameras() []Camera {
	var out []Camera
	for _, cam := range c.Cameras {
		if c.Local(cam.Name) {
			out = append(out, cam)
		}
	}
	return out
}

// ViewerURLs are the viewer URLs of camera cam (resolved) at the MediaMTX
// of its shard.
func (c *Config) ViewerURLs(cam Camera) []string {
	r := strings.NewReplacer("{shard}", strconv.Itoa(c.ShardOf(cam.Name)), "{path}", cam.Path, "{name}", cam.Name)
	out := make([]string, 0, len(c.Shard.ViewerURLs))
	for _, t := range c.Shard.ViewerURLs {
		out = append(out, r.Replace(t))
	}
	return out
}

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
	// second of a 2 Mbit/s camera) or 1MiB for high-bitrate cameras. A
	// ring larger than the default starts at the default size and doubles
	// up to RingSize when a sink falls behind.
	RingSize Size `yaml:"ring_size"`
}

// Camera is one entry of cameras:.
type Camera struct {
	Name      string `yaml:"name" json:"name"`
	Source    string `yaml:"source" json:"source"`
	Transport string `yaml:"transport,omitempty" json:"transport,omitempty"`
	Path      string `yaml:"path,omitempty" json:"path,omitempty"`
	Output    string `yaml:"output,omitempty" json:"output,omitempty"`
	// Outputs publishes the camera to several servers at once instead of
	// one output, each from its own reader of the camera's ring with its
	// own reconnects (outputs.go). After Resolved it holds every output and
	// Output the first.
	Outputs []string `yaml:"outputs,omitempty" json:"outputs,omitempty"`
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

// Video is the output of a transcoding camera. Its defaults and valid
// values are codec.VideoConfig's.
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

// Codec is v as the transcoder takes it.
func (v Video) Codec() codec.VideoConfig {
	return codec.VideoConfig{Width: v.Width, Height: v.Height, FPS: v.FPS, Bitrate: int(v.Bitrate),
		Preset: v.Preset, GOP: v.GOP, Profile: v.Profile, Scale: v.Scale}
}

func videoFrom(v codec.VideoConfig) Video {
	return Video{Width: v.Width, Height: v.Height, FPS: v.FPS, Bitrate: Bitrate(v.Bitrate),
		Preset: v.Preset, GOP: v.GOP, Profile: v.Profile, Scale: v.Scale}
}

// Camera modes.
const (
	ModeCopy      = "copy"
	ModeTranscode = "transcode"
	ModeDirect    = "direct"
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
	c.presetDefaults()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	// Every problem is reported, not the first: unknown keys and bad types
	// (a *yaml.TypeError: the decoder went on with the rest) are listed with
	// what validation finds. A syntax error leaves nothing to validate. An
	// empty document decodes as io.EOF: a valid file with no cameras.
	var errs []error
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, yamlError(err)
		}
		errs = append(errs, yamlError(err))
	}
	if err := c.expand(lookup); err != nil {
		errs = append(errs, err)
	}
	if err := c.shardFromEnv(lookup); err != nil {
		errs = append(errs, err)
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
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
	"in type config.Shard", "in shard",
	"in type config.Fleet", "in fleet",
	"in type config.FleetTLS", "in fleet.tls",
)

// yamlError rewrites yaml.v3's Go-flavoured messages for users.
func yamlError(err error) error {
	msg := typeNames.Replace(err.Error())
	msg = strings.ReplaceAll(msg, "yaml: unmarshal errors:\n  ", "")
	msg = strings.ReplaceAll(msg, "\n  ", "; ")
	msg = strings.TrimPrefix(msg, "yaml: ")
	return errors.New(msg)
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

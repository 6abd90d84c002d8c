package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/camrelay/camrelay/relay/auth"
	"github.com/camrelay/camrelay/relay/config"
	"github.com/camrelay/camrelay/transport"
	"github.com/camrelay/camrelay/transport/mediamtx"
)

// App is a running camrelay: a configuration file, its cameras, the
// MediaMTX provisioning of direct and on-demand cameras, and the RTSP server
// on-demand cameras are pulled from. The control API (relay/api) drives it
// through its camera methods. cmd/camrelay's run command wires the two.
type App struct {
	// ConfigPath is the YAML file to load, watch, reload and edit.
	ConfigPath string
	// Log is where everything is logged; nil means slog.Default().
	Log *slog.Logger
	// Env resolves ${VAR}; nil means the process environment.
	Env func(string) (string, bool)
	// ReconcileEvery is how often MediaMTX paths are checked for drift and
	// loss (MediaMTX forgets API-made paths when it restarts). Zero means
	// 10 s.
	ReconcileEvery time.Duration

	edit  sync.Mutex // one configuration change at a time (API edits, reloads)
	cfg   atomic.Pointer[config.Config]
	sup   atomic.Pointer[Supervisor]
	prov  *provisioner
	rtsp  atomic.Pointer[transport.RTSPServer]
	ready chan struct{}

	readyMu    sync.Mutex
	readyAt    time.Time
	readyCache []string

	issuer    *auth.Issuer
	authSrv   *auth.Server
	pubTokens *auth.PublisherTokens
}

// Errors of the camera methods; the API maps them to 404, 409 and 400.
var (
	ErrInvalid = errors.New("invalid camera")
)

// InvalidError carries the validation problems of a camera edit.
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string { return e.Err.Error() }
func (e *InvalidError) Unwrap() error { return ErrInvalid }

func (a *App) env() func(string) (string, bool) {
	if a.Env != nil {
		return a.Env
	}
	return os.LookupEnv
}

// Load reads and validates the configuration. Run calls it if it was not
// called before.
func (a *App) Load() error {
	b, err := os.ReadFile(a.ConfigPath)
	if err != nil {
		return err
	}
	cfg, err := config.Parse(b, a.env(), Caps())
	if err != nil {
		return fmt.Errorf("%s: %w", a.ConfigPath, err)
	}
	a.cfg.Store(cfg)
	return nil
}

// Config is the configuration in force.
func (a *App) Config() *config.Config { return a.cfg.Load() }

// Supervisor is the running supervisor (nil before Run has started).
func (a *App) Supervisor() *Supervisor { return a.sup.Load() }

// RTSPServerAddr is the on-demand RTSP server's address, once started.
func (a *App) RTSPServerAddr() string {
	if s := a.rtsp.Load(); s != nil {
		return s.Addr()
	}
	return ""
}

// Started is closed once Run has started the cameras.
func (a *App) Started() <-chan struct{} {
	a.edit.Lock()
	defer a.edit.Unlock()
	if a.ready == nil {
		a.ready = make(chan struct{})
	}
	return a.ready
}

func (a *App) statePath() string {
	if c := a.Config(); c != nil && c.StateFile != "" {
		return c.StateFile
	}
	return a.ConfigPath + ".state.json"
}

// Run starts every camera and runs until ctx ends. reload (may be nil)
// delivers requests to re-read the configuration file; the file is also
// watched.
func (a *App) Run(ctx context.Context, reload <-chan struct{}) error {
	if a.Log == nil {
		a.Log = slog.Default()
	}
	if a.Config() == nil {
		if err := a.Load(); err != nil {
			return err
		}
	}
	cfg := a.Config()
	d := cfg.Defaults
	var mtxClient *mediamtx.Client
	if cfg.MediaMTX.API != "" {
		mtxClient = &mediamtx.Client{BaseURL: cfg.MediaMTX.API, User: cfg.MediaMTX.User, Pass: cfg.MediaMTX.Pass}
	}
	if cfg.Auth.Enabled() {
		if err := a.startAuth(cfg, mtxClient); err != nil {
			return err
		}
		defer a.issuer.Close()
	}
	sup := &Supervisor{
		Log:        a.Log,
		BackoffMin: time.Duration(d.BackoffMin),
		BackoffMax: time.Duration(d.BackoffMax),
		RingSize:   int(d.RingSize),
	}
	if a.pubTokens != nil {
		pt := a.pubTokens
		sup.PublishURL = func(c config.Camera) (string, error) { return pt.PublishURL(c.Output, c.Path) }
	}
	sup.Start()
	defer sup.Close()
	a.sup.Store(sup)
	if mtxClient != nil {
		a.prov = newProvisioner(mtxClient, a.statePath(), a.Log)
		if a.ReconcileEvery > 0 {
			a.prov.interval = a.ReconcileEvery
		}
		a.prov.start()
		defer a.prov.close()
	}
	defer func() {
		if s := a.rtsp.Load(); s != nil {
			s.Close()
		}
	}()
	a.edit.Lock()
	err := a.apply(cfg)
	if a.ready == nil {
		a.ready = make(chan struct{})
	}
	close(a.ready)
	a.edit.Unlock()
	if err != nil {
		return err
	}

	changes := make(chan struct{}, 1)
	stopWatch := a.watch(changes)
	defer stopWatch()
	a.Log.Info("camrelay running", "cameras", len(cfg.Cameras), "config", a.ConfigPath)
	for {
		select {
		case <-ctx.Done():
			a.Log.Info("stopping: closing publish sessions and camera connections")
			return nil
		case <-reload:
			a.reload("SIGHUP")
		case <-changes:
			a.reload("file changed")
		}
	}
}

// watch reports changes of the configuration file. It watches the folder:
// editors and config managers replace files by renaming.
func (a *App) watch(changes chan<- struct{}) func() {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		a.Log.Warn("cannot watch the configuration file; reload with SIGHUP", "err", err.Error())
		return func() {}
	}
	abs, _ := filepath.Abs(a.ConfigPath)
	if err := w.Add(filepath.Dir(abs)); err != nil {
		w.Close()
		a.Log.Warn("cannot watch the configuration file; reload with SIGHUP", "err", err.Error())
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var debounce <-chan time.Time
		for {
			select {
			case <-done:
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if filepath.Clean(ev.Name) == abs && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename) != 0 {
					debounce = time.After(300 * time.Millisecond)
				}
			case <-w.Errors:
			case <-debounce:
				debounce = nil
				select {
				case changes <- struct{}{}:
				default:
				}
			}
		}
	}()
	return func() {
		close(done)
		w.Close()
		wg.Wait()
	}
}

// reload applies a changed configuration file; a file that does not
// validate is refused whole and the running cameras are left alone.
func (a *App) reload(why string) {
	a.edit.Lock()
	defer a.edit.Unlock()
	b, err := os.ReadFile(a.ConfigPath)
	if err == nil {
		var cfg *config.Config
		if cfg, err = config.Parse(b, a.env(), Caps()); err == nil {
			if cfg.Defaults != a.Config().Defaults || cfg.API.Listen != a.Config().API.Listen || cfg.MediaMTX != a.Config().MediaMTX || cfg.Serve != a.Config().Serve {
				a.Log.Warn("reload: changes under defaults, api.listen, mediamtx or serve take effect at the next restart")
			}
			if err = a.apply(cfg); err == nil {
				if a.authSrv != nil {
					if users, internal, uerr := authUsers(cfg.Auth); uerr == nil {
						uerr = a.authSrv.SetUsers(users, internal)
						if uerr != nil {
							a.Log.Error("reload: auth users refused; keeping the old ones", "err", uerr.Error())
						}
					}
				}
				a.Log.Info("configuration reloaded", "why", why, "cameras", len(cfg.Cameras))
				return
			}
		}
	}
	a.Log.Error("reload refused: keeping the running cameras", "why", why, "err", err.Error())
}

// apply makes the running cameras match cfg. Callers hold a.edit.
func (a *App) apply(cfg *config.Config) error {
	var relayed, all []config.Camera
	onDemand := false
	for _, c := range cfg.Cameras {
		r := cfg.Resolved(c)
		all = append(all, r)
		if r.Mode != config.ModeDirect {
			relayed = append(relayed, r)
			onDemand = onDemand || (r.OnDemand && !r.Disabled)
		}
	}
	if onDemand {
		if err := a.ensureRTSPServer(cfg.Serve); err != nil {
			return err
		}
	}
	err := a.sup.Load().Apply(relayed)
	a.cfg.Store(cfg)
	if a.prov != nil {
		serve := cfg.Serve
		if serve.URL == "" {
			serve.URL = "rtsp://" + serve.Listen
			if s := a.rtsp.Load(); s != nil {
				serve.URL = "rtsp://" + s.Addr()
			}
		}
		a.prov.set(wantedPaths(all, serve))
	}
	return err
}

func (a *App) ensureRTSPServer(s config.Serve) error {
	if a.rtsp.Load() != nil {
		return nil
	}
	srv := &transport.RTSPServer{Listen: s.Listen, User: s.User, Pass: s.Pass, Demand: a.sup.Load().Demand, Log: a.Log}
	if err := srv.Start(); err != nil {
		return err
	}
	a.rtsp.Store(srv)
	a.Log.Info("serving on-demand cameras to MediaMTX", "listen", srv.Addr())
	return nil
}

// edited runs a camera edit of the configuration file and applies it.
func (a *App) edited(ctx context.Context, f func(e *config.CameraEditor) error) error {
	a.edit.Lock()
	before := time.Now()
	cfg, err := config.EditCameras(a.ConfigPath, a.env(), Caps(), f)
	if err == nil {
		err = a.apply(cfg)
	}
	a.edit.Unlock()
	switch {
	case errors.Is(err, config.ErrDuplicate):
		return ErrExists
	case errors.Is(err, config.ErrNoCamera):
		return ErrNotFound
	case err != nil:
		var pe *os.PathError
		if errors.As(err, &pe) {
			return err
		}
		return &InvalidError{Err: err}
	}
	// Answer once MediaMTX has the paths of direct and on-demand cameras.
	if a.prov != nil {
		wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		_ = a.prov.waitSynced(wctx, before)
	}
	return nil
}

// AddCamera adds a camera, starts it and saves it in the configuration
// file.
func (a *App) AddCamera(ctx context.Context, c config.Camera) error {
	if _, ok := a.Config().Camera(c.Name); ok {
		return ErrExists
	}
	return a.edited(ctx, func(e *config.CameraEditor) error { return e.Add(c) })
}

// ReplaceCamera replaces a camera's settings; only that camera restarts.
func (a *App) ReplaceCamera(ctx context.Context, name string, c config.Camera) error {
	if c.Name == "" {
		c.Name = name
	}
	if c.Name != name {
		return &InvalidError{Err: fmt.Errorf("name: %q does not match the camera %q in the URL (rename by deleting and adding)", c.Name, name)}
	}
	if _, ok := a.Config().Camera(name); !ok {
		return ErrNotFound
	}
	return a.edited(ctx, func(e *config.CameraEditor) error { return e.Replace(name, c) })
}

// DeleteCamera stops a camera and removes it from the configuration file.
func (a *App) DeleteCamera(ctx context.Context, name string) error {
	if _, ok := a.Config().Camera(name); !ok {
		return ErrNotFound
	}
	return a.edited(ctx, func(e *config.CameraEditor) error { return e.Remove(name) })
}

// CameraView is one camera as the API shows it: its configuration with
// credentials redacted, and its status.
type CameraView struct {
	Config config.Camera `json:"config"`
	Status CameraStatus  `json:"status"`
}

func redacted(c config.Camera) config.Camera {
	c.Source = transport.RedactURL(c.Source)
	c.Output = transport.RedactURL(c.Output)
	return c
}

// Cameras lists every configured camera with its status, sorted by name.
func (a *App) Cameras() []CameraView {
	cfg := a.Config()
	out := make([]CameraView, 0, len(cfg.Cameras))
	for _, c := range cfg.Cameras {
		out = append(out, a.view(cfg, c))
	}
	slices.SortFunc(out, func(x, y CameraView) int { return strings.Compare(x.Config.Name, y.Config.Name) })
	return out
}

// Camera returns one camera.
func (a *App) Camera(name string) (CameraView, bool) {
	cfg := a.Config()
	c, ok := cfg.Camera(name)
	if !ok {
		return CameraView{}, false
	}
	return a.view(cfg, c), true
}

func (a *App) view(cfg *config.Config, c config.Camera) CameraView {
	r := cfg.Resolved(c)
	v := CameraView{Config: redacted(c)}
	var st CameraStatus
	if r.Mode == config.ModeDirect {
		st = a.directStatus(r)
	} else if sup := a.Supervisor(); sup != nil {
		var ok bool
		if st, ok = sup.CameraStatus(c.Name); !ok {
			st = CameraStatus{Name: c.Name, Path: r.Path, Source: transport.RedactURL(r.Source), State: StateStopped}
		}
	}
	st.Mode = r.Mode
	if a.prov != nil {
		if info := a.prov.info(r.Path); info.present {
			n := len(info.runtime.Readers)
			st.Viewers = &n
		}
	}
	v.Status = st
	return v
}

// directStatus shows a direct camera from MediaMTX's side.
func (a *App) directStatus(c config.Camera) CameraStatus {
	st := CameraStatus{Name: c.Name, Path: c.Path, Source: transport.RedactURL(c.Source)}
	if a.prov == nil {
		st.State = StateStopped
		return st
	}
	info := a.prov.info(c.Path)
	switch {
	case info.problem != "":
		st.State, st.LastError = StateError, info.problem
	case info.apiError != "":
		st.State, st.LastError = StateError, info.apiError
	case info.present && info.runtime.Ready:
		st.State = StateStreaming
		if info.runtime.ReadyTime != nil {
			st.Since = *info.runtime.ReadyTime
		}
	case c.OnDemand:
		st.State = StateIdle
	default:
		st.State = StateConnecting
	}
	st.Bytes = info.runtime.BytesReceived
	st.Tracks = info.runtime.Tracks
	return st
}

// Ready lists what keeps camrelay from being ready: sinks (MediaMTX) that
// cannot be reached, a MediaMTX API that does not answer. Results are
// cached for 3 s so that probes stay cheap.
func (a *App) Ready(ctx context.Context) []string {
	a.readyMu.Lock()
	defer a.readyMu.Unlock()
	if time.Since(a.readyAt) < 3*time.Second {
		return a.readyCache
	}
	var problems []string
	cfg := a.Config()
	if cfg == nil || a.Supervisor() == nil {
		problems = append(problems, "not started")
	} else {
		hosts := map[string]bool{}
		for _, c := range cfg.Cameras {
			r := cfg.Resolved(c)
			if r.Disabled || r.OnDemand || r.Mode == config.ModeDirect {
				continue
			}
			if u, err := url.Parse(r.Output); err == nil {
				hosts[transport.HostPort(u)] = true
			}
		}
		for h := range hosts {
			d := net.Dialer{Timeout: time.Second}
			c, err := d.DialContext(ctx, "tcp", h)
			if err != nil {
				problems = append(problems, fmt.Sprintf("sink %s unreachable: %v", h, err))
				continue
			}
			c.Close()
		}
		if a.prov != nil {
			if info := a.prov.info(""); info.apiError != "" {
				problems = append(problems, "mediamtx api: "+info.apiError)
			}
		}
	}
	slices.Sort(problems)
	a.readyAt, a.readyCache = time.Now(), problems
	return problems
}

// Snapshot is a JPEG of a camera's latest picture (transcoding cameras).
func (a *App) Snapshot(name string) ([]byte, error) {
	if _, ok := a.Config().Camera(name); !ok {
		return nil, ErrNotFound
	}
	sup := a.Supervisor()
	if sup == nil {
		return nil, ErrNotFound
	}
	return sup.Snapshot(name)
}

// Describe renders one resolved camera for `camrelay check`, redacted.
func Describe(c config.Camera) string {
	state := ""
	if c.Disabled {
		state = " (disabled)"
	}
	out := transport.RedactURL(c.Output)
	switch {
	case c.Mode == config.ModeDirect:
		out = "MediaMTX pulls it directly"
	case c.OnDemand:
		out = "served to MediaMTX on demand"
	}
	return fmt.Sprintf("%s%s: %s -> %s (mode %s, transport %s, path %s)", c.Name, state,
		transport.RedactURL(c.Source), out, c.Mode, c.Transport, c.Path)
}

// Issuer is the JWT issuer (nil unless auth: is configured and Run started).
func (a *App) Issuer() *auth.Issuer { return a.issuer }

// AuthServer serves the JWKS, tokens, revocation and MediaMTX's callback.
func (a *App) AuthServer() *auth.Server { return a.authSrv }

// AuthKeyFile is where the signing keys of a configuration live.
func AuthKeyFile(c config.Auth) string { return filepath.Join(c.Keys, "jwt-keys.json") }

// AuthDenyFile is where revocations are kept.
func AuthDenyFile(c config.Auth) string { return filepath.Join(c.Keys, "jwt-deny.json") }

// IssuerOptions are the issuer settings of a configuration.
func IssuerOptions(c config.Auth) auth.IssuerOptions {
	return auth.IssuerOptions{
		KeyFile:     AuthKeyFile(c),
		DenyFile:    AuthDenyFile(c),
		Algorithm:   auth.Algorithm(c.Algorithm),
		DefaultTTL:  time.Duration(c.TokenTTL),
		MaxTTL:      time.Duration(c.MaxTTL),
		ClaimKey:    c.ClaimKey,
		RotateEvery: time.Duration(c.RotateEvery),
	}
}

func (a *App) startAuth(cfg *config.Config, mtx *mediamtx.Client) error {
	if err := os.MkdirAll(cfg.Auth.Keys, 0o700); err != nil {
		return fmt.Errorf("auth.keys: %w", err)
	}
	o := IssuerOptions(cfg.Auth)
	o.Logger = a.Log
	if mtx != nil {
		o.OnRotate = auth.MediaMTXRefresher(mtx)
	}
	is, err := auth.NewIssuer(o)
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	users, internal, err := authUsers(cfg.Auth)
	if err != nil {
		is.Close()
		return err
	}
	srv, err := auth.NewServer(auth.ServerOptions{Issuer: is, Users: users, InternalUsers: internal,
		JWKSPath: cfg.Auth.JWKSPath, AllowedOrigins: cfg.Auth.AllowedOrigins, Logger: a.Log})
	if err != nil {
		is.Close()
		return fmt.Errorf("auth: %w", err)
	}
	is.Start()
	a.issuer, a.authSrv = is, srv
	if cfg.Auth.PublishTokens {
		a.pubTokens = &auth.PublisherTokens{Issuer: is}
	}
	a.Log.Info("auth server on", "algorithm", cfg.Auth.Algorithm, "kid", is.KeyID())
	return nil
}

// authUsers converts the configuration's users for the auth server.
func authUsers(c config.Auth) ([]auth.User, []auth.InternalUser, error) {
	perms := func(ps []config.AuthPermission) auth.Permissions {
		out := make(auth.Permissions, 0, len(ps))
		for _, p := range ps {
			out = append(out, auth.Permission{Action: p.Action, Path: p.Path})
		}
		return out
	}
	var users []auth.User
	for _, u := range c.Users {
		users = append(users, auth.User{Name: u.User, Password: auth.Credential(u.Pass), Permissions: perms(u.Permissions)})
	}
	var internal []auth.InternalUser
	for _, u := range c.Internal {
		iu := auth.InternalUser{Name: u.User, Password: auth.Credential(u.Pass), Permissions: perms(u.Permissions)}
		for _, ip := range u.IPs {
			pfx, err := netip.ParsePrefix(ip)
			if err != nil {
				a, aerr := netip.ParseAddr(ip)
				if aerr != nil {
					return nil, nil, fmt.Errorf("auth.internal %s: ips: %q is not an address or range", u.User, ip)
				}
				pfx = netip.PrefixFrom(a, a.BitLen())
			}
			iu.IPs = append(iu.IPs, pfx)
		}
		internal = append(internal, iu)
	}
	return users, internal, nil
}

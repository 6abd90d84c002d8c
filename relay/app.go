package relay

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/camrelay/camrelay/relay/auth"
	"github.com/camrelay/camrelay/relay/config"
	"github.com/camrelay/camrelay/relay/fleet"
	"github.com/camrelay/camrelay/transport"
	"github.com/camrelay/camrelay/transport/mediamtx"
)

// App is a running camrelay: a configuration file, its cameras, the
// MediaMTX provisioning of direct and on-demand cameras, the RTSP server
// on-demand cameras are pulled from, and the JWT issuer when auth: is set.
// The control API (relay/api) drives it through its camera methods.
// cmd/camrelay's run command wires the two.
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
	// Shard, when set (the --shard flag), overrides shard.index and
	// shard.count of the file and of CAMRELAY_SHARD(S), in every load.
	Shard *config.ShardSpec

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

	guardOnce sync.Once
	guard     *auth.LoginGuard

	fleet  *fleet.Member // fleet mode (fleet: in the file), set once by Run
	apiURL atomic.Pointer[string]
}

func (a *App) env() func(string) (string, bool) {
	lookup := a.Env
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if a.Shard != nil {
		return a.Shard.Lookup(lookup)
	}
	return lookup
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
		sup.PublishURL = func(c config.Camera) (string, error) {
			if !publishesWithToken(c) { // an output with credentials of its own (outputs.go)
				return c.Output, nil
			}
			return pt.PublishURL(c.Output, c.Path)
		}
	}
	if cfg.Fleet.Enabled() {
		cfg = a.startFleet(cfg, sup)
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
	if a.fleet != nil {
		a.fleet.Start()
		defer a.fleet.Close() // before sup.Close: stop, then give the cameras away
		a.Log.Info("fleet mode: the camera list and ownership come from etcd", "id", a.fleet.ID(), "etcd", cfg.Fleet.Etcd)
	}

	changes := make(chan struct{}, 1)
	stopWatch := a.watch(changes)
	defer stopWatch()
	a.Log.Info("camrelay running", "cameras", len(cfg.Cameras), "config", a.ConfigPath)
	if s := cfg.Shard; s.Count > 1 {
		a.Log.Info("sharded: relaying this shard's cameras only", "shard", s.Index, "shards", s.Count, "local", len(cfg.LocalCameras()))
	}
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
	if a.fleet != nil && cfg.Owners() == nil {
		// A reloaded file: in fleet mode its cameras: only seeded etcd.
		cur := a.Config()
		cfg = cfg.WithFleet(cur.Cameras, cur.Owners())
	}
	var relayed, all []config.Camera
	onDemand := false
	for _, c := range cfg.Cameras {
		if !cfg.Local(c.Name) {
			continue // another shard relays it (and provisions its path)
		}
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

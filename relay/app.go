package relay

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/camrelay/camrelay/relay/config"
	"github.com/camrelay/camrelay/transport"
)

// App is a running camrelay: a configuration file, its cameras and (later)
// the control API. cmd/camrelay's run command is a thin wrapper around it.
type App struct {
	// ConfigPath is the YAML file to load and to reload.
	ConfigPath string
	// Log is where everything is logged; nil means slog.Default().
	Log *slog.Logger

	cfg *config.Config
	sup atomic.Pointer[Supervisor]
}

// Load reads and validates the configuration. Run calls it if it was not
// called before.
func (a *App) Load() error {
	cfg, err := config.Load(a.ConfigPath)
	if err != nil {
		return err
	}
	a.cfg = cfg
	return nil
}

// Config is the loaded configuration.
func (a *App) Config() *config.Config { return a.cfg }

// Supervisor is the running supervisor (nil before Run).
func (a *App) Supervisor() *Supervisor { return a.sup.Load() }

// Run starts every camera and runs until ctx ends; reload (may be nil)
// delivers requests to re-read the configuration file.
func (a *App) Run(ctx context.Context, reload <-chan struct{}) error {
	if a.Log == nil {
		a.Log = slog.Default()
	}
	if a.cfg == nil {
		if err := a.Load(); err != nil {
			return err
		}
	}
	d := a.cfg.Defaults
	sup := &Supervisor{
		Log:        a.Log,
		BackoffMin: time.Duration(d.BackoffMin),
		BackoffMax: time.Duration(d.BackoffMax),
		RingSize:   int(d.RingSize),
	}
	sup.Start()
	defer sup.Close()
	if err := sup.Apply(resolvedCameras(a.cfg)); err != nil {
		return err
	}
	a.sup.Store(sup)
	a.Log.Info("camrelay running", "cameras", len(sup.Names()), "config", a.ConfigPath)
	for {
		select {
		case <-ctx.Done():
			a.Log.Info("stopping: closing publish sessions and camera connections")
			return nil
		case <-reload:
			a.reload()
		}
	}
}

// reload applies a changed configuration file; a file that does not
// validate is refused whole and the running cameras are left alone.
func (a *App) reload() {
	cfg, err := config.Load(a.ConfigPath)
	if err != nil {
		a.Log.Error("reload refused: configuration is invalid; keeping the running cameras", "err", err.Error())
		return
	}
	if cfg.Defaults != a.cfg.Defaults {
		a.Log.Warn("reload: changes under defaults: (backoff, ring size) take effect for cameras started from now on")
	}
	a.cfg = cfg
	sup := a.sup.Load()
	if err := sup.Apply(resolvedCameras(cfg)); err != nil {
		a.Log.Error("reload: some cameras could not be applied", "err", err.Error())
		return
	}
	a.Log.Info("configuration reloaded", "cameras", len(sup.Names()))
}

func resolvedCameras(c *config.Config) []config.Camera {
	out := make([]config.Camera, 0, len(c.Cameras))
	for _, cam := range c.Cameras {
		out = append(out, c.Resolved(cam))
	}
	return out
}

// Describe renders one resolved camera for `camrelay check`, redacted.
func Describe(c config.Camera) string {
	state := ""
	if c.Disabled {
		state = " (disabled)"
	}
	return fmt.Sprintf("%s%s: %s -> %s (transport %s, path %s)", c.Name, state,
		transport.RedactURL(c.Source), transport.RedactURL(c.Output), c.Transport, c.Path)
}

package relay

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/camrelay/camrelay/relay/config"
	"github.com/camrelay/camrelay/transport"
)

// ErrInvalid is what the *InvalidError of a camera edit unwraps to. The
// camera methods fail with it, ErrExists or ErrNotFound; the API answers
// 400, 409 and 404.
var ErrInvalid = errors.New("invalid camera")

// InvalidError carries the validation problems of a camera edit.
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string { return e.Err.Error() }
func (e *InvalidError) Unwrap() error { return ErrInvalid }

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
	if err := c.CheckLiteral(); err != nil {
		return &InvalidError{Err: err}
	}
	if a.fleet != nil {
		return a.fleetEdit(ctx, "add", c)
	}
	if _, ok := a.Config().Camera(c.Name); ok {
		return ErrExists
	}
	return a.edited(ctx, func(e *config.CameraEditor) error { return e.Add(c) })
}

// ReplaceCamera replaces a camera's settings; only that camera restarts.
func (a *App) ReplaceCamera(ctx context.Context, name string, c config.Camera) error {
	if err := c.CheckLiteral(); err != nil {
		return &InvalidError{Err: err}
	}
	if c.Name == "" {
		c.Name = name
	}
	if c.Name != name {
		return &InvalidError{Err: fmt.Errorf("name: %q does not match the camera %q in the URL (rename by deleting and adding)", c.Name, name)}
	}
	if a.fleet != nil {
		return a.fleetEdit(ctx, "replace", c)
	}
	if _, ok := a.Config().Camera(name); !ok {
		return ErrNotFound
	}
	return a.edited(ctx, func(e *config.CameraEditor) error { return e.Replace(name, c) })
}

// DeleteCamera stops a camera and removes it from the configuration file.
func (a *App) DeleteCamera(ctx context.Context, name string) error {
	if a.fleet != nil {
		return a.fleetEdit(ctx, "delete", config.Camera{Name: name})
	}
	if _, ok := a.Config().Camera(name); !ok {
		return ErrNotFound
	}
	return a.edited(ctx, func(e *config.CameraEditor) error { return e.Remove(name) })
}

// CameraView is one camera as the API shows it: its configuration with
// credentials redacted, the shard that relays it, and its status when this
// instance is that shard (Local).
type CameraView struct {
	Config config.Camera `json:"config"`
	Shard  int           `json:"shard"`
	Local  bool          `json:"local"`
	// Owner is the fleet member that relays the camera (fleet mode; empty
	// while nobody holds its claim).
	Owner  string       `json:"owner,omitempty"`
	Status CameraStatus `json:"status,omitzero"`
}

func redacted(c config.Camera) config.Camera {
	c.Source = transport.RedactURL(c.Source)
	c.Output = transport.RedactURL(c.Output)
	if c.Outputs != nil {
		outs := make([]string, len(c.Outputs))
		for i, o := range c.Outputs {
			outs[i] = transport.RedactURL(o)
		}
		c.Outputs = outs
	}
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
	v := CameraView{Config: redacted(c), Shard: cfg.ShardOf(c.Name), Local: cfg.Local(c.Name)}
	if o := cfg.Owners(); o != nil {
		v.Shard, v.Owner = 0, o.Owner[c.Name]
	}
	if !v.Local {
		return v // its status is on the instance that relays it
	}
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

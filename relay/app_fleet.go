package relay

import (
	"context"
	"errors"
	"fmt"

	"github.com/camrelay/camrelay/relay/config"
	"github.com/camrelay/camrelay/relay/fleet"
)

// errNotOwner refuses a publish session this member may not open: it does
// not hold the camera's claim, or its lease deadline passed (fenced).
var errNotOwner = errors.New("fleet: this member does not hold the camera's claim under a live lease; not publishing")

// startFleet makes this App a fleet member (cfg has fleet:): the camera
// list and who relays what come from etcd from now on, and every publish
// session of sup is gated on the member's claim and lease deadline. The
// member runs once Start is called on it.
func (a *App) startFleet(cfg *config.Config, sup *Supervisor) *config.Config {
	a.fleet = fleet.New(fleet.Options{Config: cfg.Fleet, Seed: cfg.Cameras, Log: a.Log,
		APIURL: func() string {
			if p := a.apiURL.Load(); p != nil {
				return *p
			}
			return ""
		},
		Apply: a.applyFleet})
	m := a.fleet
	next := sup.PublishURL
	sup.PublishURL = func(c config.Camera) (string, error) {
		if !m.MayPublish(c.Name) {
			return "", errNotOwner
		}
		if next != nil {
			return next(c)
		}
		return c.Output, nil
	}
	// Nothing is known before etcd answers: no cameras, none relayed.
	return cfg.WithFleet(nil, &config.FleetOwners{Self: m.ID(), Owner: map[string]string{}, Local: map[string]bool{}})
}

// applyFleet is the member's Apply: the fleet's cameras, of which this
// instance relays its claims. It returns once cameras no longer relayed
// here are stopped (Supervisor.Apply waits for their sessions to close).
func (a *App) applyFleet(cams []config.Camera, owners *config.FleetOwners) {
	a.edit.Lock()
	defer a.edit.Unlock()
	cur := a.Config()
	if cur == nil {
		return
	}
	if err := a.apply(cur.WithFleet(cams, owners)); err != nil {
		a.Log.Error("fleet: some cameras could not start", "err", err.Error())
	}
}

// SetAPIURL tells the App where its API is reachable (the fleet shows it to
// the other members when fleet.api_url is not set).
func (a *App) SetAPIURL(u string) { a.apiURL.Store(&u) }

// Fleet is the fleet as this member sees it (false outside fleet mode).
func (a *App) Fleet() (fleet.View, bool) {
	if a.fleet == nil {
		return fleet.View{}, false
	}
	return a.fleet.View(), true
}

// FleetStats are the fleet counters behind the metrics (false outside
// fleet mode).
func (a *App) FleetStats() (fleet.Stats, bool) {
	if a.fleet == nil {
		return fleet.Stats{}, false
	}
	return a.fleet.Stats(), true
}

// fleetProblem is what keeps a fleet member from being ready.
func (a *App) fleetProblem() string {
	if a.fleet == nil {
		return ""
	}
	st, why := a.fleet.State()
	if st == fleet.StateMember {
		return ""
	}
	if why != "" {
		return fmt.Sprintf("fleet: %s: %s", st, why)
	}
	return "fleet: " + string(st)
}

// fleetEdit writes a camera edit to etcd; every member (this one
// included) applies it from its watch. op is add, replace or delete.
func (a *App) fleetEdit(ctx context.Context, op string, c config.Camera) error {
	if op != "delete" {
		cur := a.Config()
		var errs []error
		for _, err := range cur.CheckCamera(c) {
			errs = append(errs, fmt.Errorf("camera %q: %w", c.Name, err))
		}
		if r := cur.Resolved(c); !c.Disabled {
			for _, o := range cur.Cameras {
				if o.Name != c.Name && !o.Disabled && cur.Resolved(o).Path == r.Path {
					errs = append(errs, fmt.Errorf("camera %q: path: is already published by camera %q", c.Name, o.Name))
				}
			}
		}
		if len(errs) > 0 {
			return &InvalidError{Err: errors.Join(errs...)}
		}
	}
	var err error
	switch op {
	case "add":
		err = a.fleet.AddCamera(ctx, c)
	case "replace":
		err = a.fleet.ReplaceCamera(ctx, c)
	default:
		err = a.fleet.DeleteCamera(ctx, c.Name)
	}
	switch {
	case errors.Is(err, fleet.ErrExists):
		return ErrExists
	case errors.Is(err, fleet.ErrNotFound):
		return ErrNotFound
	}
	return err
}

package relay

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"time"

	"github.com/camrelay/camrelay/relay/config"
	"github.com/camrelay/camrelay/transport"
)

// Ready lists what keeps camrelay from being ready: sinks (MediaMTX) that
// cannot be reached, a MediaMTX API that does not answer. Results are
// cached for 3 s so that probes stay cheap.
func (a *App) Ready(ctx context.Context) []string {
	a.readyMu.Lock()
	defer a.readyMu.Unlock()
	if time.Since(a.readyAt) < 3*time.Second {
		return withFleet(a.readyCache, a.fleetProblem()) // the fleet's state is never stale
	}
	var problems []string
	cfg := a.Config()
	if cfg == nil || a.Supervisor() == nil {
		problems = append(problems, "not started")
	} else {
		hosts := map[string]bool{}
		for _, c := range cfg.Cameras {
			r := cfg.Resolved(c)
			if r.Disabled || r.OnDemand || r.Mode == config.ModeDirect || !cfg.Local(c.Name) {
				continue
			}
			for _, o := range r.Outputs {
				if u, err := url.Parse(o); err == nil {
					hosts[transport.HostPort(u)] = true
				}
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
	return withFleet(problems, a.fleetProblem())
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

func withFleet(problems []string, fleet string) []string {
	if fleet == "" {
		return problems
	}
	return append(slices.Clone(problems), fleet)
}

package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/camrelay/camrelay/relay/config"
	"github.com/camrelay/camrelay/transport"
	"github.com/camrelay/camrelay/transport/mediamtx"
)

// provisioner keeps MediaMTX's path configuration in line with camrelay's
// direct and on-demand cameras, through MediaMTX's API. It creates what is
// missing, repairs what drifted (a path edited by hand), deletes what it
// created and no longer wants, and never touches a path it did not create.
// Which paths it created is kept in a state file, because MediaMTX keeps
// API changes in memory only and has no field to mark them. It reconciles
// at start, on every change, and periodically (MediaMTX may have restarted
// and forgotten them).
type provisioner struct {
	client    *mediamtx.Client
	statePath string
	log       *slog.Logger
	interval  time.Duration

	mu       sync.Mutex
	desired  map[string]mediamtx.PathConf
	owned    map[string]bool
	problems map[string]string
	runtime  map[string]mediamtx.Path
	lastErr  string
	synced   time.Time

	kick   chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type provisionState struct {
	MediaMTXPaths []string `json:"mediamtx_paths"`
}

func newProvisioner(c *mediamtx.Client, statePath string, log *slog.Logger) *provisioner {
	pv := &provisioner{client: c, statePath: statePath, log: log, interval: 10 * time.Second,
		desired: map[string]mediamtx.PathConf{}, owned: map[string]bool{}, problems: map[string]string{},
		runtime: map[string]mediamtx.Path{}, kick: make(chan struct{}, 1)}
	if b, err := os.ReadFile(statePath); err == nil {
		var st provisionState
		if err := json.Unmarshal(b, &st); err != nil {
			log.Warn("state file unreadable; paths created earlier will not be cleaned up", "file", statePath, "err", err.Error())
		}
		for _, p := range st.MediaMTXPaths {
			pv.owned[p] = true
		}
	}
	return pv
}

func (pv *provisioner) start() {
	ctx, cancel := context.WithCancel(context.Background())
	pv.cancel = cancel
	pv.wg.Add(1)
	go func() {
		defer pv.wg.Done()
		t := time.NewTicker(pv.interval)
		defer t.Stop()
		for {
			pv.reconcile(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-pv.kick:
			}
		}
	}()
}

func (pv *provisioner) close() {
	pv.cancel()
	pv.wg.Wait()
}

// set replaces the wanted paths and reconciles soon.
func (pv *provisioner) set(desired map[string]mediamtx.PathConf) {
	pv.mu.Lock()
	pv.desired = desired
	pv.mu.Unlock()
	select {
	case pv.kick <- struct{}{}:
	default:
	}
}

// wantedPaths is what MediaMTX should have for the given cameras.
func wantedPaths(cams []config.Camera, serve config.Serve) map[string]mediamtx.PathConf {
	out := map[string]mediamtx.PathConf{}
	yes := true
	for _, c := range cams {
		if c.Disabled {
			continue
		}
		switch {
		case c.Mode == config.ModeDirect:
			on := c.OnDemand
			pc := mediamtx.PathConf{Source: c.Source, SourceOnDemand: &on}
			if k, ok := transport.Sources.Lookup(c.Source); ok && k.Transports {
				pc.RTSPTransport = map[string]string{"tcp": "tcp", "udp": "udp", "auto": "automatic", "": "automatic"}[c.Transport]
			}
			out[c.Path] = pc
		case c.OnDemand:
			out[c.Path] = mediamtx.PathConf{
				Source:                     serveURL(serve, c.Path),
				SourceOnDemand:             &yes,
				RTSPTransport:              "tcp",
				SourceOnDemandStartTimeout: "10s",
				SourceOnDemandCloseAfter:   time.Duration(serve.ReleaseAfter).String(),
			}
		}
	}
	return out
}

// serveURL is the URL MediaMTX pulls an on-demand camera from.
func serveURL(s config.Serve, path string) string {
	u := s.URL
	if s.User != "" {
		if i := indexScheme(u); i > 0 {
			u = u[:i] + escapeUserinfo(s.User) + ":" + escapeUserinfo(s.Pass) + "@" + u[i:]
		}
	}
	return u + "/" + path
}

func indexScheme(u string) int {
	for i := 0; i+3 <= len(u); i++ {
		if u[i:i+3] == "://" {
			return i + 3
		}
	}
	return -1
}

func escapeUserinfo(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~' {
			out = append(out, c)
			continue
		}
		out = append(out, fmt.Sprintf("%%%02X", c)...)
	}
	return string(out)
}

// differs reports whether a configured path no longer matches what
// camrelay set.
func differs(have map[string]any, want mediamtx.PathConf) bool {
	str := func(k string) string { s, _ := have[k].(string); return s }
	if str("source") != want.Source {
		return true
	}
	if want.SourceOnDemand != nil && have["sourceOnDemand"] != *want.SourceOnDemand {
		return true
	}
	if want.RTSPTransport != "" && str("rtspTransport") != want.RTSPTransport {
		return true
	}
	if want.SourceOnDemandCloseAfter != "" && !sameDuration(str("sourceOnDemandCloseAfter"), want.SourceOnDemandCloseAfter) {
		return true
	}
	return false
}

func sameDuration(a, b string) bool {
	da, err1 := time.ParseDuration(a)
	db, err2 := time.ParseDuration(b)
	return err1 == nil && err2 == nil && da == db
}

func (pv *provisioner) reconcile(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	pv.mu.Lock()
	desired := pv.desired
	pv.mu.Unlock()

	list, err := pv.client.ConfigPaths(ctx)
	if err != nil {
		pv.fail(err)
		return
	}
	have := map[string]map[string]any{}
	for _, p := range list {
		if n, _ := p["name"].(string); n != "" {
			have[n] = p
		}
	}
	problems := map[string]string{}
	changed := false
	names := make([]string, 0, len(desired))
	for n := range desired {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		want := desired[name]
		cur, exists := have[name]
		pv.mu.Lock()
		owned := pv.owned[name]
		pv.mu.Unlock()
		switch {
		case !exists:
			if err := pv.client.AddPath(ctx, name, want); err != nil {
				problems[name] = transport.Scrub(err, want.Source).Error()
				continue
			}
			pv.setOwned(name, true)
			changed = true
			pv.log.Info("provisioned MediaMTX path", "path", name, "source", transport.RedactURL(want.Source))
		case !owned:
			problems[name] = "MediaMTX already has this path and camrelay did not create it: left alone"
		case differs(cur, want):
			if err := pv.client.ReplacePath(ctx, name, want); err != nil {
				problems[name] = transport.Scrub(err, want.Source).Error()
				continue
			}
			pv.log.Warn("repaired a MediaMTX path that was changed by hand", "path", name)
		}
	}
	pv.mu.Lock()
	var stale []string
	for name := range pv.owned {
		if _, ok := desired[name]; !ok {
			stale = append(stale, name)
		}
	}
	pv.mu.Unlock()
	for _, name := range stale {
		if err := pv.client.DeletePath(ctx, name); err != nil && !mediamtx.IsNotFound(err) {
			problems[name] = err.Error()
			continue
		}
		pv.setOwned(name, false)
		changed = true
		pv.log.Info("removed MediaMTX path camrelay no longer wants", "path", name)
	}
	if changed {
		pv.save()
	}
	runtime := map[string]mediamtx.Path{}
	if paths, err := pv.client.Paths(ctx); err == nil {
		for _, p := range paths {
			runtime[p.Name] = p
		}
	}
	pv.mu.Lock()
	pv.problems, pv.runtime, pv.lastErr, pv.synced = problems, runtime, "", time.Now()
	pv.mu.Unlock()
}

func (pv *provisioner) fail(err error) {
	pv.mu.Lock()
	defer pv.mu.Unlock()
	msg := err.Error()
	if msg != pv.lastErr {
		pv.log.Warn("MediaMTX API unreachable: paths not reconciled", "err", msg)
	}
	pv.lastErr = msg
}

func (pv *provisioner) setOwned(name string, on bool) {
	pv.mu.Lock()
	defer pv.mu.Unlock()
	if on {
		pv.owned[name] = true
	} else {
		delete(pv.owned, name)
	}
}

func (pv *provisioner) save() {
	pv.mu.Lock()
	st := provisionState{}
	for n := range pv.owned {
		st.MediaMTXPaths = append(st.MediaMTXPaths, n)
	}
	pv.mu.Unlock()
	slices.Sort(st.MediaMTXPaths)
	b, _ := json.MarshalIndent(st, "", "  ")
	if err := config.WriteFileAtomic(pv.statePath, append(b, '\n')); err != nil {
		pv.log.Error("cannot save the state file: paths created now may not be cleaned up after a restart", "file", pv.statePath, "err", err.Error())
	}
}

// pathInfo is what the provisioner knows of one MediaMTX path.
type pathInfo struct {
	runtime  mediamtx.Path
	present  bool
	problem  string
	apiError string
}

func (pv *provisioner) info(path string) pathInfo {
	pv.mu.Lock()
	defer pv.mu.Unlock()
	rt, ok := pv.runtime[path]
	return pathInfo{runtime: rt, present: ok, problem: pv.problems[path], apiError: pv.lastErr}
}

// waitSynced waits for a reconcile that started after now (tests and the
// API use it so that a change is visible in MediaMTX when they answer).
func (pv *provisioner) waitSynced(ctx context.Context, after time.Time) error {
	for {
		pv.mu.Lock()
		done := pv.synced.After(after)
		pv.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("MediaMTX paths not reconciled yet")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

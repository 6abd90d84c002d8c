package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camrelay/camrelay/bench/camsim"
	"github.com/camrelay/camrelay/internal/testenv/mtxtest"
	"github.com/camrelay/camrelay/relay"
	"github.com/camrelay/camrelay/relay/config"
	"github.com/camrelay/camrelay/relay/shard"
)

// `check --shard` lists what that shard would relay; the flag wins over the
// environment, and bad values are refused naming the field.
func TestShardCheck(t *testing.T) {
	var cams strings.Builder
	for i := range 12 {
		fmt.Fprintf(&cams, "  - {name: cam%02d, source: 'rtsp://10.0.0.%d/s'}\n", i, i+1)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "camrelay.yml")
	os.WriteFile(path, []byte("output: rtsp://127.0.0.1:8554/{path}\nshard:\n  viewer_urls: ['rtsp://camrelay-{shard}.camrelay:8554/{path}']\ncameras:\n"+cams.String()), 0o600)
	t.Setenv(config.EnvShard, "0")
	t.Setenv(config.EnvShards, "2")

	for _, c := range []struct {
		args         []string
		index, count int
	}{
		{[]string{"check", "-c", path, "--shard", "1/3"}, 1, 3},
		{[]string{"check", "-c", path}, 0, 2}, // from the environment
	} {
		var out, errb bytes.Buffer
		if code := run(c.args, &out, &errb); code != 0 {
			t.Fatalf("%v: exit %d: %s", c.args, code, errb.String())
		}
		var want []string
		for i := range 12 {
			if n := fmt.Sprintf("cam%02d", i); shard.Owner(n, c.count) == c.index {
				want = append(want, n)
			}
		}
		head := fmt.Sprintf("shard %d/%d relays %d of the 12 camera(s):", c.index, c.count, len(want))
		if !strings.Contains(out.String(), head) {
			t.Errorf("%v: output lacks %q:\n%s", c.args, head, out.String())
		}
		var listed []string
		for _, l := range strings.Split(out.String(), "\n") {
			if n, _, ok := strings.Cut(strings.TrimSpace(l), ": rtsp://"); ok && strings.HasPrefix(l, "  ") {
				listed = append(listed, n)
			}
		}
		if !slices.Equal(listed, want) {
			t.Errorf("%v: listed %v, want %v", c.args, listed, want)
		}
		t.Logf("check %v: %s", c.args[3:], head)
	}

	for _, c := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"--shard", "3/3"}, "", `invalid value "3/3" for flag -shard`},
		{[]string{"--shard", "x"}, "", "want INDEX/COUNT such as 1/3"},
		{nil, "5", "shard.index: must be from 0 to 1 (shard.count is 2), not 5"},
		{nil, "one", `CAMRELAY_SHARD: must be a whole number, not "one"`},
	} {
		if c.env != "" {
			t.Setenv(config.EnvShard, c.env)
		}
		var out, errb bytes.Buffer
		code := run(append([]string{"check", "-c", path}, c.args...), &out, &errb)
		if code == 0 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("check %v (CAMRELAY_SHARD=%s): exit %d, %q; want a failure saying %q", c.args, c.env, code, errb.String(), c.want)
		}
	}
	// mediamtx-config writes only this shard's paths: each direct camera is
	// pulled by one MediaMTX.
	var direct strings.Builder
	for i := range 9 {
		fmt.Fprintf(&direct, "  - {name: d%d, source: 'rtsp://10.0.1.%d/s', mode: direct}\n", i, i+1)
	}
	dfile := filepath.Join(dir, "direct.yml")
	os.WriteFile(dfile, []byte("mediamtx: {api: 'http://127.0.0.1:9997'}\ncameras:\n"+direct.String()), 0o600)
	t.Setenv(config.EnvShard, "2")
	t.Setenv(config.EnvShards, "3")
	var out, errb bytes.Buffer
	if code := run([]string{"mediamtx-config", "-c", dfile}, &out, &errb); code != 0 {
		t.Fatalf("mediamtx-config: exit %d: %s", code, errb.String())
	}
	written := 0
	for i := range 9 {
		n := fmt.Sprintf("d%d", i)
		in := strings.Contains(out.String(), "\n    "+n+":\n")
		if in != (shard.Owner(n, 3) == 2) {
			t.Errorf("mediamtx-config of shard 2/3: path %s written %v, owner %d", n, in, shard.Owner(n, 3))
		}
		if in {
			written++
		}
	}
	if written == 0 || written == 9 {
		t.Errorf("mediamtx-config of shard 2/3 wrote %d of 9 direct paths:\n%s", written, out.String())
	}

	// The file's own bad values, each refused naming the field.
	for _, c := range []struct{ shard, want string }{
		{"{index: 3, count: 3}", "shard.index: must be from 0 to 2 (shard.count is 3), not 3"},
		{"{index: 0, count: 0}", "shard.count: must be 1 or more, not 0"},
		{"{index: 0, count: 3, viewer_urls: ['rtsp://mtx:8554/{path}']}", "shard.viewer_urls[0]: must contain {shard} when shard.count is more than 1"},
	} {
		os.Unsetenv(config.EnvShard)
		os.Unsetenv(config.EnvShards)
		bad := filepath.Join(dir, "bad.yml")
		os.WriteFile(bad, []byte("output: rtsp://127.0.0.1:8554/{path}\nshard: "+c.shard+"\ncameras:\n"+cams.String()), 0o600)
		var out, errb bytes.Buffer
		if code := run([]string{"check", "-c", bad}, &out, &errb); code != 1 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("check of shard: %s: exit %d, %q; want %q", c.shard, code, errb.String(), c.want)
		}
	}
}

// shardRelay is one camrelay instance of a sharded deployment, in-process.
type shardRelay struct {
	app     *relay.App
	apiAddr string
	stop    func()
}

// Issue 11: three instances with the same 30 cameras relay each camera
// exactly once into one MediaMTX; as four instances, about a quarter of the
// cameras move, all to the new shard; /location on any instance names the
// shard that relays a camera.
func TestShardEndToEnd(t *testing.T) {
	const cameras = 30
	e := newEnv(t, mtxtest.Config{})
	var names []string
	var cams strings.Builder
	for i := range cameras {
		n := fmt.Sprintf("site%d/cam%02d", i%3, i)
		names = append(names, n)
		e.camera(camsim.CameraConfig{Path: n, Clip: clipSmall})
		fmt.Fprintf(&cams, "  - {name: %s, source: %q, transport: tcp}\n", n, e.sim.URL(n))
	}
	cfg := fmt.Sprintf(`output: %s
defaults:
  backoff_min: 100ms
  backoff_max: 1s
api:
  listen: 127.0.0.1:0
shard:
  viewer_urls: ["rtsp://camrelay-{shard}.camrelay:8554/{path}", "http://camrelay-{shard}.camrelay:8889/{path}/whep"]
cameras:
%s`, e.output(), cams.String())
	// Each instance has its own configuration file (same content), state
	// file and API port, as pods do.
	var files []string
	for i := range 4 {
		dir := filepath.Join(t.TempDir(), fmt.Sprint(i))
		os.MkdirAll(dir, 0o700)
		files = append(files, filepath.Join(dir, "camrelay.yml"))
		if err := os.WriteFile(files[i], []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	startShards := func(n int) []*shardRelay {
		var out []*shardRelay
		for i := range n {
			spec := config.ShardSpec{Index: i, Count: n}
			app := &relay.App{ConfigPath: files[i], Shard: &spec,
				Log: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelInfo})).With("shard", spec.String())}
			if err := app.Load(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			r, err := start(ctx, app, nil)
			if err != nil {
				cancel()
				t.Fatal(err)
			}
			var once sync.Once
			stop := func() {
				once.Do(func() {
					cancel()
					if err := r.wait(); err != nil {
						t.Errorf("camrelay %s: %v", spec, err)
					}
				})
			}
			t.Cleanup(stop)
			out = append(out, &shardRelay{app: app, apiAddr: r.apiAddr, stop: stop})
		}
		return out
	}

	// owners is which instance's supervisor runs each camera; a camera run
	// by two instances fails the test.
	owners := func(relays []*shardRelay) map[string]int {
		t.Helper()
		m := map[string]int{}
		for i, r := range relays {
			for _, n := range r.app.Supervisor().Names() {
				if j, dup := m[n]; dup {
					t.Fatalf("camera %q is relayed by shard %d and shard %d", n, j, i)
				}
				m[n] = i
			}
		}
		return m
	}

	// exactlyOnce holds when MediaMTX has every camera ready with one
	// publishing RTSP session each, and nothing else is published.
	exactlyOnce := func() (bool, string) {
		ps := e.paths()
		var sessions struct {
			Items []struct {
				State string `json:"state"`
				Path  string `json:"path"`
			} `json:"items"`
		}
		e.apiGet("/v3/rtspsessions/list?itemsPerPage=1000", &sessions)
		publishers := map[string]int{}
		for _, s := range sessions.Items {
			if s.State == "publish" {
				publishers[s.Path]++
			}
		}
		for _, n := range names {
			if p := ps[n]; !p.Ready || p.Source == nil || p.Source.Type != "rtspSession" {
				return false, fmt.Sprintf("path %q not ready (%+v)", n, p)
			}
			if publishers[n] != 1 {
				return false, fmt.Sprintf("path %q has %d publishers", n, publishers[n])
			}
		}
		if len(publishers) != cameras || len(ps) != cameras {
			return false, fmt.Sprintf("%d paths, %d published; want %d", len(ps), len(publishers), cameras)
		}
		return true, ""
	}

	check := func(relays []*shardRelay) map[string]int {
		t.Helper()
		n := len(relays)
		began := time.Now()
		var why string
		if !waitWithin(30*time.Second, func() bool { ok, w := exactlyOnce(); why = w; return ok }) {
			t.Fatalf("%d shards: MediaMTX does not have each camera exactly once: %s", n, why)
		}
		ready := time.Since(began)
		// Stays so: no two instances take a path from each other.
		if !holdsFor(time.Second, func() bool { ok, w := exactlyOnce(); why = w; return ok }) {
			t.Fatalf("%d shards: each camera exactly once, then not: %s", n, why)
		}
		own := owners(relays)
		if len(own) != cameras {
			t.Fatalf("%d shards: the supervisors run %d cameras, want %d", n, len(own), cameras)
		}
		per := make([]int, n)
		for name, i := range own {
			per[i]++
			if w := shard.Owner(name, n); w != i {
				t.Errorf("%d shards: camera %q runs on shard %d, rendezvous hashing says %d", n, name, i, w)
			}
		}
		t.Logf("%d shards: all %d cameras at MediaMTX exactly once, %v after start; cameras per shard %v", n, cameras, ready.Round(10*time.Millisecond), per)
		return own
	}

	three := startShards(3)
	own3 := check(three)
	for _, r := range three {
		r.stop()
	}

	four := startShards(4)
	own4 := check(four)
	var moved []string
	for _, n := range names {
		if own3[n] != own4[n] {
			moved = append(moved, n)
			if own4[n] != 3 {
				t.Errorf("camera %q moved from shard %d to shard %d; only moves to the new shard 3 are allowed", n, own3[n], own4[n])
			}
		}
	}
	t.Logf("3 -> 4 shards: %d of %d cameras changed owner (ideal %.1f): %v", len(moved), cameras, float64(cameras)/4, moved)
	if len(moved) < 3 || len(moved) > 12 {
		t.Errorf("%d cameras moved, want about %d (3 to 12)", len(moved), cameras/4)
	}

	// /location on every instance names the shard that relays the camera.
	client := &http.Client{Timeout: 5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for i, r := range four {
		for _, n := range names {
			res, err := client.Get("http://" + r.apiAddr + "/v1/cameras/" + n + "/location")
			if err != nil {
				t.Fatal(err)
			}
			var loc relay.Location
			err = json.NewDecoder(res.Body).Decode(&loc)
			res.Body.Close()
			want := fmt.Sprintf("rtsp://camrelay-%d.camrelay:8554/%s", own4[n], n)
			if err != nil || res.StatusCode != 200 || loc.Shard != own4[n] || loc.Local != (i == own4[n]) || len(loc.ViewerURLs) != 2 || loc.ViewerURLs[0] != want {
				t.Fatalf("instance %d: GET /v1/cameras/%s/location: %d %+v (%v); want shard %d at %s", i, n, res.StatusCode, loc, err, own4[n], want)
			}
		}
		res, err := client.Get("http://" + r.apiAddr + "/v1/cameras/nope/location")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 404 {
			t.Errorf("instance %d: location of an unknown camera: %d, want 404", i, res.StatusCode)
		}
	}
	// Every instance lists every camera; status only where it is relayed.
	res, err := client.Get("http://" + four[2].apiAddr + "/v1/cameras?per_page=1000")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Items []struct {
			Config struct{ Name string }
			Shard  int
			Local  bool
			Status *relay.CameraStatus
		}
		Total int
	}
	json.NewDecoder(res.Body).Decode(&list)
	res.Body.Close()
	if list.Total != cameras {
		t.Errorf("instance 2 lists %d cameras, want all %d", list.Total, cameras)
	}
	for _, v := range list.Items {
		if v.Shard != own4[v.Config.Name] || v.Local != (v.Shard == 2) || (v.Status != nil) != v.Local {
			t.Errorf("instance 2 lists %q as shard %d local %v status %v; it runs on shard %d", v.Config.Name, v.Shard, v.Local, v.Status != nil, own4[v.Config.Name])
		}
	}
}

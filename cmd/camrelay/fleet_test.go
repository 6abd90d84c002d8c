package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/camrelay/camrelay/internal/testenv/loopback"

	"github.com/camrelay/camrelay/bench/camsim"
	"github.com/camrelay/camrelay/internal/testenv/etcdtest"
	"github.com/camrelay/camrelay/internal/testenv/mtxtest"
	"github.com/camrelay/camrelay/relay/fleet"
	"github.com/camrelay/camrelay/relay/shard"
)

// fleetEnv is one MediaMTX, camsim cameras, an etcd cluster and camrelay
// fleet members run as processes of the built binary (so that they can be
// killed and frozen).
type fleetEnv struct {
	*env
	etcd  *etcdtest.Cluster
	bin   string
	ttl   time.Duration
	cams  []string
	mu    sync.Mutex
	procs map[string]*fleetProc
}

type fleetProc struct {
	id     string
	api    string
	cmd    *exec.Cmd
	logs   *loopback.Buffer
	exited chan struct{}
}

func newFleetEnv(t *testing.T, etcdMembers, cameras int, ttl time.Duration) *fleetEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("fleet tests start etcd, MediaMTX and camrelay processes")
	}
	etcdtest.Skip(t)
	f := &fleetEnv{env: newEnv(t, mtxtest.Config{}), ttl: ttl, procs: map[string]*fleetProc{}}
	f.etcd = etcdtest.Start(t, etcdMembers)
	f.bin = buildCamrelay(t)
	for i := range cameras {
		n := fmt.Sprintf("cam%02d", i)
		f.camera(camsim.CameraConfig{Path: n})
		f.cams = append(f.cams, n)
	}
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, p := range f.procs {
			p.kill()
			if t.Failed() {
				t.Logf("%s log (tail):\n%s", p.id, tail(p.logs.String(), 4000))
			}
		}
	})
	return f
}

func (f *fleetEnv) config(id string, apiPort int, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "output: rtsp://%s:%s@%s/{path}\napi: {listen: 127.0.0.1:%d}\n", mtxtest.RelayUser, mtxtest.RelayPass, f.mtx.RTSPAddr(), apiPort)
	fmt.Fprintf(&b, "defaults: {backoff_max: 2s}\nfleet:\n  etcd: [%s]\n  lease_ttl: %v\n  id: %s\n%s", strings.Join(f.etcd.Endpoints(), ", "), f.ttl, id, extra)
	b.WriteString("cameras:\n")
	for _, n := range f.cams {
		fmt.Fprintf(&b, "  - {name: %s, source: 'rtsp://%s/%s'}\n", n, f.sim.Addr(), n)
	}
	return b.String()
}

// start runs member id as a process.
func (f *fleetEnv) start(id string) *fleetProc {
	f.t.Helper()
	port := loopback.TCPPort(f.t)
	path := filepath.Join(f.t.TempDir(), id+".yml")
	if err := os.WriteFile(path, []byte(f.config(id, port, "")), 0o600); err != nil {
		f.t.Fatal(err)
	}
	p := &fleetProc{id: id, api: fmt.Sprintf("http://127.0.0.1:%d", port), logs: &loopback.Buffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(f.bin, "run", "-c", path)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		close(p.exited)
	}()
	f.mu.Lock()
	f.procs[id] = p
	f.mu.Unlock()
	return p
}

func (p *fleetProc) kill() {
	p.cmd.Process.Signal(syscall.SIGCONT)
	p.cmd.Process.Kill()
	<-p.exited
}

func (f *fleetEnv) live() []*fleetProc {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*fleetProc
	for _, p := range f.procs {
		select {
		case <-p.exited:
		default:
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *fleetProc) int { return strings.Compare(a.id, b.id) })
	return out
}

var quick = &http.Client{Timeout: 400 * time.Millisecond}

func getJSON(url string, v any) (int, error) {
	res, err := quick.Get(url)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, err
	}
	return res.StatusCode, json.Unmarshal(b, v)
}

func (p *fleetProc) view() (fleet.View, error) {
	var v fleet.View
	_, err := getJSON(p.api+"/v1/fleet", &v)
	return v, err
}

// readyPaths is what MediaMTX has ready, with each path's publisher.
func (f *fleetEnv) readyPaths() (map[string]string, error) {
	var out struct {
		Items []mtxPath `json:"items"`
	}
	if _, err := getJSON(f.mtx.APIURL()+"/v3/paths/list?itemsPerPage=1000", &out); err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, p := range out.Items {
		if p.Ready && p.Source != nil {
			m[p.Name] = p.Source.ID
		}
	}
	return m, nil
}

// sampler looks at MediaMTX and at every member every 200 ms: which
// cameras are ready, which member relays each, and for how long any camera
// was relayed by two members at once.
type sampler struct {
	f    *fleetEnv
	stop chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	ready    map[string]bool
	notReady map[string]time.Time // since when a camera is not ready
	gaps     map[string][]time.Duration
	dupSince map[string]time.Time
	maxDup   time.Duration
	dupCam   string
	relayed  map[string]string // camera -> member, last sample
}

func (f *fleetEnv) sample() *sampler {
	s := &sampler{f: f, stop: make(chan struct{}), ready: map[string]bool{}, notReady: map[string]time.Time{},
		gaps: map[string][]time.Duration{}, dupSince: map[string]time.Time{}, relayed: map[string]string{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			s.once()
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	f.t.Cleanup(s.close)
	return s
}

func (s *sampler) close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.wg.Wait()
}

func (s *sampler) once() {
	now := time.Now()
	ready, err := s.f.readyPaths()
	relayed := map[string][]string{}
	for _, p := range s.f.live() {
		if v, err := p.view(); err == nil {
			for _, c := range v.Relaying {
				relayed[c] = append(relayed[c], p.id)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.f.cams {
		if err == nil {
			_, ok := ready[c]
			if ok && !s.ready[c] {
				if t0, was := s.notReady[c]; was {
					s.gaps[c] = append(s.gaps[c], now.Sub(t0))
				}
			}
			if !ok && (s.ready[c] || s.notReady[c].IsZero()) {
				s.notReady[c] = now
			}
			s.ready[c] = ok
		}
		if len(relayed[c]) > 1 {
			if s.dupSince[c].IsZero() {
				s.dupSince[c] = now
			}
			if d := now.Sub(s.dupSince[c]) + 200*time.Millisecond; d > s.maxDup {
				s.maxDup, s.dupCam = d, c+" on "+strings.Join(relayed[c], "+")
			}
		} else {
			delete(s.dupSince, c)
		}
		if len(relayed[c]) == 1 {
			s.relayed[c] = relayed[c][0]
		} else if len(relayed[c]) == 0 {
			delete(s.relayed, c)
		}
	}
}

func (s *sampler) allReady() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.f.cams {
		if !s.ready[c] {
			return false
		}
	}
	return true
}

func (s *sampler) resetGaps() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gaps = map[string][]time.Duration{}
}

func (s *sampler) dup() (time.Duration, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxDup, s.dupCam
}

// settled waits until every camera is ready at MediaMTX and relayed by
// the one member rendezvous hashing over the live members picks.
func (f *fleetEnv) settled(s *sampler, d time.Duration, what string) {
	f.t.Helper()
	f.eventually(d, what, func() bool {
		ready, err := f.readyPaths()
		if err != nil {
			return false
		}
		for _, c := range f.cams {
			if _, ok := ready[c]; !ok {
				return false
			}
		}
		var ids []string
		for _, p := range f.live() {
			ids = append(ids, p.id)
		}
		o := f.sampleOwners()
		for _, c := range f.cams {
			if o[c] != shard.MemberOwner(c, ids) {
				return false
			}
		}
		return true
	})
	f.eventually(2*time.Second, "the sampler to see every camera ready", s.allReady)
}

// exactlyOnce checks MediaMTX's API: one publisher per path, all ready.
func (f *fleetEnv) exactlyOnce() {
	f.t.Helper()
	var out struct {
		Items []mtxPath `json:"items"`
	}
	f.apiGet("/v3/paths/list?itemsPerPage=1000", &out)
	n := 0
	for _, p := range out.Items {
		if !slices.Contains(f.cams, p.Name) {
			continue
		}
		n++
		if !p.Ready || p.Source == nil || p.Source.Type != "rtspSession" {
			f.t.Errorf("path %s: ready %v, source %+v", p.Name, p.Ready, p.Source)
		}
	}
	if n != len(f.cams) {
		f.t.Errorf("MediaMTX has %d of %d camera paths", n, len(f.cams))
	}
	var sessions struct {
		Items []struct {
			State string `json:"state"`
			Path  string `json:"path"`
		} `json:"items"`
	}
	f.apiGet("/v3/rtspsessions/list?itemsPerPage=1000", &sessions)
	pubs := map[string]int{}
	for _, s := range sessions.Items {
		if s.State == "publish" {
			pubs[s.Path]++
		}
	}
	for _, c := range f.cams {
		if pubs[c] != 1 {
			f.t.Errorf("camera %s has %d publish sessions at MediaMTX", c, pubs[c])
		}
	}
}

func (f *fleetEnv) camerasOf(id string) []string {
	var out []string
	for c, o := range f.sampleOwners() {
		if o == id {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

func (f *fleetEnv) sampleOwners() map[string]string {
	out := map[string]string{}
	for _, p := range f.live() {
		if v, err := p.view(); err == nil {
			for _, c := range v.Relaying {
				out[c] = p.id
			}
		}
	}
	return out
}

// Three members, 30 cameras: each published exactly once; kill -9 of a
// member, a frozen member, and a fourth member joining, with MediaMTX and
// every member sampled every 200 ms throughout.
func TestFleetFailover(t *testing.T) {
	const ttl = 3 * time.Second
	f := newFleetEnv(t, 3, 30, ttl)
	for i := range 3 {
		f.start(fmt.Sprintf("r%d", i))
	}
	s := f.sample()
	t0 := time.Now()
	f.settled(s, 30*time.Second, "30 cameras ready, each relayed by one member")
	t.Logf("three members: 30 cameras ready %v after start", time.Since(t0).Round(time.Millisecond))
	f.exactlyOnce()
	for _, id := range []string{"r0", "r1", "r2"} {
		t.Logf("%s relays %d cameras", id, len(f.camerasOf(id)))
	}

	// kill -9: the survivors publish its cameras within TTL + 3 s.
	victim := f.camerasOf("r1")
	f.mu.Lock()
	p1 := f.procs["r1"]
	f.mu.Unlock()
	killed := time.Now()
	p1.kill()
	f.eventually(ttl+3*time.Second, "the killed member's cameras back at MediaMTX", func() bool {
		ready, err := f.readyPaths()
		if err != nil {
			return false
		}
		for _, c := range victim {
			if _, ok := ready[c]; !ok {
				return false
			}
		}
		return true
	})
	failover := time.Since(killed)
	t.Logf("kill -9: the %d cameras of the dead member were back at MediaMTX %v after the kill (TTL %v, budget %v)",
		len(victim), failover.Round(time.Millisecond), ttl, ttl+3*time.Second)
	f.settled(s, 10*time.Second, "every camera relayed once after the kill")
	f.exactlyOnce()
	if d, c := s.dup(); d > 0 {
		t.Errorf("a camera was relayed by two members for %v (%s)", d, c)
	}
	// Restarted with the same ID, it gets its cameras back.
	f.start("r1")
	f.settled(s, 15*time.Second, "the restarted member to relay its cameras again")

	// kill -STOP for 2 x TTL, then -CONT: its cameras move during the
	// freeze; after it, it is fenced and does not publish them on its own.
	f.mu.Lock()
	p2 := f.procs["r2"]
	f.mu.Unlock()
	frozen := f.camerasOf("r2")
	p2.cmd.Process.Signal(syscall.SIGSTOP)
	stopped := time.Now()
	f.eventually(2*ttl, "the frozen member's cameras to move", func() bool {
		o := f.sampleOwners()
		for _, c := range frozen {
			if o[c] == "" || o[c] == "r2" {
				return false
			}
		}
		return true
	})
	t.Logf("kill -STOP: the frozen member's %d cameras were relayed by others %v after the freeze", len(frozen), time.Since(stopped).Round(time.Millisecond))
	time.Sleep(time.Until(stopped.Add(2 * ttl))) // the freeze under test lasts 2 x TTL
	p2.cmd.Process.Signal(syscall.SIGCONT)
	f.eventually(5*time.Second, "the thawed member to notice its lost lease", func() bool {
		return strings.Contains(p2.logs.String(), "fenced")
	})
	f.settled(s, 15*time.Second, "every camera relayed once after the freeze")
	f.exactlyOnce()
	d, c := s.dup()
	t.Logf("duplicate publishers (camrelay side, sampled every 200 ms) through kill -9 and the freeze: longest %v %s", d, c)
	if d >= ttl {
		t.Errorf("a camera was relayed by two members for %v (%s), longer than the TTL", d, c)
	}

	// A fourth member joins: about a quarter move, each gap under 2 s.
	before := f.sampleOwners()
	s.resetGaps()
	f.start("r3")
	f.eventually(15*time.Second, "the fourth member to relay cameras", func() bool { return len(f.camerasOf("r3")) > 0 })
	f.settled(s, 15*time.Second, "every camera relayed once after the join")
	after := f.sampleOwners()
	moved := 0
	for _, c := range f.cams {
		if before[c] != after[c] {
			moved++
		}
	}
	s.mu.Lock()
	var worst time.Duration
	for _, gs := range s.gaps {
		for _, g := range gs {
			worst = max(worst, g)
		}
	}
	s.mu.Unlock()
	t.Logf("a fourth member joined: %d of 30 cameras moved; longest gap at MediaMTX %v (sampled every 200 ms)", moved, worst.Round(time.Millisecond))
	if moved < 3 || moved > 14 {
		t.Errorf("%d of 30 cameras moved to the fourth member; want about a quarter", moved)
	}
	if worst >= 2*time.Second {
		t.Errorf("a moved camera was gone from MediaMTX for %v; want under 2 s", worst)
	}
	f.exactlyOnce()
	if d, c := s.dup(); d >= ttl {
		t.Errorf("a camera was relayed by two members for %v (%s)", d, c)
	}
}

// etcd failures: one member killed disturbs nothing; all of etcd gone for
// 20 s: cameras stay up until the leases would expire, then stop; every
// camera is back within 10 s of etcd's return, never twice.
func TestFleetEtcdOutage(t *testing.T) {
	const ttl = 3 * time.Second
	f := newFleetEnv(t, 3, 12, ttl)
	for i := range 3 {
		f.start(fmt.Sprintf("r%d", i))
	}
	s := f.sample()
	f.settled(s, 30*time.Second, "cameras ready")
	owners := f.sampleOwners()

	s.resetGaps()
	f.etcd.Nodes[0].Kill()
	stable := holdsFor(3*ttl, func() bool { return s.allReady() && mapsEqual(f.sampleOwners(), owners) })
	if !stable {
		t.Errorf("killing one of three etcd members disturbed the cameras")
	}
	t.Logf("one etcd member killed: cameras undisturbed for %v (3 x TTL)", 3*ttl)
	if err := f.etcd.Nodes[0].Start(); err != nil {
		t.Fatal(err)
	}
	f.etcd.WaitHealthy(t, 10*time.Second)

	// All of etcd down for 20 s.
	for _, n := range f.etcd.Nodes {
		n.Kill()
	}
	down := time.Now()
	f.eventually(3*time.Second, "members to say etcd is unreachable", func() bool {
		var st struct {
			Problems []string `json:"problems"`
		}
		code, _ := getJSON(f.live()[0].api+"/readyz", &st)
		return code == 503 && strings.Contains(strings.Join(st.Problems, " "), "etcd-unreachable")
	})
	if !s.allReady() {
		t.Errorf("cameras stopped before the lease deadline (%v after etcd went)", time.Since(down))
	}
	f.eventually(ttl+3*time.Second, "cameras to stop once the leases would have expired", func() bool {
		r, err := f.readyPaths()
		return err == nil && len(r) == 0
	})
	stoppedAfter := time.Since(down)
	t.Logf("etcd gone: cameras stopped %v after (TTL %v)", stoppedAfter.Round(time.Millisecond), ttl)
	if stoppedAfter < ttl/2 {
		t.Errorf("cameras stopped %v after etcd went; want them kept until the lease deadline", stoppedAfter)
	}
	var st struct {
		Problems []string `json:"problems"`
	}
	if code, _ := getJSON(f.live()[1].api+"/readyz", &st); code != 503 || !strings.Contains(strings.Join(st.Problems, " "), "fenced") {
		t.Errorf("readyz while fenced: %d %v", code, st.Problems)
	}
	time.Sleep(time.Until(down.Add(20 * time.Second)))
	for _, n := range f.etcd.Nodes {
		if err := n.Start(); err != nil {
			t.Fatal(err)
		}
	}
	back := time.Now()
	f.settled(s, 10*time.Second, "every camera back within 10 s of etcd's return")
	t.Logf("etcd back after 20 s: every camera at MediaMTX again %v later", time.Since(back).Round(time.Millisecond))
	f.exactlyOnce()
	if d, c := s.dup(); d > 0 {
		t.Errorf("a camera was relayed by two members for %v (%s)", d, c)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// API edits on different members, the same camera added on two at once,
// and bad input: an unreachable etcd, a wrong password.
func TestFleetAPIAndBadInput(t *testing.T) {
	const ttl = 2 * time.Second
	f := newFleetEnv(t, 1, 3, ttl)
	for i := range 3 {
		f.start(fmt.Sprintf("r%d", i))
	}
	s := f.sample()
	f.settled(s, 30*time.Second, "cameras ready")
	ps := f.live()
	for i := range 3 {
		f.camera(camsim.CameraConfig{Path: fmt.Sprintf("extra%d", i)})
	}
	post := func(p *fleetProc, body string) int {
		res, err := http.Post(p.api+"/v1/cameras", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	agree := func(want []string, what string) time.Duration {
		t0 := time.Now()
		f.eventually(time.Second, what, func() bool {
			for _, p := range ps {
				var pg struct {
					Items []struct {
						Config struct {
							Name string `json:"name"`
						} `json:"config"`
						Owner string `json:"owner"`
					} `json:"items"`
				}
				if _, err := getJSON(p.api+"/v1/cameras", &pg); err != nil {
					return false
				}
				var got []string
				for _, it := range pg.Items {
					got = append(got, it.Config.Name)
				}
				if !slices.Equal(got, want) {
					return false
				}
			}
			return true
		})
		return time.Since(t0)
	}
	for i, p := range ps {
		if code := post(p, fmt.Sprintf(`{"name": "extra%d", "source": "rtsp://%s/extra%d"}`, i, f.sim.Addr(), i)); code != 201 {
			t.Fatalf("POST on %s: %d", p.id, code)
		}
	}
	all := append(slices.Clone(f.cams), "extra0", "extra1", "extra2")
	slices.Sort(all)
	took := agree(all, "every member to list the cameras added on the others")
	t.Logf("cameras added through three members: all agree %v after the last answer", took.Round(time.Millisecond))
	req, _ := http.NewRequest("DELETE", ps[2].api+"/v1/cameras/extra0", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 204 {
		t.Fatalf("DELETE: %v %v", err, res)
	}
	res.Body.Close()
	took = agree(slices.DeleteFunc(slices.Clone(all), func(n string) bool { return n == "extra0" }), "every member to drop the deleted camera")
	t.Logf("camera deleted through a third member: all agree %v after the answer", took.Round(time.Millisecond))
	f.cams = append(f.cams, "extra1", "extra2")
	f.settled(s, 10*time.Second, "added cameras relayed")

	// The same name on two members at once: one 201, one 409.
	codes := make([]int, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = post(ps[i], fmt.Sprintf(`{"name": "twice", "source": "rtsp://%s/extra0"}`, f.sim.Addr()))
		}()
	}
	wg.Wait()
	slices.Sort(codes)
	if !slices.Equal(codes, []int{201, 409}) {
		t.Errorf("same camera added on two members at once: %v; want 201 and 409", codes)
	}
	t.Logf("same camera added on two members at once: %v", codes)

	// Unreachable etcd at start: a clear error, retries, not ready.
	bad := func(name, etcdURL, extra string) (*fleetProc, func() int) {
		port := loopback.TCPPort(t)
		cfg := fmt.Sprintf("output: rtsp://127.0.0.1:1/{path}\napi: {listen: 127.0.0.1:%d}\nfleet:\n  etcd: [%s]\n  lease_ttl: 2s\n  id: %s\n%scameras: []\n", port, etcdURL, name, extra)
		path := filepath.Join(t.TempDir(), name+".yml")
		os.WriteFile(path, []byte(cfg), 0o600)
		p := &fleetProc{id: name, api: fmt.Sprintf("http://127.0.0.1:%d", port), logs: &loopback.Buffer{}, exited: make(chan struct{})}
		p.cmd = exec.Command(f.bin, "run", "-c", path)
		p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			p.cmd.Wait()
			close(p.exited)
		}()
		t.Cleanup(p.kill)
		return p, func() int { return strings.Count(p.logs.String(), "no session with etcd; retrying") }
	}
	deadEtcd := fmt.Sprintf("http://127.0.0.1:%d", loopback.TCPPort(t))
	pu, triesU := bad("lonely", deadEtcd, "")
	f.eventually(15*time.Second, "retries against an unreachable etcd", func() bool { return triesU() >= 2 })
	var st struct {
		Ready    bool     `json:"ready"`
		Problems []string `json:"problems"`
	}
	if code, _ := getJSON(pu.api+"/readyz", &st); code != 503 || st.Ready || !strings.Contains(strings.Join(st.Problems, " "), "fleet: starting") {
		t.Errorf("readyz with etcd unreachable: %d %+v", code, st)
	}
	if !strings.Contains(pu.logs.String(), "etcd unreachable at fleet.etcd") {
		t.Errorf("no clear error for an unreachable etcd:\n%s", tail(pu.logs.String(), 1500))
	}
	t.Logf("unreachable etcd at start: %d tries, readyz %v", triesU(), st.Problems)

	// A wrong password (etcd auth enabled): a clear error, backoff.
	sec := etcdtest.Start(t, 1)
	sec.EnableAuth(t, "right-pass")
	pw, triesW := bad("wrongpass", sec.Endpoints()[0], "  user: root\n  pass: wrong-pass\n")
	f.eventually(15*time.Second, "a wrong password reported", func() bool { return triesW() >= 1 })
	t1 := time.Now()
	n1 := triesW()
	holdsFor(6*time.Second, func() bool { return true }) // the window in which to count retries
	rate := float64(triesW()-n1) / time.Since(t1).Seconds()
	if !strings.Contains(pw.logs.String(), "authentication failed") {
		t.Errorf("no clear error for a wrong etcd password:\n%s", tail(pw.logs.String(), 1500))
	}
	if rate > 1 {
		t.Errorf("wrong password: %.1f retries a second; want backoff", rate)
	}
	assertNoSecrets(t, "log of the member with a wrong password", pw.logs.String(), "wrong-pass")
	if code, _ := getJSON(pw.api+"/readyz", &st); code != 503 {
		t.Errorf("readyz with a wrong password: %d", code)
	}
	t.Logf("wrong etcd password: %.2f retries a second (backoff), readyz %v", rate, st.Problems)
}

package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/camrelay/camrelay/internal/testenv/etcdtest"
	"github.com/camrelay/camrelay/relay/config"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is what Apply was last told: the cameras a member relays.
type recorder struct {
	mu    sync.Mutex
	local map[string]bool
	cams  []config.Camera
}

func (r *recorder) apply(cams []config.Camera, o *config.FleetOwners) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.local, r.cams = o.Local, cams
}

func (r *recorder) relaying() map[string]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.local
}

type testFleet struct {
	t       *testing.T
	etcd    *etcdtest.Cluster
	members []*Member
	recs    []*recorder
	seed    []config.Camera
	ttl     time.Duration
}

func cams(n int) []config.Camera {
	out := make([]config.Camera, n)
	for i := range out {
		out[i] = config.Camera{Name: fmt.Sprintf("cam%03d", i), Source: fmt.Sprintf("rtsp://127.0.0.1:1/c%d", i)}
	}
	return out
}

func (f *testFleet) add(id string) *Member {
	r := &recorder{}
	m := New(Options{Config: config.Fleet{Etcd: f.etcd.Endpoints(), Prefix: "/t", LeaseTTL: config.Duration(f.ttl), ID: id},
		Seed: f.seed, Apply: r.apply, Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	m.Start()
	f.t.Cleanup(m.Close)
	f.members = append(f.members, m)
	f.recs = append(f.recs, r)
	return m
}

// owners counts, per camera, the members that relay it.
func (f *testFleet) owners(skip ...int) map[string][]int {
	out := map[string][]int{}
	for i, r := range f.recs {
		if slices.Contains(skip, i) {
			continue
		}
		for n := range r.relaying() {
			out[n] = append(out[n], i)
		}
	}
	return out
}

func (f *testFleet) waitAll(d time.Duration, n int, skip ...int) time.Duration {
	f.t.Helper()
	t0 := time.Now()
	for {
		o := f.owners(skip...)
		dup := false
		for c, ms := range o {
			if len(ms) > 1 {
				f.t.Fatalf("camera %s relayed by members %v at once", c, ms)
				dup = true
			}
		}
		if len(o) == n && !dup {
			return time.Since(t0)
		}
		if time.Since(t0) > d {
			f.t.Fatalf("after %v: %d of %d cameras relayed", d, len(o), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestFleetOwnershipJoinDeathAndEdits(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd")
	}
	f := &testFleet{t: t, etcd: etcdtest.Start(t, 1), seed: cams(30), ttl: 2 * time.Second}
	for i := range 3 {
		f.add(fmt.Sprintf("m%d", i))
	}
	f.waitAll(10*time.Second, 30)
	for i, r := range f.recs {
		if n := len(r.relaying()); n < 4 || n > 18 {
			t.Errorf("member %d relays %d of 30", i, n)
		}
	}
	// A fourth member: about a quarter move, never two owners at once.
	before := f.owners()
	f.add("m3")
	deadline := time.Now().Add(10 * time.Second)
	for len(f.recs[3].relaying()) == 0 || len(f.owners()) < 30 {
		for c, ms := range f.owners() {
			if len(ms) > 1 {
				t.Fatalf("camera %s relayed by %v", c, ms)
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the fourth member got no cameras")
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.waitAll(5*time.Second, 30)
	moved := 0
	for c, ms := range f.owners() {
		if before[c][0] != ms[0] {
			moved++
			if ms[0] != 3 {
				t.Errorf("camera %s moved between old members", c)
			}
		}
	}
	t.Logf("a fourth member took %d of 30 cameras", moved)
	if moved < 3 || moved > 14 {
		t.Errorf("moved %d of 30; want about a quarter", moved)
	}

	// Edits through different members agree; the same name at once: one wins.
	ctx := context.Background()
	if err := f.members[0].AddCamera(ctx, config.Camera{Name: "new1", Source: "rtsp://127.0.0.1:1/n"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f.members[i+1].AddCamera(ctx, config.Camera{Name: "race", Source: fmt.Sprintf("rtsp://127.0.0.1:1/r%d", i)})
		}()
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) || !(errors.Is(errs[0], ErrExists) || errors.Is(errs[1], ErrExists)) {
		t.Errorf("same camera added on two members at once: %v, %v; want one success and one ErrExists", errs[0], errs[1])
	}
	if err := f.members[2].DeleteCamera(ctx, "cam000"); err != nil {
		t.Fatal(err)
	}
	if err := f.members[2].DeleteCamera(ctx, "cam000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	t0 := time.Now()
	for {
		agree := true
		for _, m := range f.members {
			names := []string{}
			for _, c := range m.Cameras() {
				names = append(names, c.Name)
			}
			if len(names) != 31 || !slices.Contains(names, "new1") || !slices.Contains(names, "race") || slices.Contains(names, "cam000") {
				agree = false
			}
		}
		if agree {
			break
		}
		if time.Since(t0) > time.Second {
			t.Fatal("members do not agree on the camera list within 1 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.waitAll(5*time.Second, 31)

	// A member dies: its cameras are back on the others within TTL + a bit.
	dead := f.members[1]
	lost := len(f.recs[1].relaying())
	dead.crash = true
	dead.Close()
	took := f.waitAll(f.ttl+3*time.Second, 31, 1)
	t.Logf("a dead member's %d cameras were claimed by the others %v after its death (TTL %v)", lost, took.Round(time.Millisecond), f.ttl)
	v := f.members[0].View()
	if len(v.Members) != 3 || v.State != StateMember || len(v.Moves) == 0 {
		t.Errorf("view after a death: %+v", v)
	}
}

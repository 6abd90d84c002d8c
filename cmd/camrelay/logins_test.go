package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camrelay/camrelay/internal/testenv/loopback"

	"github.com/camrelay/camrelay/relay/auth"
)

// rssMiB is the resident memory of process pid.
func rssMiB(t *testing.T, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading the process's memory: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// Issue 15, security 2: bad Basic logins cannot exhaust camrelay's memory
// (each argon2 check holds 64 MiB; before, every request checked every
// user, all at once): 200 clients in parallel for 30 s (5 s with -short)
// leave the process's RSS within 100 MiB of where it started, are answered
// 401, 429 or 503, and /healthz answers throughout.
func TestBadLoginsCannotExhaustMemory(t *testing.T) {
	bin := buildCamrelay(t)
	var users strings.Builder
	for _, u := range []string{"admin", "ops", "viewer"} {
		h, err := auth.HashArgon2id(u + "-pw")
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&users, "    - {user: %s, pass: '%s'}\n", u, h)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", loopback.TCPPort(t))
	cfg := filepath.Join(t.TempDir(), "camrelay.yml")
	os.WriteFile(cfg, []byte("output: rtsp://127.0.0.1:1/{path}\napi:\n  listen: "+addr+"\n  users:\n"+users.String()+"cameras: []\n"), 0o600)
	cmd := exec.Command(bin, "run", "-c", cfg)
	var logs loopback.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("camrelay log:\n%s", tail(logs.String(), 3000))
		}
	}()
	base := "http://" + addr
	if !waitWithin(10*time.Second, func() bool {
		res, err := http.Get(base + "/healthz")
		if err == nil {
			res.Body.Close()
		}
		return err == nil && res.StatusCode == 200
	}) {
		t.Fatal("camrelay's API did not answer within 10 s")
	}
	before := rssMiB(t, cmd.Process.Pid)

	d := 30 * time.Second
	if testing.Short() {
		d = 5 * time.Second
	}
	deadline := time.Now().Add(d)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 200}}
	defer client.CloseIdleConnections()
	var codes sync.Map
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				req, _ := http.NewRequest("GET", base+"/v1/cameras", nil)
				req.SetBasicAuth([]string{"admin", "nobody", "ops"}[i%3], "wrong")
				res, err := client.Do(req)
				if err != nil {
					continue
				}
				res.Body.Close()
				n, _ := codes.LoadOrStore(res.StatusCode, new(atomic.Int64))
				n.(*atomic.Int64).Add(1)
			}
		})
	}
	peak, slowHealth := before, 0
	for time.Now().Before(deadline) {
		start := time.Now()
		res, err := http.Get(base + "/healthz")
		if err != nil || res.StatusCode != 200 || time.Since(start) > 2*time.Second {
			slowHealth++
		}
		if err == nil {
			res.Body.Close()
		}
		peak = max(peak, rssMiB(t, cmd.Process.Pid))
		time.Sleep(200 * time.Millisecond) // the sampling period, not synchronization
	}
	wg.Wait()
	got := map[int]int64{}
	codes.Range(func(k, v any) bool { got[k.(int)] = v.(*atomic.Int64).Load(); return true })
	t.Logf("camrelay RSS %.0f MiB before, %.0f MiB peak under %v of bad logins; answers %v", before, peak, d, got)
	if peak-before > 100 {
		t.Errorf("RSS grew by %.0f MiB under bad logins, want under 100", peak-before)
	}
	if slowHealth > 0 {
		t.Errorf("/healthz failed or took over 2 s %d times", slowHealth)
	}
	if got[http.StatusOK] != 0 {
		t.Errorf("%d bad logins were let in", got[http.StatusOK])
	}
	if got[http.StatusTooManyRequests] == 0 {
		t.Error("no 429: the rate limit did not apply to the API's logins")
	}
}

// Package etcdtest runs a real etcd cluster on 127.0.0.1 for tests: Debian's
// etcd-server package (/usr/bin/etcd, installed by `make deps`), one process
// per member, each on free loopback ports with its own data folder. Members
// can be killed, stopped and started again, to test what the fleet does
// when etcd fails. It is test support: the camrelay binary does not import
// it.
package etcdtest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/camrelay/camrelay/internal/testenv/loopback"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Binary is the etcd server the tests run.
var Binary = "/usr/bin/etcd"

// Node is one member of the cluster.
type Node struct {
	Name       string
	ClientURL  string
	PeerURL    string
	dir        string
	args       []string
	mu         sync.Mutex
	cmd        *exec.Cmd
	done       chan struct{}
	log        *lockedBuffer
	clientPort int
}

// Cluster is a running etcd cluster.
type Cluster struct {
	t     testing.TB
	Nodes []*Node
}

// Skip skips t when etcd is not installed.
func Skip(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		t.Skipf("etcd is not installed at %s: install Debian's etcd-server package (make deps does)", Binary)
	}
}

// Start runs an n-member cluster and waits until it has a leader.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	Skip(t)
	c := &Cluster{t: t}
	var initial []string
	for i := range n {
		nd := &Node{Name: fmt.Sprintf("etcd%d", i), dir: filepath.Join(t.TempDir(), "data"), log: &lockedBuffer{}}
		nd.clientPort = loopback.TCPPort(t)
		nd.ClientURL = fmt.Sprintf("http://127.0.0.1:%d", nd.clientPort)
		nd.PeerURL = fmt.Sprintf("http://127.0.0.1:%d", loopback.TCPPort(t))
		initial = append(initial, nd.Name+"="+nd.PeerURL)
		c.Nodes = append(c.Nodes, nd)
	}
	for _, nd := range c.Nodes {
		nd.args = []string{"--name", nd.Name, "--data-dir", nd.dir,
			"--listen-client-urls", nd.ClientURL, "--advertise-client-urls", nd.ClientURL,
			"--listen-peer-urls", nd.PeerURL, "--initial-advertise-peer-urls", nd.PeerURL,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "camrelay-test",
			// Fast elections, so that losing a member costs well under a
			// lease TTL; etcd's minimum lease TTL follows (1.5 x election).
			"--heartbeat-interval", "50", "--election-timeout", "500",
			"--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn"}
		if err := nd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, nd := range c.Nodes {
			nd.Kill()
		}
		if t.Failed() {
			for _, nd := range c.Nodes {
				t.Logf("%s log (tail):\n%s", nd.Name, tail(nd.log.String(), 2000))
			}
		}
	})
	c.WaitHealthy(t, 20*time.Second)
	return c
}

// Endpoints are the client URLs.
func (c *Cluster) Endpoints() []string {
	out := make([]string, len(c.Nodes))
	for i, nd := range c.Nodes {
		out[i] = nd.ClientURL
	}
	return out
}

// WaitHealthy waits until every running member reports health.
func (c *Cluster) WaitHealthy(t testing.TB, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for _, nd := range c.Nodes {
		if !nd.Running() {
			continue
		}
		for !nd.healthy() {
			if time.Now().After(deadline) {
				t.Fatalf("etcd %s not healthy within %v:\n%s", nd.Name, d, tail(nd.log.String(), 2000))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func (nd *Node) healthy() bool {
	cl := http.Client{Timeout: time.Second}
	res, err := cl.Get(nd.ClientURL + "/health")
	if err != nil {
		return false
	}
	defer res.Body.Close()
	var b [64]byte
	n, _ := res.Body.Read(b[:])
	return res.StatusCode == 200 && strings.Contains(string(b[:n]), `"true"`)
}

// Start starts (or restarts, on its data) the member.
func (nd *Node) Start() error {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd != nil {
		return fmt.Errorf("etcd %s is running", nd.Name)
	}
	cmd := exec.Command(Binary, nd.args...)
	cmd.Stdout, cmd.Stderr = nd.log, nd.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("etcd %s: %w", nd.Name, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	nd.cmd, nd.done = cmd, done
	return nil
}

// Kill ends the member at once (SIGKILL).
func (nd *Node) Kill() {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd == nil {
		return
	}
	syscall.Kill(-nd.cmd.Process.Pid, syscall.SIGKILL)
	<-nd.done
	nd.cmd = nil
}

// Running reports whether the member's process runs.
func (nd *Node) Running() bool {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.cmd != nil
}

// Metric is the sum of a Prometheus counter's series on the member's
// /metrics, e.g. etcd_network_client_grpc_received_bytes_total.
func (nd *Node) Metric(name string) float64 {
	cl := http.Client{Timeout: 2 * time.Second}
	res, err := cl.Get(nd.ClientURL + "/metrics")
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := res.Body.Read(buf)
		b.WriteString(string(buf[:n]))
		if err != nil {
			break
		}
	}
	sum := 0.0
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(l, name+" ") || strings.HasPrefix(l, name+"{") {
			var v float64
			if i := strings.LastIndexByte(l, ' '); i > 0 {
				fmt.Sscan(l[i+1:], &v)
			}
			sum += v
		}
	}
	return sum
}

// Client connects to the cluster as root (user, pass may be empty).
func (c *Cluster) Client(t testing.TB, user, pass string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second,
		Username: user, Password: pass, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// EnableAuth creates the root user with pass and turns authentication on.
func (c *Cluster) EnableAuth(t testing.TB, pass string) {
	t.Helper()
	cli := c.Client(t, "", "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.UserAdd(ctx, "root", pass); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

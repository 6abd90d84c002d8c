// Package mtxtest starts a real MediaMTX (v1.15.3) for tests and the
// benchmark harness: the server camrelay publishes into in production, not a
// fake. It is test support (internal/testenv): the camrelay binary does not
// import it. The demo (scripts/demo.sh) runs the same cached binary with its
// own configuration, not through this package.
//
// Each Server runs MediaMTX as its own process (and process group) with a
// generated configuration: RTSP over TCP and UDP on free 127.0.0.1 ports,
// internal users that refuse anonymous publishing, and every other server
// (RTMP, HLS, WebRTC, SRT, playback, metrics, pprof) off, so that nothing but
// loopback traffic is ever produced. The control API is on only when asked.
// Stop, or the test's cleanup, ends the process; the process is also killed
// if the Go process that started it dies first.
//
// The binary is built by scripts/build-mediamtx.sh (`make mediamtx`); Binary
// says where it is looked for.
package mtxtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
)

// Version is the MediaMTX release this package drives.
const Version = "v1.15.3"

// Default credentials of the publishing user that Config's zero value
// creates.
const (
	RelayUser = "relay"
	RelayPass = "relaypass"
)

const (
	startTimeout = 20 * time.Second
	stopTimeout  = 5 * time.Second
	// startAttempts bounds retries when MediaMTX cannot bind a port that
	// another test took between our probe and its listen.
	startAttempts = 3
	// maxLog caps the kept output; beyond it the oldest half is dropped.
	maxLog = 8 << 20
)

// Binary finds the MediaMTX binary: $CAMRELAY_MEDIAMTX when set; otherwise
// mediamtx-v1.15.3 in $CAMRELAY_CACHE, else $XDG_CACHE_HOME/camrelay, else
// $HOME/.cache/camrelay (where scripts/build-mediamtx.sh caches it).
func Binary() (string, error) {
	if p := os.Getenv("CAMRELAY_MEDIAMTX"); p != "" {
		if err := checkExecutable(p); err != nil {
			return "", fmt.Errorf("mtxtest: $CAMRELAY_MEDIAMTX: %w", err)
		}
		return p, nil
	}
	dir := os.Getenv("CAMRELAY_CACHE")
	if dir == "" {
		if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
			dir = filepath.Join(x, "camrelay")
		} else if h, err := os.UserHomeDir(); err == nil {
			dir = filepath.Join(h, ".cache", "camrelay")
		} else {
			return "", fmt.Errorf("mtxtest: MediaMTX %s: no $CAMRELAY_CACHE, $XDG_CACHE_HOME or home folder to look in; run `make mediamtx` (scripts/build-mediamtx.sh) or set $CAMRELAY_MEDIAMTX", Version)
		}
	}
	p := filepath.Join(dir, "mediamtx-"+Version)
	if err := checkExecutable(p); err != nil {
		return "", fmt.Errorf("mtxtest: MediaMTX %s not found: %w; run `make mediamtx` (scripts/build-mediamtx.sh) to build it, or set $CAMRELAY_MEDIAMTX", Version, err)
	}
	return p, nil
}

func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", p)
	}
	return nil
}

// User is one entry of MediaMTX's authInternalUsers.
type User struct {
	User string // "any" matches every request, with or without credentials
	Pass string // must be empty for "any"
	// IPs limits the user to these addresses or CIDR ranges; nil allows all.
	IPs         []string
	Permissions []Permission
}

// Permission allows one action on a path.
type Permission struct {
	// Action is publish, read, playback, api, metrics or pprof.
	Action string
	// Path is a path name, a regular expression starting with "~", or empty
	// for every path (and for api, metrics, pprof).
	Path string
}

// DefaultUsers is what a nil Config.Users stands for: RelayUser/RelayPass may
// publish from 127.0.0.1 and ::1, anyone may read and play back, and the API
// and metrics answer anonymous requests from loopback. Anonymous publishing is
// refused.
func DefaultUsers() []User {
	return []User{
		{User: RelayUser, Pass: RelayPass, IPs: []string{"127.0.0.1", "::1"},
			Permissions: []Permission{{Action: "publish"}}},
		{User: "any", Permissions: []Permission{{Action: "read"}, {Action: "playback"}}},
		{User: "any", IPs: []string{"127.0.0.1", "::1"},
			Permissions: []Permission{{Action: "api"}, {Action: "metrics"}}},
	}
}

// Config says how to run MediaMTX. The zero value is a working server.
type Config struct {
	// Users are the internal users; nil means DefaultUsers. They are written
	// whatever AuthMethod is (MediaMTX ignores them for http and jwt).
	Users []User
	// AuthMethod is "internal" (when empty), "http" or "jwt".
	AuthMethod string
	// AuthHTTPAddress, AuthJWTJWKS and AuthJWTClaimKey are written when set
	// (MediaMTX's defaults otherwise: none, none, mediamtx_permissions).
	AuthHTTPAddress string
	AuthJWTJWKS     string
	AuthJWTClaimKey string
	// API turns on the control API on a free 127.0.0.1 port (off by default).
	API bool
	// ReadTimeout is MediaMTX's readTimeout; zero means 10s.
	ReadTimeout time.Duration
	// Paths is the body of the `paths:` section, written indented under it;
	// empty means "all_others:" (any path may be published, with the path
	// defaults).
	Paths string
	// Extra is raw YAML appended to the generated configuration. A top-level
	// key it sets replaces the generated one (e.g. `hls: yes`, `paths:`),
	// except the ones mtxtest owns (rtspAddress, rtpAddress, rtcpAddress,
	// api, apiAddress, logDestinations): setting those is an error.
	Extra string
	// LogLevel is error, warn, info (when empty) or debug.
	LogLevel string
	// Output, when set, also receives MediaMTX's output as it comes (Log
	// keeps it in any case).
	Output io.Writer
}

// WebRTCLoopback is Config.Extra for MediaMTX's WebRTC server (WHEP) on
// loopback only: HTTP on httpPort, ICE over UDP on udpPort, 127.0.0.1 as the
// only host candidate, no STUN servers. Its mDNS cannot be switched off:
// callers run it in a loopback-only network namespace, so that nothing
// leaves the machine.
func WebRTCLoopback(httpPort, udpPort int) string {
	return fmt.Sprintf(`webrtc: yes
webrtcAddress: 127.0.0.1:%d
webrtcLocalUDPAddress: 127.0.0.1:%d
webrtcLocalTCPAddress: ""
webrtcIPsFromInterfaces: no
webrtcAdditionalHosts: [127.0.0.1]
webrtcICEServers2: []
`, httpPort, udpPort)
}

// ownedKeys are the generated keys that Extra cannot replace: the Server's
// addresses and its view of the log depend on them.
var ownedKeys = map[string]bool{
	"rtspAddress": true, "rtpAddress": true, "rtcpAddress": true,
	"api": true, "apiAddress": true, "logDestinations": true,
}

// ports are the listeners a Server keeps across restarts.
type ports struct {
	rtsp, rtp, api int // rtcp is rtp+1; api is 0 when off
}

// Server is a running (or stopped) MediaMTX. Its methods are safe for
// concurrent use.
type Server struct {
	bin string
	cfg Config
	log *logBuffer

	mu    sync.Mutex
	ports ports
	dir   string // holds mediamtx.yml; removed by Stop
	proc  *process
}

// process is one run of the binary.
type process struct {
	cmd  *exec.Cmd
	pid  int
	done chan struct{} // closed once the process has exited and is reaped
	err  error         // exit status, valid after done
}

// Start starts MediaMTX for a test and stops it in t.Cleanup. It fails the
// test (it does not skip it) when the binary is missing: a missing MediaMTX
// is a broken setup, not an optional feature.
func Start(t testing.TB, c Config) *Server {
	t.Helper()
	s, err := StartProcess(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// StartProcess starts MediaMTX and waits until it answers RTSP OPTIONS (and
// API requests when Config.API is on), for at most 20 s or until ctx is
// done. ctx bounds only the start: the server runs until Stop, which callers
// must call. If MediaMTX cannot bind a port that another process took after
// it was picked, StartProcess tries again on new ports (3 attempts).
func StartProcess(ctx context.Context, c Config) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	if _, err := buildConfig(c, ports{rtsp: 1, rtp: 2, api: 3}); err != nil {
		return nil, err // bad Config: fail before picking ports
	}
	s := &Server{bin: bin, cfg: c, log: &logBuffer{out: c.Output}}
	var lastErr error
	for attempt := 0; attempt < startAttempts; attempt++ {
		p, err := pickPorts(c.API)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		s.ports = p
		err = s.startLocked(ctx)
		s.mu.Unlock()
		if err == nil {
			return s, nil
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) || ctx.Err() != nil {
			break
		}
		s.log.WriteString("--- mtxtest: a port was taken, retrying on new ports ---\n")
	}
	s.Stop()
	return nil, lastErr
}

var errPortTaken = errors.New("a port is already in use")

// RTSPAddr is the RTSP listener, 127.0.0.1:port.
func (s *Server) RTSPAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return hostPort(s.ports.rtsp)
}

// RTSPURL is rtsp://[user:pass@]127.0.0.1:port/path; credentials are
// included when user is not empty.
func (s *Server) RTSPURL(path, user, pass string) string {
	u := url.URL{Scheme: "rtsp", Host: s.RTSPAddr(), Path: "/" + strings.TrimPrefix(path, "/")}
	if user != "" {
		u.User = url.UserPassword(user, pass)
	}
	return u.String()
}

// UDPPorts are the server's RTP and RTCP ports (RTP even, RTCP = RTP+1).
func (s *Server) UDPPorts() (rtp, rtcp int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ports.rtp, s.ports.rtp + 1
}

// APIURL is the control API's base URL, http://127.0.0.1:port, or "" when
// the API is off.
func (s *Server) APIURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ports.api == 0 {
		return ""
	}
	return "http://" + hostPort(s.ports.api)
}

// Dir is the folder holding the generated mediamtx.yml (and anything
// MediaMTX writes relative to it, such as recordings); "" after Stop.
func (s *Server) Dir() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dir
}

// PID is the process id of the current (or last) MediaMTX process.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.pid
}

// Log is MediaMTX's output so far, across restarts (only the last 4 to 8 MB
// when it gets longer).
func (s *Server) Log() string { return s.log.String() }

// Stop ends MediaMTX: SIGTERM to its process group, then SIGKILL after 5 s,
// and waits until it has exited; it then removes the configuration folder.
// Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
	if s.dir != "" {
		os.RemoveAll(s.dir)
		s.dir = ""
	}
}

// Restart stops MediaMTX and starts it again on the same ports, with the same
// configuration, and waits until it is ready as StartProcess does. If another
// process took one of the ports meanwhile, it retries until the port is free,
// for up to 20 s. After Stop, Restart starts the server again.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
	s.log.WriteString("--- mtxtest: restart ---\n")
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		err := s.startLocked(ctx)
		if err == nil || !errors.Is(err, errPortTaken) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Exited reports whether the process has ended (crashed, or stopped).
func (s *Server) Exited() bool {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p == nil {
		return true
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// WaitPathReady waits until path has a ready stream (a publisher has started
// recording, or a source is up), or ctx is done. With the API on, it polls
// GET /v3/paths/get/{path} until "ready" is true. With the API off, it sends
// an anonymous RTSP DESCRIBE (gortsplib v4 client) until the answer is 200
// OK, which needs anonymous read permission (DefaultUsers gives it).
func (s *Server) WaitPathReady(ctx context.Context, path string) error {
	path = strings.TrimPrefix(path, "/")
	check := s.describeReady
	if api := s.APIURL(); api != "" {
		check = func(ctx context.Context, path string) error { return apiPathReady(ctx, api, path) }
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := check(ctx, path)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("mtxtest: path %q not ready: %w (last check: %v)", path, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// httpClient keeps no idle connections: they would outlive the server they
// point to, and show up as leaked goroutines in tests that check for them.
var httpClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// apiGet fetches an API URL within timeout and returns status and body.
func apiGet(ctx context.Context, url string, timeout time.Duration) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	res, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, body, nil
}

func apiPathReady(ctx context.Context, api, path string) error {
	status, body, err := apiGet(ctx, api+"/v3/paths/get/"+path, 2*time.Second)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("api: %d: %s", status, bytes.TrimSpace(body))
	}
	var st struct {
		Ready bool `json:"ready"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return fmt.Errorf("api: %w", err)
	}
	if !st.Ready {
		return errors.New("api: ready is false")
	}
	return nil
}

func (s *Server) describeReady(ctx context.Context, path string) error {
	u, err := base.ParseURL(s.RTSPURL(path, "", ""))
	if err != nil {
		return err
	}
	timeout := 2 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(min(timeout, time.Until(dl)), 10*time.Millisecond)
	}
	c := gortsplib.Client{
		Scheme:       u.Scheme,
		Host:         u.Host,
		ReadTimeout:  timeout,
		WriteTimeout: timeout,
	}
	if err := c.Start2(); err != nil {
		return err
	}
	defer c.Close()
	_, _, err = c.Describe(u)
	return err
}

// startLocked writes the configuration, starts the binary and waits until it
// is ready. On failure the process is stopped and the error carries the tail
// of the log.
func (s *Server) startLocked(ctx context.Context) error {
	conf, err := buildConfig(s.cfg, s.ports)
	if err != nil {
		return err
	}
	if s.dir == "" {
		if s.dir, err = os.MkdirTemp("", "mtxtest-"); err != nil {
			return fmt.Errorf("mtxtest: %w", err)
		}
	}
	confPath := filepath.Join(s.dir, "mediamtx.yml")
	if err := os.WriteFile(confPath, conf, 0o600); err != nil {
		return fmt.Errorf("mtxtest: %w", err)
	}
	logStart := s.log.Len()
	p, err := startBinary(s.bin, confPath, s.dir, s.log)
	if err != nil {
		return fmt.Errorf("mtxtest: start %s: %w", s.bin, err)
	}
	s.proc = p

	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := s.waitReady(ctx, p); err != nil {
		s.stopLocked()
		out := s.log.Since(logStart)
		if portTaken.MatchString(out) {
			err = fmt.Errorf("%w: %w", errPortTaken, err)
		}
		return fmt.Errorf("mtxtest: MediaMTX (rtsp %s) not ready: %w\n--- MediaMTX log (tail) ---\n%s", hostPort(s.ports.rtsp), err, tail(out, 40))
	}
	return nil
}

var portTaken = regexp.MustCompile(`(?i)address already in use`)

func (s *Server) waitReady(ctx context.Context, p *process) error {
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	rtspOK := false
	for {
		var err error
		if !rtspOK {
			err = rtspAnswers(ctx, hostPort(s.ports.rtsp))
			rtspOK = err == nil
		}
		if rtspOK && s.ports.api != 0 {
			err = apiAnswers(ctx, "http://"+hostPort(s.ports.api))
		}
		if rtspOK && err == nil {
			select {
			case <-p.done: // what answered was not ours
			default:
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("process exited: %v", p.err)
		case <-ctx.Done():
			return fmt.Errorf("%w (last check: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// rtspAnswers sends OPTIONS and expects an RTSP response: a TCP connection
// alone could be accepted by another program that took the port while
// MediaMTX was down (during Restart).
func rtspAnswers(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if _, err := fmt.Fprintf(conn, "OPTIONS rtsp://%s/ RTSP/1.0\r\nCSeq: 1\r\n\r\n", addr); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("rtsp OPTIONS: %w", err)
	}
	if !strings.HasPrefix(line, "RTSP/1.0 ") {
		return fmt.Errorf("rtsp OPTIONS: not an RTSP answer: %q", line)
	}
	return nil
}

// apiAnswers checks that MediaMTX's API answers: 200 with its configuration,
// or 401 when the configured users do not allow anonymous API access.
func apiAnswers(ctx context.Context, api string) error {
	status, body, err := apiGet(ctx, api+"/v3/config/global/get", time.Second)
	if err != nil {
		return err
	}
	switch {
	case status == http.StatusUnauthorized:
		return nil
	case status == http.StatusOK && bytes.Contains(body, []byte(`"rtspAddress"`)):
		return nil
	}
	return fmt.Errorf("api: status %d", status)
}

// stopLocked ends the current process, if any, and waits for it.
func (s *Server) stopLocked() {
	p := s.proc
	if p == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	// The group holds MediaMTX and whatever it runs (runOnReady...); the
	// group id is MediaMTX's pid, still ours until Wait reaps it.
	_ = syscall.Kill(-p.pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
		<-p.done
	}
}

// startBinary runs bin in its own process group, with MTX_* and RTSP_*
// variables removed from its environment (MediaMTX reads configuration from
// them). The process gets SIGKILL if the thread that started it ends, which
// covers this Go process dying without cleaning up (a test timeout panic):
// the starting goroutine stays locked to its thread until the process exits.
func startBinary(bin, confPath, dir string, out io.Writer) (*process, error) {
	cmd := exec.Command(bin, confPath)
	cmd.Dir = dir
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.Env = childEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// If a grandchild keeps the output pipe open, do not wait forever.
	cmd.WaitDelay = 2 * time.Second
	p := &process{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Never unlocked: the thread exits with this goroutine, after the
		// process has been reaped, so Pdeathsig cannot fire early.
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		p.pid = cmd.Process.Pid
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "MTX_") || strings.HasPrefix(kv, "RTSP_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// pickPorts finds free loopback ports: a TCP port for RTSP (and one for the
// API) and an even/odd consecutive UDP pair for RTP/RTCP, which MediaMTX
// requires (RTP even, RTCP = RTP+1). All are held until all are found, so
// that they differ, then released for MediaMTX to take.
func pickPorts(api bool) (ports, error) {
	var p ports
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	tcpPort := func() (int, error) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("mtxtest: pick a port: %w", err)
		}
		closers = append(closers, l)
		return l.Addr().(*net.TCPAddr).Port, nil
	}
	var err error
	if p.rtsp, err = tcpPort(); err != nil {
		return p, err
	}
	if api {
		if p.api, err = tcpPort(); err != nil {
			return p, err
		}
	}
	for range 100 {
		a, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return p, fmt.Errorf("mtxtest: pick a UDP port: %w", err)
		}
		port := a.LocalAddr().(*net.UDPAddr).Port
		other := port + 1
		if port%2 == 1 {
			other = port - 1
		}
		if other < 1024 || other > 65535 {
			a.Close()
			continue
		}
		b, err := net.ListenPacket("udp", hostPort(other))
		if err != nil {
			a.Close()
			continue
		}
		closers = append(closers, a, b)
		p.rtp = min(port, other)
		return p, nil
	}
	return p, errors.New("mtxtest: found no free even/odd UDP port pair on 127.0.0.1")
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// buildConfig renders mediamtx.yml. Values are written as JSON, which is
// YAML too, so that no user or path string needs YAML quoting rules.
func buildConfig(c Config, p ports) ([]byte, error) {
	extraKeys := topLevelKeys(c.Extra)
	for k := range extraKeys {
		if ownedKeys[k] {
			return nil, fmt.Errorf("mtxtest: Config.Extra sets %q, which mtxtest owns", k)
		}
	}
	logLevel := c.LogLevel
	if logLevel == "" {
		logLevel = "info"
	}
	authMethod := c.AuthMethod
	if authMethod == "" {
		authMethod = "internal"
	}
	readTimeout := c.ReadTimeout
	if readTimeout <= 0 {
		readTimeout = 10 * time.Second
	}
	users := c.Users
	if users == nil {
		users = DefaultUsers()
	}
	type perm struct {
		Action string `json:"action"`
		Path   string `json:"path"`
	}
	type user struct {
		User        string   `json:"user"`
		Pass        string   `json:"pass"`
		IPs         []string `json:"ips"`
		Permissions []perm   `json:"permissions"`
	}
	jusers := make([]user, 0, len(users))
	for _, u := range users {
		ju := user{User: u.User, Pass: u.Pass, IPs: append([]string{}, u.IPs...), Permissions: []perm{}}
		for _, pm := range u.Permissions {
			ju.Permissions = append(ju.Permissions, perm(pm))
		}
		jusers = append(jusers, ju)
	}
	apiPort := p.api
	if apiPort == 0 {
		apiPort = 9997
	}
	// The address of a server that is off is not bound; it is set to
	// loopback anyway so that turning the server on through Extra stays off
	// the network.
	kv := []struct {
		k string
		v any
	}{
		{"logLevel", logLevel},
		{"logDestinations", []string{"stdout"}},
		{"readTimeout", readTimeout.String()},
		{"authMethod", authMethod},
		{"authInternalUsers", jusers},
		{"authHTTPAddress", c.AuthHTTPAddress},
		{"authJWTJWKS", c.AuthJWTJWKS},
		{"authJWTClaimKey", c.AuthJWTClaimKey},
		{"api", p.api != 0},
		{"apiAddress", hostPort(apiPort)},
		{"metrics", false},
		{"metricsAddress", "127.0.0.1:9998"},
		{"pprof", false},
		{"pprofAddress", "127.0.0.1:9999"},
		{"playback", false},
		{"playbackAddress", "127.0.0.1:9996"},
		{"rtsp", true},
		{"rtspTransports", []string{"tcp", "udp"}},
		{"rtspEncryption", "no"},
		{"rtspAddress", hostPort(p.rtsp)},
		{"rtspsAddress", "127.0.0.1:8322"},
		{"rtpAddress", hostPort(p.rtp)},
		{"rtcpAddress", hostPort(p.rtp + 1)},
		{"srtpAddress", "127.0.0.1:8004"},
		{"srtcpAddress", "127.0.0.1:8005"},
		{"rtmp", false},
		{"rtmpAddress", "127.0.0.1:1935"},
		{"rtmpsAddress", "127.0.0.1:1936"},
		{"hls", false},
		{"hlsAddress", "127.0.0.1:8888"},
		{"webrtc", false},
		{"webrtcAddress", "127.0.0.1:8889"},
		{"webrtcLocalUDPAddress", "127.0.0.1:8189"},
		{"srt", false},
		{"srtAddress", "127.0.0.1:8890"},
	}
	var b bytes.Buffer
	b.WriteString("# generated by camrelay internal/testenv/mtxtest\n")
	for _, e := range kv {
		if extraKeys[e.k] {
			continue
		}
		switch e.k {
		case "authHTTPAddress", "authJWTJWKS", "authJWTClaimKey":
			if e.v == "" {
				continue
			}
		}
		j, err := json.Marshal(e.v)
		if err != nil {
			return nil, fmt.Errorf("mtxtest: config %s: %w", e.k, err)
		}
		fmt.Fprintf(&b, "%s: %s\n", e.k, j)
	}
	if !extraKeys["paths"] {
		paths := c.Paths
		if strings.TrimSpace(paths) == "" {
			paths = "all_others:"
		}
		b.WriteString("paths:\n")
		for _, line := range strings.Split(strings.TrimRight(paths, "\n"), "\n") {
			if strings.TrimSpace(line) == "" {
				b.WriteString("\n")
				continue
			}
			b.WriteString("  " + line + "\n")
		}
	}
	if c.Extra != "" {
		b.WriteString("# Config.Extra\n")
		b.WriteString(c.Extra)
		if !strings.HasSuffix(c.Extra, "\n") {
			b.WriteString("\n")
		}
	}
	return b.Bytes(), nil
}

var topKey = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)\s*:`)

// topLevelKeys finds the keys of a block-style YAML mapping: lines that
// start in the first column. That is all MediaMTX configurations use.
func topLevelKeys(y string) map[string]bool {
	keys := map[string]bool{}
	for _, line := range strings.Split(y, "\n") {
		if m := topKey.FindStringSubmatch(line); m != nil {
			keys[m[1]] = true
		}
	}
	return keys
}

func tail(s string, lines int) string {
	s = strings.TrimRight(s, "\n")
	i := len(s)
	for n := 0; n < lines && i > 0; n++ {
		i = strings.LastIndexByte(s[:i], '\n')
		if i < 0 {
			return s
		}
	}
	return s[i+1:]
}

// logBuffer keeps the process output, bounded, and copies it to out.
type logBuffer struct {
	mu      sync.Mutex
	buf     []byte
	dropped int // bytes dropped from the front, so that offsets stay valid
	out     io.Writer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if len(l.buf) > maxLog {
		n := len(l.buf) - maxLog/2
		l.buf = append(l.buf[:0], l.buf[n:]...)
		l.dropped += n
	}
	if l.out != nil {
		l.out.Write(p)
	}
	return len(p), nil
}

func (l *logBuffer) WriteString(s string) { l.Write([]byte(s)) }

// Len is the total number of bytes written so far.
func (l *logBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dropped + len(l.buf)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.buf)
}

// Since is the output written after offset off (as Len returned it).
func (l *logBuffer) Since(off int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := max(off-l.dropped, 0)
	return string(l.buf[i:])
}

package mtxtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/pion/rtp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// tinyH264 is a one-track H.264 description with in-SDP parameter sets.
func tinyH264() *description.Session {
	return &description.Session{Medias: []*description.Media{{
		Type: description.MediaTypeVideo,
		Formats: []format.Format{&format.H264{
			PayloadTyp: 96,
			SPS: []byte{
				0x67, 0x42, 0xc0, 0x28, 0xd9, 0x00, 0x78, 0x02,
				0x27, 0xe5, 0x84, 0x00, 0x00, 0x03, 0x00, 0x04,
				0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc9,
				0x20,
			},
			PPS:               []byte{0x68, 0xce, 0x3c, 0x80},
			PacketizationMode: 1,
		}},
	}}}
}

// publish starts recording tinyH264 at url and writes one IDR packet.
func publish(t *testing.T, url string, tr gortsplib.Transport) (*gortsplib.Client, error) {
	t.Helper()
	desc := tinyH264()
	c := &gortsplib.Client{Transport: &tr, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
	if err := c.StartRecording(url, desc); err != nil {
		return nil, err
	}
	err := c.WritePacketRTP(desc.Medias[0], &rtp.Packet{
		Header:  rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 1, Timestamp: 1, SSRC: 1, Marker: true},
		Payload: []byte{0x65, 0x88, 0x84, 0x00, 0x33, 0xff},
	})
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func logOnFailure(t *testing.T, s *Server) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("MediaMTX log:\n%s", s.Log())
		}
	})
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestOptions(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{})
	logOnFailure(t, s)

	host, port, err := net.SplitHostPort(s.RTSPAddr())
	if err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("RTSPAddr = %q", s.RTSPAddr())
	}
	if s.APIURL() != "" {
		t.Errorf("APIURL = %q with the API off", s.APIURL())
	}
	if got, want := s.RTSPURL("cam1", "", ""), "rtsp://"+s.RTSPAddr()+"/cam1"; got != want {
		t.Errorf("RTSPURL = %q, want %q", got, want)
	}
	if got, want := s.RTSPURL("/cam1", "u", "p@ss"), "rtsp://u:p%40ss@"+s.RTSPAddr()+"/cam1"; got != want {
		t.Errorf("RTSPURL = %q, want %q", got, want)
	}

	u, err := base.ParseURL(s.RTSPURL("cam1", "", ""))
	if err != nil {
		t.Fatal(err)
	}
	c := gortsplib.Client{Scheme: u.Scheme, Host: u.Host}
	if err := c.Start2(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Options(u)
	if err != nil {
		t.Fatalf("OPTIONS: %v", err)
	}
	if res.StatusCode != base.StatusOK {
		t.Fatalf("OPTIONS: %v", res.StatusCode)
	}
}

func TestAnonymousPublishRefused(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{})
	logOnFailure(t, s)

	for _, tc := range []struct{ name, user, pass string }{
		{"anonymous", "", ""},
		{"wrong password", RelayUser, "nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := publish(t, s.RTSPURL("cam1", tc.user, tc.pass), gortsplib.TransportTCP)
			if err == nil {
				c.Close()
				t.Fatal("publishing was accepted")
			}
			var bad liberrors.ErrClientBadStatusCode
			if !errors.As(err, &bad) || bad.Code != base.StatusUnauthorized {
				t.Fatalf("err = %v, want a 401", err)
			}
		})
	}
}

func TestRelayPublishes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		api  bool
		tr   gortsplib.Transport
	}{
		{"tcp describe", false, gortsplib.TransportTCP},
		{"udp api", true, gortsplib.TransportUDP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := Start(t, Config{API: tc.api})
			logOnFailure(t, s)
			if tc.api != (s.APIURL() != "") {
				t.Fatalf("APIURL = %q", s.APIURL())
			}
			if rtpPort, rtcpPort := s.UDPPorts(); rtpPort%2 != 0 || rtcpPort != rtpPort+1 {
				t.Fatalf("UDP ports %d/%d", rtpPort, rtcpPort)
			}

			// Not published yet: WaitPathReady keeps trying until ctx ends.
			if err := s.WaitPathReady(ctxTimeout(t, 300*time.Millisecond), "cam1"); err == nil {
				t.Fatal("WaitPathReady succeeded before anything was published")
			}

			c, err := publish(t, s.RTSPURL("cam1", RelayUser, RelayPass), tc.tr)
			if err != nil {
				t.Fatalf("publish as %s: %v", RelayUser, err)
			}
			defer c.Close()
			if err := s.WaitPathReady(ctxTimeout(t, 10*time.Second), "cam1"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRestartKeepsPorts(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{API: true})
	logOnFailure(t, s)
	rtspAddr, apiURL, pid := s.RTSPAddr(), s.APIURL(), s.PID()
	rtpPort, _ := s.UDPPorts()

	c, err := publish(t, s.RTSPURL("cam1", RelayUser, RelayPass), gortsplib.TransportTCP)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := s.WaitPathReady(ctxTimeout(t, 10*time.Second), "cam1"); err != nil {
		t.Fatal(err)
	}

	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if s.RTSPAddr() != rtspAddr || s.APIURL() != apiURL {
		t.Fatalf("after Restart: %s %s, before: %s %s", s.RTSPAddr(), s.APIURL(), rtspAddr, apiURL)
	}
	if p, _ := s.UDPPorts(); p != rtpPort {
		t.Fatalf("after Restart: RTP port %d, before %d", p, rtpPort)
	}
	if s.PID() == pid || processExists(pid) {
		t.Fatalf("old process %d still there (new %d)", pid, s.PID())
	}
	if !strings.Contains(s.Log(), "--- mtxtest: restart ---") {
		t.Error("Log lost what came before the restart")
	}

	// The old session died with the old process; a publisher can come back.
	waitErr := make(chan error, 1)
	go func() { waitErr <- c.Wait() }()
	select {
	case <-waitErr:
	case <-time.After(15 * time.Second):
		t.Fatal("publisher did not notice the restart")
	}
	c2, err := publish(t, s.RTSPURL("cam1", RelayUser, RelayPass), gortsplib.TransportTCP)
	if err != nil {
		t.Fatalf("publish after Restart: %v", err)
	}
	defer c2.Close()
	if err := s.WaitPathReady(ctxTimeout(t, 10*time.Second), "cam1"); err != nil {
		t.Fatal(err)
	}
}

func TestStopLeavesNoProcess(t *testing.T) {
	t.Parallel()
	s, err := StartProcess(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	pid, dir, addr := s.PID(), s.Dir(), s.RTSPAddr()
	if pid <= 0 || !processExists(pid) {
		t.Fatalf("PID %d not running", pid)
	}
	if _, err := os.Stat(filepath.Join(dir, "mediamtx.yml")); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if processExists(pid) {
		t.Fatalf("process %d still exists after Stop", pid)
	}
	if !s.Exited() {
		t.Error("Exited false after Stop")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("config folder %s left behind: %v", dir, err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after Stop", addr)
	}
	s.Stop() // idempotent

	// Restart after Stop starts it again, on the same port.
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if s.RTSPAddr() != addr || !processExists(s.PID()) {
		t.Fatalf("after Restart: %s pid %d", s.RTSPAddr(), s.PID())
	}
}

// processExists reports whether pid names a live or unreaped process.
func processExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func TestParallelServers(t *testing.T) {
	t.Parallel()
	var wg sync.WaitGroup
	servers := make([]*Server, 3)
	errs := make([]error, 3)
	for i := range servers {
		wg.Go(func() { servers[i], errs[i] = StartProcess(context.Background(), Config{API: i == 0}) })
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, s := range servers {
		if errs[i] != nil {
			t.Error(errs[i])
			continue
		}
		defer s.Stop()
		if seen[s.RTSPAddr()] {
			t.Errorf("two servers on %s", s.RTSPAddr())
		}
		seen[s.RTSPAddr()] = true
	}
}

func TestStartFailsWithLog(t *testing.T) {
	t.Parallel()
	// A user "any" with a password is refused by MediaMTX's config check.
	_, err := StartProcess(context.Background(), Config{Users: []User{{User: "any", Pass: "x"}}})
	if err == nil {
		t.Fatal("started with an invalid configuration")
	}
	if !strings.Contains(err.Error(), "MediaMTX log") || !strings.Contains(err.Error(), "password") {
		t.Fatalf("error lacks the log tail: %v", err)
	}
}

func TestConfig(t *testing.T) {
	conf, err := buildConfig(Config{}, ports{rtsp: 18554, rtp: 18000})
	if err != nil {
		t.Fatal(err)
	}
	y := string(conf)
	for _, want := range []string{
		`rtspAddress: "127.0.0.1:18554"`,
		`rtpAddress: "127.0.0.1:18000"`,
		`rtcpAddress: "127.0.0.1:18001"`,
		`rtspTransports: ["tcp","udp"]`,
		"api: false\n", "webrtc: false\n", "hls: false\n", "rtmp: false\n", "srt: false\n",
		"playback: false\n", "metrics: false\n", "pprof: false\n",
		`readTimeout: "10s"`, `logLevel: "info"`, `authMethod: "internal"`,
		`{"user":"relay","pass":"relaypass","ips":["127.0.0.1","::1"],"permissions":[{"action":"publish","path":""}]}`,
		"paths:\n  all_others:\n",
	} {
		if !strings.Contains(y, want) {
			t.Errorf("config lacks %q:\n%s", want, y)
		}
	}
	for _, bad := range []string{"authHTTPAddress", "authJWTJWKS", `: ":`, "0.0.0.0"} {
		if strings.Contains(y, bad) {
			t.Errorf("config has %q:\n%s", bad, y)
		}
	}

	conf, err = buildConfig(Config{
		AuthMethod: "jwt", AuthJWTJWKS: "http://127.0.0.1:1/jwks", ReadTimeout: 1500 * time.Millisecond,
		Paths: "cam1:\n  source: publisher\n",
		Extra: "hls: yes\nhlsVariant: mpegts\n",
	}, ports{rtsp: 1, rtp: 2, api: 3})
	if err != nil {
		t.Fatal(err)
	}
	y = string(conf)
	for _, want := range []string{
		`authMethod: "jwt"`, `authJWTJWKS: "http://127.0.0.1:1/jwks"`, `readTimeout: "1.5s"`,
		"api: true\n", `apiAddress: "127.0.0.1:3"`,
		"paths:\n  cam1:\n    source: publisher\n", "hls: yes\nhlsVariant: mpegts\n",
	} {
		if !strings.Contains(y, want) {
			t.Errorf("config lacks %q:\n%s", want, y)
		}
	}
	if strings.Contains(y, "hls: false") {
		t.Errorf("Extra did not replace hls:\n%s", y)
	}

	if _, err := buildConfig(Config{Extra: "rtspAddress: :8554\n"}, ports{}); err == nil {
		t.Error("Extra may set rtspAddress")
	}
	conf, _ = buildConfig(Config{Paths: "ignored:", Extra: "paths:\n  x:\n"}, ports{})
	if strings.Contains(string(conf), "ignored") {
		t.Errorf("paths in Extra did not replace Paths:\n%s", conf)
	}
}

func TestExtraPaths(t *testing.T) {
	t.Parallel()
	// Only cam1 is configured: publishing to any other path is refused.
	s := Start(t, Config{Paths: "cam1:\n  source: publisher\n", API: true})
	logOnFailure(t, s)
	c, err := publish(t, s.RTSPURL("cam1", RelayUser, RelayPass), gortsplib.TransportTCP)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := s.WaitPathReady(ctxTimeout(t, 10*time.Second), "cam1"); err != nil {
		t.Fatal(err)
	}
	if c2, err := publish(t, s.RTSPURL("other", RelayUser, RelayPass), gortsplib.TransportTCP); err == nil {
		c2.Close()
		t.Fatal("published to a path that is not configured")
	}
}

func TestBinary(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CAMRELAY_MEDIAMTX", "")
	t.Setenv("CAMRELAY_CACHE", dir)
	_, err := Binary()
	if err == nil || !strings.Contains(err.Error(), "make mediamtx") {
		t.Fatalf("err = %v, want a hint to run make mediamtx", err)
	}

	fake := filepath.Join(dir, "mediamtx-"+Version)
	if err := os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := Binary(); err != nil || got != fake {
		t.Fatalf("Binary() = %q, %v; want %q", got, err, fake)
	}

	t.Setenv("CAMRELAY_CACHE", "")
	t.Setenv("XDG_CACHE_HOME", filepath.Dir(dir))
	if err := os.MkdirAll(filepath.Join(filepath.Dir(dir), "camrelay"), 0o755); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(filepath.Dir(dir), "camrelay", "mediamtx-"+Version)
	if _, err := os.Stat(want); os.IsNotExist(err) {
		if _, err := Binary(); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("err = %v, want it to name %s", err, want)
		}
	}

	t.Setenv("CAMRELAY_MEDIAMTX", fake)
	if got, err := Binary(); err != nil || got != fake {
		t.Fatalf("Binary() = %q, %v; want %q", got, err, fake)
	}
	t.Setenv("CAMRELAY_MEDIAMTX", filepath.Join(dir, "missing"))
	if _, err := Binary(); err == nil {
		t.Fatal("a missing $CAMRELAY_MEDIAMTX was accepted")
	}
}

// fatalTB records Fatal instead of failing the real test.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper()        {}
func (f *fatalTB) Cleanup(func()) {}
func (f *fatalTB) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	runtime.Goexit()
}

func TestStartFailsWhenBinaryMissing(t *testing.T) {
	t.Setenv("CAMRELAY_MEDIAMTX", "")
	t.Setenv("CAMRELAY_CACHE", t.TempDir())
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(f, Config{})
	}()
	<-done
	if !strings.Contains(f.msg, "make mediamtx") {
		t.Fatalf("Start did not fail with the build hint: %q", f.msg)
	}
}

func TestRestartWaitsForPort(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{})
	logOnFailure(t, s)
	addr := s.RTSPAddr()
	s.Stop()

	// Another program takes the port while the server is down; Restart
	// keeps trying until it is free again.
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(700*time.Millisecond, func() { l.Close() })
	start := time.Now()
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < 500*time.Millisecond {
		t.Errorf("Restart succeeded after %v while the port was taken", time.Since(start))
	}
	if s.RTSPAddr() != addr {
		t.Fatalf("RTSPAddr %s, want %s", s.RTSPAddr(), addr)
	}
	if !strings.Contains(s.Log(), "address already in use") {
		t.Errorf("the log does not show the failed attempt")
	}
}

func TestCustomUsers(t *testing.T) {
	t.Parallel()
	// No anonymous access at all: the API answers 401 to the start-up check.
	s := Start(t, Config{API: true, Users: []User{
		{User: "cam", Pass: "secret", IPs: []string{"127.0.0.1"}, Permissions: []Permission{{Action: "publish", Path: "cam1"}}},
		{User: "admin", Pass: "adminpass", Permissions: []Permission{{Action: "api"}, {Action: "read"}}},
	}})
	logOnFailure(t, s)
	c, err := publish(t, s.RTSPURL("cam1", "cam", "secret"), gortsplib.TransportTCP)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = publish(t, s.RTSPURL("cam2", "cam", "secret"), gortsplib.TransportTCP)
	var bad liberrors.ErrClientBadStatusCode
	if !errors.As(err, &bad) || bad.Code != base.StatusUnauthorized {
		t.Fatalf("publish to cam2: err = %v, want a 401", err)
	}
}

package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// netnsEnv marks the test binary re-executed inside a loopback-only network
// namespace.
const netnsEnv = "CAMRELAY_AUTH_IN_NETNS"

// inLoopbackNetns runs the calling test again in a new network namespace
// that has only a loopback interface (unshare --net, then ip link set lo up)
// and reports false; the caller returns. Inside, it reports true. MediaMTX's
// WebRTC server joins the mDNS multicast group on every interface for each
// session and has no switch for it: in the namespace there is nothing but
// lo to join on. Skips when the namespace cannot be made (not root, no
// unshare).
func inLoopbackNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv(netnsEnv) == "1" {
		ifs, err := net.Interfaces()
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range ifs {
			if i.Name != "lo" {
				t.Fatalf("interface %s in the namespace: not loopback-only", i.Name)
			}
		}
		return true
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs a loopback-only network namespace for MediaMTX's WebRTC server (mDNS multicast), and unshare is not installed")
	}
	if out, err := exec.Command("unshare", "--net", "sh", "-c", "ip link set lo up").CombinedOutput(); err != nil {
		t.Skipf("needs a loopback-only network namespace for MediaMTX's WebRTC server (mDNS multicast); unshare --net failed (root or CAP_SYS_ADMIN needed): %v: %s", err, strings.TrimSpace(string(out)))
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--net", "sh", "-c", `ip link set lo up && exec "$@"`, "sh",
		exe, "-test.run", "^"+t.Name()+"$", "-test.v", "-test.count=1", "-test.timeout=110s")
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("run in a loopback-only network namespace:\n%s", out)
	if err != nil {
		t.Fatalf("in the namespace: %v", err)
	}
	if strings.Contains(string(out), "--- SKIP") {
		t.Skip("skipped in the namespace")
	}
	return false
}

// Check 2: reading over WHEP with "Authorization: Bearer <token>", through a
// pion/webrtc client, receives video frames; a token for another camera, or
// none, gets 401.
func TestWHEPBearer(t *testing.T) {
	if !inLoopbackNetns(t) {
		return
	}
	httpPort, udpPort := freeTCPPort(t), freeUDPPort(t)
	extra := fmt.Sprintf(`webrtc: yes
webrtcAddress: 127.0.0.1:%d
webrtcLocalUDPAddress: 127.0.0.1:%d
webrtcLocalTCPAddress: ""
webrtcIPsFromInterfaces: no
webrtcAdditionalHosts: [127.0.0.1]
webrtcICEServers2: []
`, httpPort, udpPort)
	e := newMTXEnv(t, envConfig{mode: "jwt", extra: extra})
	whep := func(path string) string { return fmt.Sprintf("http://127.0.0.1:%d/%s/whep", httpPort, path) }
	alice := e.tokenFromEndpoint(`{"username":"alice","password":"alicepw","permissions":[{"action":"read","path":"camera_one"}]}`)

	var errs [3]error
	var frames int
	parallel(
		func() { frames, errs[0] = whepRead(whep("camera_one"), alice, 10) },
		func() { _, errs[1] = whepRead(whep("camera_two"), alice, 1) },
		func() { _, errs[2] = whepRead(whep("camera_one"), "", 1) },
	)
	if errs[0] != nil {
		t.Errorf("WHEP read with a bearer token: %v", errs[0])
	} else {
		t.Logf("WHEP: %d frames over WebRTC", frames)
	}
	for i, what := range map[int]string{1: "WHEP read of camera_two with camera_one's token", 2: "WHEP read without a token"} {
		if !errors.Is(errs[i], errRefused) {
			t.Errorf("%s: %v", what, errs[i])
		} else {
			t.Logf("%s: %v", what, errs[i])
		}
	}
}

// whepRead offers to receive video from a WHEP endpoint and counts frames
// (RTP packets with the marker bit) until want have arrived.
func whepRead(endpoint, token string, want int) (int, error) {
	se := webrtc.SettingEngine{}
	// No mDNS, loopback only: nothing leaves lo.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return 0, err
	}
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return 0, err
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		return 0, err
	}
	var frames atomic.Int64
	enough := make(chan struct{})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if pkt.Marker && frames.Add(1) == int64(want) {
				close(enough)
			}
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return 0, err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return 0, err
	}
	<-gathered
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(pc.LocalDescription().SDP))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/sdp")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	answer, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
	// MediaMTX v1.15.3 answers a refused WHEP offer with 400 and
	// "authentication failed" (onWHIPPost tests the wrong error variable
	// for *auth.Error, so neither 401 nor the 2 s pause happen there).
	if res.StatusCode == http.StatusUnauthorized ||
		(res.StatusCode == http.StatusBadRequest && strings.Contains(string(answer), "authentication failed")) {
		return 0, fmt.Errorf("%w: %d %s", errRefused, res.StatusCode, strings.TrimSpace(string(answer)))
	}
	if res.StatusCode != http.StatusCreated {
		return 0, fmt.Errorf("WHEP: %d: %s", res.StatusCode, answer)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		return 0, err
	}
	select {
	case <-enough:
		return int(frames.Load()), nil
	case <-time.After(15 * time.Second):
		return int(frames.Load()), fmt.Errorf("%d frames in 15 s, want %d (ICE %s)", frames.Load(), want, pc.ICEConnectionState())
	}
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

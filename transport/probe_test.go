package transport

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/camrelay/camrelay/bench/camsim"
)

const testClip = "../testdata/clips/h264_320x240_25.h264"

// startCamsim starts simulated cameras on 127.0.0.1 (tests on any floor may
// import bench/camsim).
func startCamsim(t *testing.T, cfgs ...camsim.CameraConfig) *camsim.Server {
	t.Helper()
	s := &camsim.Server{}
	for _, cfg := range cfgs {
		if _, err := s.AddCamera(cfg); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// TestProbeDigestQop: camrelay probe authenticates to cameras that answer
// with Digest qop="auth", and to those that send a second 401 with a fresh
// nonce, as relaying does (before, RTSPReader left gortsplib to answer the
// RFC 2069 way, which such cameras refuse).
func TestProbeDigestQop(t *testing.T) {
	const user, pass = "admin", "s3cret:x@y"
	s := startCamsim(t,
		camsim.CameraConfig{Path: "qop", Clip: testClip, User: user, Pass: pass, Auth: camsim.AuthDigestQop},
		camsim.CameraConfig{Path: "qop2", Clip: testClip, User: user, Pass: pass, Auth: camsim.AuthDigestQop, SecondChallenge: true},
		camsim.CameraConfig{Path: "digest2", Clip: testClip, User: user, Pass: pass, Auth: camsim.AuthDigest, SecondChallenge: true},
		camsim.CameraConfig{Path: "basic", Clip: testClip, User: user, Pass: pass, Auth: camsim.AuthBasic},
	)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, path := range []string{"qop", "qop2", "digest2", "basic"} {
		for _, tr := range []string{TransportTCP, TransportUDP} {
			t.Run(path+"/"+tr, func(t *testing.T) {
				res, err := ProbeRTSP(ctx, s.URL(path), tr, 300*time.Millisecond)
				if err != nil {
					t.Fatalf("probe: %v", err)
				}
				if len(res.Tracks) != 1 || res.Tracks[0].Codec != "H264" || res.Width != 320 || res.Height != 240 {
					t.Fatalf("probe found %+v", res)
				}
			})
		}
	}

	// A wrong password is a 401 that names the cause, without the password.
	bad := strings.Replace(s.URL("qop2"), "s3cret", "wrong-pw", 1)
	_, err := ProbeRTSP(ctx, bad, TransportTCP, 300*time.Millisecond)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 401 || strings.Contains(err.Error(), "wrong-pw") {
		t.Fatalf("wrong password: %v", err)
	}
}

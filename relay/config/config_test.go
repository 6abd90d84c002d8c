package config

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

const good = `
output: rtsp://relay:${RELAY_PASS}@127.0.0.1:8554/{path}
cameras:
  - name: lobby
    source: rtsp://admin:${LOBBY_PASS}@10.1.2.3:554/stream1
    transport: tcp
    path: site1/lobby
  - name: gate
    source: rtsp://10.1.2.4/live
    output: rtsp://other:pw@10.0.0.9:8554/gate
    stall_timeout: 3s
`

func TestParseExpandsAndResolves(t *testing.T) {
	c, err := Parse([]byte(good), env(map[string]string{"RELAY_PASS": "r3lay", "LOBBY_PASS": "p@ss:w/rd"}), Caps{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Cameras) != 2 {
		t.Fatalf("%d cameras", len(c.Cameras))
	}
	lobby := c.Resolved(c.Cameras[0])
	if lobby.Output != "rtsp://relay:r3lay@127.0.0.1:8554/site1/lobby" {
		t.Errorf("output %q", lobby.Output)
	}
	u, err := url.Parse(lobby.Source)
	if err != nil {
		t.Fatalf("expanded source does not parse: %v", err)
	}
	if pw, _ := u.User.Password(); pw != "p@ss:w/rd" || u.Host != "10.1.2.3:554" {
		t.Errorf("password %q host %q: a password with @ : / must be escaped into the URL", pw, u.Host)
	}
	if lobby.Transport != "tcp" || time.Duration(lobby.StallTimeout) != DefaultStallTimeout {
		t.Errorf("transport %q stall %v", lobby.Transport, lobby.StallTimeout)
	}
	gate := c.Resolved(c.Cameras[1])
	if gate.Path != "gate" || gate.Transport != "auto" || gate.Output != "rtsp://other:pw@10.0.0.9:8554/gate" || time.Duration(gate.StallTimeout) != 3*time.Second {
		t.Errorf("gate resolved to %+v", gate)
	}
	if c.Defaults.RingSize != DefaultRingSize || time.Duration(c.Defaults.BackoffMax) != DefaultBackoffMax {
		t.Errorf("defaults %+v", c.Defaults)
	}
}

func TestEmptyFileIsValid(t *testing.T) {
	c, err := Parse(nil, env(nil), Caps{})
	if err != nil || len(c.Cameras) != 0 {
		t.Fatalf("%v %v", c, err)
	}
}

func TestErrorsNameCameraAndField(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"missing env", good, "environment variable LOBBY_PASS is not set"},
		{"bad transport", "output: rtsp://h/{path}\ncameras:\n  - {name: cam1, source: rtsp://h/x, transport: tpc}\n", `camera "cam1": transport: must be tcp, udp or auto, not "tpc"`},
		{"no source", "output: rtsp://h/{path}\ncameras:\n  - {name: cam1}\n", `camera "cam1": source: is required`},
		{"bad scheme", "output: rtsp://h/{path}\ncameras:\n  - {name: cam1, source: ftp://h/x}\n", `camera "cam1": source: unsupported scheme (want one of`},
		{"no name", "output: rtsp://h/{path}\ncameras:\n  - {source: rtsp://h/x}\n", `cameras[0]: name: must not be empty`},
		{"bad name", "output: rtsp://h/{path}\ncameras:\n  - {name: 'a b', source: rtsp://h/x}\n", `camera "a b": name: may contain only letters`},
		{"dup name", "output: rtsp://h/{path}\ncameras:\n  - {name: a, source: rtsp://h/x}\n  - {name: a, source: rtsp://h/y, path: b}\n", `camera "a": name: duplicate of cameras[0]`},
		{"dup path", "output: rtsp://h/{path}\ncameras:\n  - {name: a, source: rtsp://h/x}\n  - {name: b, source: rtsp://h/y, path: a}\n", `camera "b": path: is already published by camera "a"`},
		{"no output", "cameras:\n  - {name: a, source: rtsp://h/x}\n", `camera "a": output: not set`},
		{"template without path", "output: rtsp://h/live\ncameras: []\n", "output: must contain {path}"},
		{"unknown key", "output: rtsp://h/{path}\ncameras:\n  - {name: a, source: rtsp://h/x, tranport: tcp}\n", `field tranport not found in a camera`},
		{"unknown top key", "outptu: x\n", "field outptu not found at the top level"},
		{"bad duration", "output: rtsp://h/{path}\ncameras:\n  - {name: a, source: rtsp://h/x, stall_timeout: 5}\n", `"5" is not a duration`},
		{"bad yaml", "cameras: [\n", "line"},
		{"bad log level", "log: {level: loud}\n", `log.level: must be debug, info, warn or error, not "loud"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), env(map[string]string{"RELAY_PASS": "x"}), Caps{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestAllProblemsReportedAtOnce(t *testing.T) {
	_, err := Parse([]byte("output: rtsp://h/{path}\ncameras:\n  - {name: a, source: ''}\n  - {name: b, source: rtsp://h/y, transport: x}\n"), env(nil), Caps{})
	if err == nil || !strings.Contains(err.Error(), `camera "a": source`) || !strings.Contains(err.Error(), `camera "b": transport`) {
		t.Fatalf("want both problems, got %v", err)
	}
}

func TestErrorsNeverEchoPasswords(t *testing.T) {
	_, err := Parse([]byte("output: rtsp://h/{path}\ncameras:\n  - {name: a, source: 'rtsp://u:s3cret@h:99999/x'}\n  - {name: b, source: 'rtsp://u:s3cret@h%zz/x'}\n"), env(nil), Caps{})
	if err == nil {
		t.Fatal("want an error")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error leaks the password: %v", err)
	}
}

func TestExpandEscapes(t *testing.T) {
	got, err := ExpandString("rtsp://a:$${X}@h/${P}", env(map[string]string{"P": "p@th"}))
	if err != nil || got != "rtsp://a:${X}@h/p@th" {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := ExpandString("rtsp://${", env(nil)); err == nil {
		t.Fatal("unterminated ${ accepted")
	}
	if _, err := ExpandString("${1X}", env(nil)); err == nil {
		t.Fatal("invalid name accepted")
	}
}

func TestValidPathName(t *testing.T) {
	for _, ok := range []string{"cam1", "site1/lobby", "a.b~c:d-e_f"} {
		if err := ValidPathName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "/a", "a/", "a b", "a?b", "ä"} {
		if ValidPathName(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestTranscodeSettings(t *testing.T) {
	c, err := Parse([]byte("output: rtsp://h/{path}\ncameras:\n  - {name: a, source: http://h/v.mjpg, video: {fps: 10}}\n"), env(nil), Caps{})
	if err != nil {
		t.Fatal(err)
	}
	r := c.Resolved(c.Cameras[0])
	want := Video{FPS: 10, Bitrate: 2000000, Preset: "ultrafast", GOP: 20, Profile: "baseline", Scale: "fit"}
	if r.Mode != ModeTranscode || r.Video != want || r.Audio != "copy" {
		t.Errorf("resolved %s %+v audio %q, want transcode %+v audio copy", r.Mode, r.Video, r.Audio, want)
	}
	_, err = Parse([]byte("output: rtsp://h/{path}\ncameras:\n  - {name: a, source: http://h/v.mjpg, audio: flac, video: {width: 15, height: 16, bitrate: 10k}}\n"), env(nil), Caps{})
	for _, want := range []string{
		`camera "a": video.width: must be an even number from 16 to 8192, not 15`,
		`camera "a": video.bitrate: must be from 50k to 100M bits per second, not 10000`,
		`camera "a": audio: must be copy, drop, opus or aac, not "flac"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want it to contain %q", err, want)
		}
	}
}

// Issue 15, reliability 4: two problems on one camera, an unknown key and
// a bad value, are both reported.
func TestEveryProblemReported(t *testing.T) {
	_, err := Parse([]byte("output: rtsp://h/{path}\ncameras:\n  - name: lobby\n    source: rtsp://h/x\n    bogus_key: 1\n    transport: tpc\n"), env(nil), Caps{})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{`field bogus_key not found`, `camera "lobby": transport: must be tcp, udp or auto, not "tpc"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const commented = `# camrelay at site 1
output: rtsp://relay:${RELAY_PASS}@127.0.0.1:8554/{path} # the MediaMTX next door

cameras:
  # the lobby camera, mounted 2024
  - name: lobby
    source: rtsp://admin:${LOBBY_PASS}@10.1.2.3/stream1
    transport: tcp # UDP is blocked at this site
  - {name: gate, source: rtsp://10.1.2.4/live}
`

func TestEditCamerasKeepsCommentsAndPlaceholders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "camrelay.yml")
	os.WriteFile(path, []byte(commented), 0o640)
	lookup := env(map[string]string{"RELAY_PASS": "r", "LOBBY_PASS": "l"})

	cfg, err := EditCameras(path, lookup, Caps{}, func(e *CameraEditor) error {
		return e.Add(Camera{Name: "yard", Source: "rtsp://10.1.2.9/s", Transport: "udp"})
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Cameras) != 3 {
		t.Fatalf("%d cameras after add", len(cfg.Cameras))
	}
	b, _ := os.ReadFile(path)
	s := string(b)
	for _, keep := range []string{"# camrelay at site 1", "# the MediaMTX next door", "# the lobby camera, mounted 2024", "# UDP is blocked at this site", "${LOBBY_PASS}", "${RELAY_PASS}", "name: yard"} {
		if !strings.Contains(s, keep) {
			t.Errorf("rewritten file lost %q:\n%s", keep, s)
		}
	}
	if strings.Contains(s, "admin:l@") {
		t.Error("an expanded secret was written into the file")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("file mode changed to %v", st.Mode().Perm())
	}

	_, err = EditCameras(path, lookup, Caps{}, func(e *CameraEditor) error {
		if err := e.Replace("lobby", Camera{Name: "lobby", Source: "rtsp://admin:${LOBBY_PASS}@10.1.2.3/stream2"}); err != nil {
			return err
		}
		return e.Remove("gate")
	})
	if err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	s = string(b)
	if !strings.Contains(s, "# the lobby camera, mounted 2024") || !strings.Contains(s, "stream2") || strings.Contains(s, "gate") {
		t.Errorf("after replace and remove:\n%s", s)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestEditCamerasRefusesInvalidResult(t *testing.T) {
	path := filepath.Join(t.TempDir(), "camrelay.yml")
	os.WriteFile(path, []byte(commented), 0o600)
	lookup := env(map[string]string{"RELAY_PASS": "r", "LOBBY_PASS": "l"})
	before, _ := os.ReadFile(path)
	_, err := EditCameras(path, lookup, Caps{}, func(e *CameraEditor) error {
		return e.Add(Camera{Name: "bad", Source: "ftp://x"})
	})
	if err == nil || !strings.Contains(err.Error(), `camera "bad": source`) {
		t.Fatalf("error %v", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("the file changed although the edit was refused")
	}
	if _, err := EditCameras(path, lookup, Caps{}, func(e *CameraEditor) error { return e.Add(Camera{Name: "lobby"}) }); !errors.Is(err, ErrDuplicate) {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := EditCameras(path, lookup, Caps{}, func(e *CameraEditor) error { return e.Remove("nope") }); !errors.Is(err, ErrNoCamera) {
		t.Errorf("unknown: %v", err)
	}
}

func TestEditCamerasOnEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "camrelay.yml")
	os.WriteFile(path, []byte("output: rtsp://h/{path}\n"), 0o600)
	cfg, err := EditCameras(path, env(nil), Caps{}, func(e *CameraEditor) error { return e.Add(Camera{Name: "a", Source: "rtsp://h/a"}) })
	if err != nil || len(cfg.Cameras) != 1 {
		t.Fatalf("%v %v", cfg, err)
	}
}

// Issue 15, reliability 6: a password posted as a literal makes the
// configuration file 0600 when camrelay writes it; placeholders alone leave
// the operator's mode alone.
func TestEditCamerasProtectsWrittenCredentials(t *testing.T) {
	path := filepath.Join(t.TempDir(), "camrelay.yml")
	os.WriteFile(path, []byte("output: rtsp://relay:${RELAY_PASS}@h/{path}\n"), 0o644)
	lookup := env(map[string]string{"RELAY_PASS": "x", "CAM_PASS": "y"})
	if _, err := EditCameras(path, lookup, Caps{}, func(e *CameraEditor) error {
		return e.Add(Camera{Name: "a", Source: "rtsp://admin:${CAM_PASS}@h/a"})
	}); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
		t.Errorf("placeholders only: mode %v, want the operator's 0644", st.Mode().Perm())
	}
	for _, c := range []Camera{
		{Name: "b", Source: "rtsp://admin:literal-pw@h/b"},
		{Name: "c", Source: "rtsp://TOKEN@h/c"},
		{Name: "d", Source: "rtsp://h/d?apikey=k3y"},
	} {
		path := filepath.Join(t.TempDir(), "camrelay.yml") // a fresh file: only c's credential in it
		os.WriteFile(path, []byte("output: rtsp://relay:${RELAY_PASS}@h/{path}\n"), 0o644)
		if _, err := EditCameras(path, lookup, Caps{}, func(e *CameraEditor) error { return e.Add(c) }); err != nil {
			t.Fatal(err)
		}
		if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
			t.Errorf("camera %s written with a credential: mode %v, want 0600", c.Source, st.Mode().Perm())
		}
	}
}

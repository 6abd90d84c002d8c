package config

import (
	"slices"
	"strings"
	"testing"
)

const twoOutputs = `
outputs:
  - rtsp://relay:${RELAY_PASS}@127.0.0.1:8554/{path}
  - rtsps://edge7:${REMOTE_PASS}@mtx.example.net:8322/site1/{name}
cameras:
  - name: lobby
    source: rtsp://10.1.2.3/stream1
    path: site1/lobby
  - name: gate
    source: rtsp://10.1.2.4/live
    output: rtsp://other:pw@10.0.0.9:8554/gate
  - name: yard
    source: rtsp://10.1.2.5/live
    outputs: [rtsp://127.0.0.1:8554/yard, "rtsps://u:${REMOTE_PASS}@mtx.example.net:8322/yard"]
`

func TestOutputsTemplateExpandsPerCamera(t *testing.T) {
	c, err := Parse([]byte(twoOutputs), env(map[string]string{"RELAY_PASS": "r3lay", "REMOTE_PASS": "p@ss/w"}), Caps{})
	if err != nil {
		t.Fatal(err)
	}
	lobby := c.Resolved(c.Cameras[0])
	want := []string{"rtsp://relay:r3lay@127.0.0.1:8554/site1/lobby", "rtsps://edge7:p%40ss%2Fw@mtx.example.net:8322/site1/lobby"}
	if !slices.Equal(lobby.Outputs, want) || lobby.Output != want[0] {
		t.Errorf("lobby outputs %q output %q, want %q", lobby.Outputs, lobby.Output, want)
	}
	// A camera's own output replaces the template list as a whole.
	gate := c.Resolved(c.Cameras[1])
	if !slices.Equal(gate.Outputs, []string{"rtsp://other:pw@10.0.0.9:8554/gate"}) || gate.Output != gate.Outputs[0] {
		t.Errorf("gate outputs %q output %q", gate.Outputs, gate.Output)
	}
	yard := c.Resolved(c.Cameras[2])
	if len(yard.Outputs) != 2 || yard.Outputs[1] != "rtsps://u:p%40ss%2Fw@mtx.example.net:8322/yard" {
		t.Errorf("yard outputs %q", yard.Outputs)
	}
	// Resolving twice changes nothing, and never shares the template's slice.
	if again := c.Resolved(lobby); !again.Equal(lobby) {
		t.Errorf("resolved twice: %+v, then %+v", lobby, again)
	}
	lobby.Outputs[0] = "changed"
	if c.Outputs[0] == "changed" || c.Resolved(c.Cameras[0]).Outputs[0] == "changed" {
		t.Error("a resolved camera's outputs alias the template")
	}
	// Single output: Outputs holds it too.
	one, err := Parse([]byte("output: rtsp://127.0.0.1:8554/{path}\ncameras: [{name: a, source: rtsp://10.0.0.1/s}]\n"), env(nil), Caps{})
	if err != nil {
		t.Fatal(err)
	}
	if r := one.Resolved(one.Cameras[0]); r.Output != "rtsp://127.0.0.1:8554/a" || !slices.Equal(r.Outputs, []string{r.Output}) {
		t.Errorf("single output resolved to %q / %q", r.Output, r.Outputs)
	}
}

func TestOutputsValidation(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string // each must appear in the error
	}{
		{"unknown scheme, named by camera and field", `
cameras:
  - name: lobby
    source: rtsp://10.1.2.3/s
    outputs: [rtsp://127.0.0.1:8554/lobby, "srt://user:s3cret@10.0.0.9:9000/lobby"]
`, []string{`camera "lobby": outputs[1]: unsupported scheme (want one of rtsp, rtsps)`}},
		{"output and outputs on a camera", `
cameras:
  - name: lobby
    source: rtsp://10.1.2.3/s
    output: rtsp://127.0.0.1:8554/lobby
    outputs: [rtsp://127.0.0.1:8555/lobby]
`, []string{`camera "lobby": output and outputs: set one of them, not both`}},
		{"output and outputs at the top", `
output: rtsp://127.0.0.1:8554/{path}
outputs: ["rtsp://127.0.0.1:8555/{path}"]
cameras: [{name: a, source: rtsp://10.0.0.1/s}]
`, []string{`output and outputs: set one of them, not both`}},
		{"template without {path}", `
outputs: ["rtsp://127.0.0.1:8554/{path}", rtsp://127.0.0.1:8555/fixed]
cameras: [{name: a, source: rtsp://10.0.0.1/s}]
`, []string{`outputs[1]: must contain {path}`}},
		{"template with a bad scheme", `
outputs: ["rtsp://127.0.0.1:8554/{path}", "http://x:y@127.0.0.1:8555/{path}"]
cameras: [{name: a, source: rtsp://10.0.0.1/s}]
`, []string{`outputs[1]: unsupported scheme`}},
		{"too many", `
cameras:
  - name: a
    source: rtsp://10.0.0.1/s
    outputs: [rtsp://h1/a, rtsp://h2/a, rtsp://h3/a, rtsp://h4/a, rtsp://h5/a]
`, []string{`camera "a": outputs: 5 outputs, at most 4`}},
		{"the same place twice", `
cameras:
  - name: a
    source: rtsp://10.0.0.1/s
    outputs: [rtsp://u:p@127.0.0.1:8554/a, rtsp://v:q@127.0.0.1:8554/a]
`, []string{`camera "a": outputs[1]: publishes to the same server and path as outputs[0]`}},
		{"no host", `
cameras:
  - name: a
    source: rtsp://10.0.0.1/s
    outputs: [rtsp://127.0.0.1:8554/a, "rtsp:///a"]
`, []string{`camera "a": outputs[1]: has no host`}},
		{"empty list", `
cameras:
  - name: a
    source: rtsp://10.0.0.1/s
    outputs: []
`, []string{`camera "a": outputs: is empty`}},
		{"on demand", `
serve: {listen: 127.0.0.1:8556}
cameras:
  - name: a
    source: rtsp://10.0.0.1/s
    on_demand: true
    outputs: [rtsp://127.0.0.1:8554/a]
`, []string{`camera "a": outputs: an on-demand camera is served`}},
		{"direct", `
mediamtx: {api: "http://127.0.0.1:9997"}
cameras:
  - name: a
    source: rtsp://10.0.0.1/s
    mode: direct
    outputs: [rtsp://127.0.0.1:8554/a]
`, []string{`camera "a": outputs: a direct camera is pulled by MediaMTX itself`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), env(nil), Caps{})
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nwant it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error echoes a password: %q", err)
			}
		})
	}
}

// TestOutputsThroughTheAPI: a camera posted with outputs is checked like
// one in the file, and ${...} in an output is refused (the API never
// expands the environment).
func TestOutputsThroughTheAPI(t *testing.T) {
	c, err := Parse([]byte("output: rtsp://127.0.0.1:8554/{path}\n"), env(nil), Caps{})
	if err != nil {
		t.Fatal(err)
	}
	cam := Camera{Name: "x", Source: "rtsp://10.0.0.1/s", Outputs: []string{"rtsp://127.0.0.1:8554/x", "ftp://h/x"}}
	errs := c.CheckCamera(cam)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "outputs[1]: unsupported scheme") {
		t.Errorf("errors %v", errs)
	}
	cam.Outputs[1] = "rtsps://u:${HOME}@h:8322/x"
	if err := cam.CheckLiteral(); err == nil || !strings.Contains(err.Error(), "outputs[1]: ${...} is expanded only") {
		t.Errorf("CheckLiteral: %v", err)
	}
}

func TestCameraEqual(t *testing.T) {
	a := Camera{Name: "a", Source: "rtsp://h/s", Outputs: []string{"rtsp://m/a", "rtsp://n/a"}}
	b := a
	b.Outputs = slices.Clone(a.Outputs)
	if !a.Equal(b) {
		t.Error("equal cameras differ")
	}
	b.Outputs[1] = "rtsp://o/a"
	if a.Equal(b) {
		t.Error("another second output is equal")
	}
	b = a
	b.Mode = ModeTranscode
	if a.Equal(b) {
		t.Error("another mode is equal")
	}
}

func TestHoldsCredentialSeesOutputs(t *testing.T) {
	if !holdsCredential([]byte("cameras: [{name: a, source: rtsp://h/s, outputs: [rtsp://h/a, rtsp://u:secret@h/a]}]\n")) {
		t.Error("a password in outputs[1] went unnoticed")
	}
	if holdsCredential([]byte("outputs: [\"rtsp://u:${P}@h/{path}\"]\n")) {
		t.Error("a ${VAR} password counted as one in clear")
	}
}

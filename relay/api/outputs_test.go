package api

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/camrelay/camrelay/relay"
)

// TestCameraWithTwoOutputs: a camera posted with outputs is checked per
// output (a bad one is refused, naming the camera's field), and the API
// and the metrics show each output: its redacted URL in the configuration
// and in the status, its own state and series with an output label.
func TestCameraWithTwoOutputs(t *testing.T) {
	ts := newServer(t, "")
	code, body := call(t, "POST", ts.URL+"/v1/cameras",
		`{"name":"a","source":"rtsp://127.0.0.1:1/a","outputs":["rtsp://relay:out-secret1@127.0.0.1:1/a","srt://u:out-secret2@127.0.0.1:2/a"]}`)
	if code != 400 || !strings.Contains(body, `outputs[1]: unsupported scheme`) || strings.Contains(body, "out-secret") {
		t.Fatalf("bad second output: %d %s", code, body)
	}
	code, body = call(t, "POST", ts.URL+"/v1/cameras",
		`{"name":"a","source":"rtsp://127.0.0.1:1/a","output":"rtsp://127.0.0.1:1/a","outputs":["rtsp://127.0.0.1:2/a"]}`)
	if code != 400 || !strings.Contains(body, `output and outputs: set one of them, not both`) {
		t.Fatalf("output and outputs: %d %s", code, body)
	}
	code, body = call(t, "POST", ts.URL+"/v1/cameras",
		`{"name":"a","source":"rtsp://127.0.0.1:1/a","outputs":["rtsp://relay:out-secret1@127.0.0.1:1/a","rtsps://edge:out-secret2@127.0.0.1:2/a"]}`)
	if code != 201 {
		t.Fatalf("two outputs: %d %s", code, body)
	}
	var view struct {
		Config struct {
			Outputs []string `json:"outputs"`
		} `json:"config"`
		Status relay.CameraStatus `json:"status"`
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, body = call(t, "GET", ts.URL+"/v1/cameras/a", "")
		if code != 200 {
			t.Fatalf("GET: %d %s", code, body)
		}
		if err := json.Unmarshal([]byte(body), &view); err != nil {
			t.Fatal(err)
		}
		if len(view.Status.Sinks) == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	urls := []string{"rtsp://relay:***@127.0.0.1:1/a", "rtsps://edge:***@127.0.0.1:2/a"}
	if len(view.Config.Outputs) != 2 || view.Config.Outputs[0] != urls[0] || view.Config.Outputs[1] != urls[1] {
		t.Errorf("config outputs %q, want %q", view.Config.Outputs, urls)
	}
	if s := view.Status.Sinks; len(s) != 2 || s[0].URL != urls[0] || s[1].URL != urls[1] || s[1].Output != 1 || s[0].State != relay.SinkWaiting {
		t.Errorf("status sinks %+v", s)
	}
	if view.Status.Sink.URL != urls[0] || view.Status.Output != urls[0] {
		t.Errorf("sink %+v output %q: want the first output", view.Status.Sink, view.Status.Output)
	}
	if strings.Contains(body, "out-secret") {
		t.Errorf("the camera's view holds an output password: %s", body)
	}
	_, _, metrics := get(t, ts.URL+"/metrics", "admin", "pw", "")
	for _, want := range []string{
		`camrelay_camera_output_info{camera="a",output="1",url="rtsps://edge:***@127.0.0.1:2/a"} 1`,
		`camrelay_camera_output_state{camera="a",output="0",state="waiting"} 1`,
		`camrelay_camera_output_up{camera="a",output="1"} 0`,
		`camrelay_camera_sent_packets_total{camera="a",output="1"} 0`,
		`camrelay_camera_output_dropped_packets_total{camera="a",output="0"} 0`,
		`camrelay_camera_latency_seconds{camera="a",output="1",quantile="0.99"} 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(metrics, "out-secret") {
		t.Error("metrics hold an output password")
	}
}

package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/camrelay/camrelay/relay"
	"github.com/camrelay/camrelay/relay/shard"
)

// A sharded instance lists every camera with its owner, shows status only
// for its own, and answers /location for any camera.
func TestShardLocation(t *testing.T) {
	names := []string{"a", "a/location", "x/location", "site/c", "d", "e", "f", "g"}
	index := shard.Owner("site/c", 3)
	var cams strings.Builder
	for _, n := range names {
		fmt.Fprintf(&cams, "  - {name: %s, source: 'rtsp://127.0.0.1:1/%s'}\n", n, n)
	}
	path := filepath.Join(t.TempDir(), "camrelay.yml")
	os.WriteFile(path, []byte(fmt.Sprintf(`output: rtsp://127.0.0.1:1/{path}
defaults: {backoff_min: 1s, backoff_max: 5s}
shard:
  index: %d
  count: 3
  viewer_urls: ["rtsp://camrelay-{shard}.camrelay:8554/{path}", "http://camrelay-{shard}.camrelay:8889/{path}/whep"]
cameras:
%s`, index, cams.String())), 0o600)
	app := runApp(t, &relay.App{ConfigPath: path})
	ts := httptest.NewServer((&Server{App: app}).Handler())
	defer ts.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(p string, v any) int {
		t.Helper()
		res, err := client.Get(ts.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode/100 == 3 {
			t.Errorf("GET %s redirects (%s)", p, res.Status)
		}
		if v != nil && res.StatusCode == 200 {
			if err := json.NewDecoder(res.Body).Decode(v); err != nil {
				t.Fatalf("GET %s: %v", p, err)
			}
		}
		return res.StatusCode
	}

	var list struct {
		Items []struct {
			Config struct{ Name string }
			Shard  int
			Local  bool
			Status *struct{ State string }
		}
		Total int
	}
	get("/v1/cameras", &list)
	if list.Total != len(names) {
		t.Fatalf("listed %d cameras, want all %d", list.Total, len(names))
	}
	local := 0
	for _, v := range list.Items {
		owner := shard.Owner(v.Config.Name, 3)
		if v.Shard != owner || v.Local != (owner == index) || (v.Status != nil) != v.Local {
			t.Errorf("camera %q: shard %d local %v status %v; want shard %d, status only when local", v.Config.Name, v.Shard, v.Local, v.Status, owner)
		}
		if v.Local {
			local++
		}
	}
	if local == 0 || local == len(names) {
		t.Fatalf("%d of %d cameras local: the test needs both kinds", local, len(names))
	}
	res, err := client.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, v := range list.Items {
		if in := strings.Contains(string(metrics), fmt.Sprintf("camrelay_camera_up{camera=%q}", v.Config.Name)); in != v.Local {
			t.Errorf("metrics of camera %q: %v; want them only from the shard that relays it", v.Config.Name, in)
		}
	}
	if n := len(app.Supervisor().Names()); n != local {
		t.Errorf("the supervisor runs %d cameras, want the %d local ones", n, local)
	}

	for _, n := range names {
		if strings.HasSuffix(n, "/location") {
			continue
		}
		var loc relay.Location
		if code := get("/v1/cameras/"+n+"/location", &loc); code != 200 {
			t.Fatalf("location of %q: %d", n, code)
		}
		owner := shard.Owner(n, 3)
		want := []string{fmt.Sprintf("rtsp://camrelay-%d.camrelay:8554/%s", owner, n), fmt.Sprintf("http://camrelay-%d.camrelay:8889/%s/whep", owner, n)}
		if loc.Name != n || loc.Path != n || loc.Shard != owner || loc.Shards != 3 || loc.Local != (owner == index) || !slices.Equal(loc.ViewerURLs, want) {
			t.Errorf("location of %q: %+v, want shard %d and %q", n, loc, owner, want)
		}
	}
	// The location of "a" wins over the camera "a/location"; "x/location"
	// is a camera (there is no camera x).
	var cam struct{ Config struct{ Name string } }
	if code := get("/v1/cameras/x/location", &cam); code != 200 || cam.Config.Name != "x/location" {
		t.Errorf("GET /v1/cameras/x/location: %d %+v, want the camera x/location", code, cam)
	}
	var loc relay.Location
	if code := get("/v1/cameras/a/location/location", &loc); code != 200 || loc.Name != "a/location" {
		t.Errorf("GET /v1/cameras/a/location/location: %d %+v, want the location of the camera a/location", code, loc)
	}
	for _, p := range []string{"/v1/cameras/nope/location", "/v1/cameras/location", "/v1/cameras/site/location"} {
		if code := get(p, nil); code != 404 {
			t.Errorf("GET %s: %d, want 404", p, code)
		}
	}
	if code := get("/v1/cameras//location", nil); code != 400 {
		t.Errorf("GET /v1/cameras//location: %d, want 400", code)
	}
}

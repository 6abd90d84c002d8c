package config

import (
	"slices"
	"strings"
	"testing"
)

const shardCams = `
output: rtsp://127.0.0.1:8554/{path}
cameras:
  - {name: lobby, source: rtsp://10.0.0.1/s}
  - {name: gate, source: rtsp://10.0.0.2/s, path: site/gate}
`

func TestShardDefaultIsOneShard(t *testing.T) {
	c, err := Parse([]byte(shardCams), env(nil), Caps{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Shard.Index != 0 || c.Shard.Count != 1 {
		t.Errorf("shard %+v, want 0 of 1", c.Shard)
	}
	for _, cam := range c.Cameras {
		if !c.Local(cam.Name) || c.ShardOf(cam.Name) != 0 {
			t.Errorf("camera %q not relayed by the only shard", cam.Name)
		}
	}
	// A shard section without count (the environment gives it, or not).
	c, err = Parse([]byte(shardCams+"shard: {viewer_urls: ['rtsp://mtx:8554/{path}']}\n"), env(nil), Caps{})
	if err != nil || c.Shard.Count != 1 {
		t.Fatalf("shard %+v, err %v", c.Shard, err)
	}
}

// The three bad inputs of issue 11, each refused naming the field.
func TestShardRefused(t *testing.T) {
	for _, c := range []struct{ shard, want string }{
		{"{index: 3, count: 3}", "shard.index: must be from 0 to 2 (shard.count is 3), not 3"},
		{"{index: -1, count: 3}", "shard.index: must be from 0 to 2 (shard.count is 3), not -1"},
		{"{index: 1}", "shard.index: must be 0 (shard.count is 1), not 1"},
		{"{index: 0, count: 0}", "shard.count: must be 1 or more, not 0"},
		{"{count: -2}", "shard.count: must be 1 or more, not -2"},
		{"{count: 5000}", "shard.count: must be at most 1024, not 5000"},
		{"{index: 0, count: 3, viewer_urls: ['rtsp://mtx.example:8554/{path}']}",
			"shard.viewer_urls[0]: must contain {shard} when shard.count is more than 1"},
		{"{count: 2, viewer_urls: ['rtsp://mtx-{shard}:8554/']}", "shard.viewer_urls[0]: must contain {path} (or {name})"},
		{"{viewer_urls: ['mtx-{shard}/{path}']}", "shard.viewer_urls[0]: must be a URL template"},
		{"{index: 0, cuont: 3}", "field cuont not found in shard"},
	} {
		_, err := Parse([]byte(shardCams+"shard: "+c.shard+"\n"), env(nil), Caps{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("shard: %s: got %v, want an error containing %q", c.shard, err, c.want)
		}
	}
}

func TestShardEnvAndFlag(t *testing.T) {
	file := shardCams + "shard: {index: 0, count: 2, viewer_urls: ['rtsp://camrelay-{shard}.camrelay:8554/{path}']}\n"
	// The environment overrides the file.
	c, err := Parse([]byte(file), env(map[string]string{EnvShard: "2", EnvShards: " 3 "}), Caps{})
	if err != nil || c.Shard.Index != 2 || c.Shard.Count != 3 {
		t.Fatalf("env: shard %+v, err %v", c.Shard, err)
	}
	// Only the index from the environment: the count is the file's.
	c, err = Parse([]byte(file), env(map[string]string{EnvShard: "1"}), Caps{})
	if err != nil || c.Shard.Index != 1 || c.Shard.Count != 2 {
		t.Fatalf("env index only: shard %+v, err %v", c.Shard, err)
	}
	// The flag overrides both.
	spec, err := ParseShardSpec("1/4")
	if err != nil {
		t.Fatal(err)
	}
	c, err = Parse([]byte(file), spec.Lookup(env(map[string]string{EnvShard: "2", EnvShards: "3", "X": "y"})), Caps{})
	if err != nil || c.Shard.Index != 1 || c.Shard.Count != 4 {
		t.Fatalf("flag: shard %+v, err %v", c.Shard, err)
	}
	if v, ok := spec.Lookup(env(map[string]string{"X": "y"}))("X"); !ok || v != "y" {
		t.Errorf("other variables must pass through")
	}
	// Malformed and out-of-range values are clear errors.
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{EnvShard: "two"}, `CAMRELAY_SHARD: must be a whole number, not "two"`},
		{map[string]string{EnvShard: ""}, "CAMRELAY_SHARD: is set but empty"},
		{map[string]string{EnvShards: "3x"}, `CAMRELAY_SHARDS: must be a whole number, not "3x"`},
		{map[string]string{EnvShard: "5", EnvShards: "3"}, "shard.index: must be from 0 to 2 (shard.count is 3), not 5"},
		{map[string]string{EnvShards: "0"}, "shard.count: must be 1 or more, not 0"},
	} {
		_, err := Parse([]byte(file), env(c.env), Caps{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("env %v: got %v, want %q", c.env, err, c.want)
		}
	}
	for _, bad := range []string{"", "1", "a/3", "1/b", "3/3", "-1/3", "0/0", "1/3/4"} {
		if _, err := ParseShardSpec(bad); err == nil {
			t.Errorf("ParseShardSpec(%q) accepted", bad)
		}
	}
}

func TestShardViewerURLs(t *testing.T) {
	file := shardCams + "shard: {index: 1, count: 3, viewer_urls: ['rtsp://camrelay-{shard}.camrelay:8554/{path}', 'http://camrelay-{shard}.camrelay:8889/{path}/whep?n={name}']}\n"
	c, err := Parse([]byte(file), env(nil), Caps{})
	if err != nil {
		t.Fatal(err)
	}
	gate, _ := c.Camera("gate")
	n := c.ShardOf("gate")
	got := c.ViewerURLs(c.Resolved(gate))
	want := []string{
		"rtsp://camrelay-" + string(rune('0'+n)) + ".camrelay:8554/site/gate",
		"http://camrelay-" + string(rune('0'+n)) + ".camrelay:8889/site/gate/whep?n=gate",
	}
	if !slices.Equal(got, want) {
		t.Errorf("viewer URLs %q, want %q", got, want)
	}
	if c.Local("gate") != (n == 1) {
		t.Errorf("Local(gate) = %v with owner %d and index 1", c.Local("gate"), n)
	}
}

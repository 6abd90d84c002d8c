package config

import (
	"runtime"
	"strings"
	"testing"
)

// fuzzSecret is what every ${VAR} expands to in FuzzParse: a value that
// must never come back in an error.
const fuzzSecret = "zq7s3cr3tq"

// secretLookup answers every variable with fuzzSecret, except the shard
// overrides (numbers, not secrets, and echoed on purpose when malformed),
// which are left unset.
func secretLookup(name string) (string, bool) {
	switch name {
	case EnvShard, EnvShards:
		return "", false
	}
	return fuzzSecret, true
}

// FuzzParse: any bytes as a configuration file are accepted or refused
// without a panic, with memory in proportion to the file (no alias bombs),
// and no error ever shows the value of an environment variable, however
// the file used it (a URL's password, a path, a user, a listen address). A
// configuration that is accepted validates again unchanged.
func FuzzParse(f *testing.F) {
	seeds := []string{
		good,
		"",
		"cameras: []\n",
		"output: rtsp://relay:${RELAY_PASS}@127.0.0.1:8554/{path}\ncameras:\n  - name: a\n    source: rtsp://u:${PW}@127.0.0.1/x\n  - name: b\n    source: rtsp://127.0.0.1/y\n    path: ${PW}\n",
		"cameras:\n  - name: a\n    source: ${URL}\n    path: ${P}/x y\n  - name: b\n    source: ${URL}\n    path: ${P}/x y\n",
		"cameras:\n  - name: cam\n    source: http://${U}:${P}@127.0.0.1:8080/video.mjpg\n    mode: transcode\n    video: {width: 640, height: 360, fps: 10, bitrate: 800k}\n",
		"api:\n  listen: ${LISTEN}\n  users: [{user: admin, pass: '${API_PASS}'}]\nmediamtx:\n  api: http://${H}:9997\n  user: ${U}\n  pass: ${P}\n",
		"auth:\n  keys: /nonexistent/keys\n  users: [{user: a, pass: '${H}', permissions: [{action: read, path: '~^(${X}'}]}]\n",
		"serve:\n  listen: 127.0.0.1:8080\n  url: ${S}\n  user: ${U}\n  pass: ${P}\n",
		"shard:\n  count: 3\n  index: 1\n  viewer_urls: ['${V}']\n",
		"cameras:\n  - name: x\n    source: rtsp://127.0.0.1/a\n    bogus_key: 1\n    transport: tpc\n",
		"cameras:\n  - {name: '../x', source: 'rtsp://${A}@[::1', stall_timeout: -1s}\n",
		"defaults: {stall_timeout: ${T}, ring_size: ${R}}\n",
		"a: &a [*a, *a]\nb: &b [*a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b]\n",
		"output: $${NOT_EXPANDED}\ncameras:\n - name: a\n   source: rtsp://${UNTERMINATED@h/\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if strings.Contains(strings.ToLower(string(b)), fuzzSecret) {
			return // the file itself wrote the marker
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		c, err := Parse(b, secretLookup, Caps{})
		runtime.ReadMemStats(&after)
		if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(16<<20+4096*len(b)); got > limit {
			t.Fatalf("%d bytes allocated for a %d-byte file (limit %d)", got, len(b), limit)
		}
		if err != nil {
			msg := strings.ToLower(err.Error())
			if strings.Contains(msg, fuzzSecret) || strings.Contains(msg, fuzzSecret[2:8]) {
				t.Fatalf("the error shows an environment value:\n%s", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("an accepted configuration does not validate again: %v", err)
		}
	})
}

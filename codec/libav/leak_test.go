//go:build libav

package libav

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/camrelay/camrelay/codec"
)

// cycle runs one transcoder's whole life: two sessions of video and audio,
// a snapshot, and Close.
func cycle(t *testing.T, jpgs [][]byte, tone []byte, mode string) {
	cfg := video(320, 240, 25)
	cfg.Audio = mode
	tc, err := New(cfg, &discard{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for session := range 2 {
		if err := tc.Begin([]codec.Track{jpegTrack, pcmuTrack}); err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			tc.WriteFrame(&codec.Frame{Codec: "JPEG", JPEG: jpgs[i%len(jpgs)], PTS: time.Duration(i) * 40 * ms, Received: codec.Now()})
			for j := range 2 {
				k := (2*i + j) % (len(tone) / 160)
				tc.WriteAudio(&codec.Packet{Track: 1, Timestamp: uint32((2*i + j) * 160), Received: codec.Now(), Payload: tone[k*160 : (k+1)*160]})
			}
		}
		if session == 0 {
			if _, err := tc.Snapshot(); err != nil {
				t.Fatal(err)
			}
		}
	}
	tc.Close()
}

// cHeap is the C heap in use after Go's finalizers had their chance (none of
// ours free libav objects, but go-astiav's might in a later version).
func cHeap() int {
	runtime.GC()
	return heapInUse()
}

// exactHeap reports whether this process counts the C heap exactly; if not,
// it runs the calling test again in a child process that does, and reports
// false. glibc's per-thread caches keep freed chunks that mallinfo2 counts
// as in use, a few KB per OS thread the Go scheduler happens to run cgo
// calls on; with the caches off, in-use bytes return to the byte after
// every object is freed.
func exactHeap(t *testing.T) bool {
	if os.Getenv("CAMRELAY_EXACT_HEAP") == "1" {
		return true
	}
	tunables := "glibc.malloc.tcache_count=0"
	if v := os.Getenv("GLIBC_TUNABLES"); v != "" {
		tunables = v + ":" + tunables
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "GLIBC_TUNABLES="+tunables, "CAMRELAY_EXACT_HEAP=1")
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.Contains(line, "heap") || strings.Contains(line, "FAIL") || strings.Contains(line, "_test.go") {
			t.Log(strings.TrimSpace(line))
		}
	}
	if err != nil {
		t.Fatalf("child process: %v", err)
	}
	return false
}

func TestNoLeakCreateClose(t *testing.T) {
	if !exactHeap(t) {
		return
	}
	tone, err := os.ReadFile("../../testdata/clips/g711u_8000.ulaw")
	if err != nil {
		t.Fatal(err)
	}
	jpgs := [][]byte{testJPEG(t, 320, 240, 0), testJPEG(t, 320, 240, 9), testJPEG(t, 640, 480, 3)}
	modes := []string{codec.AudioOpus, codec.AudioAAC, codec.AudioCopy}
	// Warm up: libav builds some tables once per process.
	for _, m := range modes {
		cycle(t, jpgs, tone, m)
	}
	before := cHeap()
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	const cycles = 30
	for i := range cycles {
		cycle(t, jpgs, tone, modes[i%len(modes)])
	}
	after := cHeap()
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	t.Logf("C heap in use %d -> %d bytes after %d transcoders; Go heap %d -> %d", before, after, cycles, ms0.HeapAlloc, ms1.HeapAlloc)
	// Exact counts: a leaked 320x240 picture would be 115 KB, a leaked x264
	// encoder several MB, a leaked packet or dictionary entry tens of bytes
	// per cycle.
	if after-before > 8<<10 {
		t.Errorf("C heap grew by %d bytes over %d transcoders", after-before, cycles)
	}
	if int64(ms1.HeapAlloc)-int64(ms0.HeapAlloc) > 1<<20 {
		t.Errorf("Go heap grew by %d bytes over %d transcoders", int64(ms1.HeapAlloc)-int64(ms0.HeapAlloc), cycles)
	}
}

func TestNoLeakLongRun(t *testing.T) {
	if !exactHeap(t) {
		return
	}
	tone, err := os.ReadFile("../../testdata/clips/g711u_8000.ulaw")
	if err != nil {
		t.Fatal(err)
	}
	cfg := video(160, 120, 25)
	cfg.Audio = codec.AudioAAC
	tc, err := New(cfg, &discard{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if err := tc.Begin([]codec.Track{jpegTrack, pcmuTrack}); err != nil {
		t.Fatal(err)
	}
	jpgs := [][]byte{testJPEG(t, 160, 120, 0), testJPEG(t, 160, 120, 5), testJPEG(t, 160, 120, 11)}
	run := func(from, to int) {
		for i := from; i < to; i++ {
			tc.WriteFrame(&codec.Frame{Codec: "JPEG", JPEG: jpgs[i%len(jpgs)], PTS: time.Duration(i) * 40 * ms, Received: codec.Now()})
			for j := range 2 {
				k := (2*i + j) % (len(tone) / 160)
				tc.WriteAudio(&codec.Packet{Track: 1, Timestamp: uint32((2*i + j) * 160), Received: codec.Now(), Payload: tone[k*160 : (k+1)*160]})
			}
			if i%500 == 0 {
				tc.Snapshot() //nolint:errcheck // exercised for leaks only
			}
		}
	}
	run(0, 300)
	before := cHeap()
	run(300, 3000)
	after := cHeap()
	st := tc.Stats()
	t.Logf("C heap in use %d -> %d bytes over %d frames", before, after, st.FramesOut)
	if st.FramesOut != 3000 || st.DecodeErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
	if after-before > 8<<10 {
		t.Errorf("C heap grew by %d bytes over 2700 frames", after-before)
	}
}

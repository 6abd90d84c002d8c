//go:build libav

package relay

import (
	"bytes"
	"image/jpeg"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/camrelay/camrelay/codec"
	"github.com/camrelay/camrelay/relay/ring"
	"github.com/camrelay/camrelay/transport"
)

// clipAUs splits an Annex-B clip into access units (one slice per picture,
// as the committed clips are made): NAL units up to and including each
// picture's slice.
func clipAUs(t *testing.T, path string, h265 bool) [][][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var aus [][][]byte
	var au [][]byte
	for nal, rest := codec.NextAnnexB(b); nal != nil; nal, rest = codec.NextAnnexB(rest) {
		au = append(au, nal)
		vcl := nal[0]&0x1f >= 1 && nal[0]&0x1f <= 5
		if h265 {
			vcl = (nal[0]>>1)&0x3f < 32
		}
		if vcl {
			aus, au = append(aus, au), nil
		}
	}
	return aus
}

// writeAUs writes access units into w through the copy path (transport's
// Ingest: keyframe flags, re-fragmentation of NAL units over the ring's
// payload limit), one RTP packet per NAL unit as cameras that send big
// packets do.
func writeAUs(w codec.PacketWriter, track codec.Track, aus [][][]byte) {
	in := transport.NewIngest(w, nil)
	in.Begin([]codec.Track{track})
	seq := uint16(100)
	for i, au := range aus {
		for j, nal := range au {
			p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: track.PayloadType, SequenceNumber: seq,
				Timestamp: uint32(1000 + 3600*i), Marker: j == len(au)-1}, Payload: nal}
			seq++
			in.WriteRTP(0, &p, codec.Now())
		}
	}
}

// A copy camera's snapshot: the newest keyframe in the ring, reassembled
// from RTP packets (FU-A / FU fragments included), decoded, JPEG-encoded,
// optionally scaled down.
func TestSnapshotOfNewestKeyframe(t *testing.T) {
	for _, c := range []struct {
		codec, clip string
		w, h        int
	}{
		{"H264", "../testdata/clips/h264_320x240_25.h264", 320, 240},
		{"H265", "../testdata/clips/h265_640x360_25.h265", 640, 360},
	} {
		t.Run(c.codec, func(t *testing.T) {
			aus := clipAUs(t, c.clip, c.codec == "H265")
			if len(aus) < 40 {
				t.Fatalf("%d access units in %s", len(aus), c.clip)
			}
			track := codec.Track{Kind: codec.KindVideo, Codec: c.codec, ClockRate: 90000, PayloadType: 96, RTPMap: c.codec + "/90000"}
			if c.codec == "H264" {
				track.FMTP = map[string]string{"packetization-mode": "1"}
			}
			r := ring.New(1 << 20) // the whole second GOP fits
			writeAUs(r, track, aus[:40])
			_, got, err := newestKeyframe(r, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			// GOP 25: the newest keyframe is frame 25.
			var want [][]byte
			for _, n := range aus[25] {
				want = append(want, n)
			}
			if len(got.NALUs) != len(want) {
				t.Fatalf("reassembled %d NAL units, want frame 25's %d", len(got.NALUs), len(want))
			}
			for i := range want {
				if !bytes.Equal(got.NALUs[i], want[i]) {
					t.Fatalf("NAL unit %d differs from frame 25's (%d bytes, want %d)", i, len(got.NALUs[i]), len(want[i]))
				}
			}

			p := &pipeline{ring: r, log: slog.Default()}
			for _, width := range []int{0, 160, 101, 4096} {
				jpg, err := p.snapshotWidth(width)
				if err != nil {
					t.Fatalf("width %d: %v", width, err)
				}
				cfg, err := jpeg.DecodeConfig(bytes.NewReader(jpg))
				if err != nil {
					t.Fatalf("width %d: not a JPEG: %v", width, err)
				}
				ww, wh := c.w, c.h
				if width > 0 && width < c.w {
					ww, wh = width, (c.h*width+c.w/2)/c.w
				}
				if cfg.Width != ww || cfg.Height != wh {
					t.Errorf("width %d: %dx%d JPEG, want %dx%d", width, cfg.Width, cfg.Height, ww, wh)
				}
			}
		})
	}
}

// No keyframe in the ring and none coming: the wait is bounded.
func TestSnapshotWithoutKeyframe(t *testing.T) {
	r := ring.New(ring.MinSize)
	if _, _, err := newestKeyframe(r, 100*time.Millisecond); err != codec.ErrNoPicture {
		t.Errorf("empty ring: %v, want ErrNoPicture", err)
	}
	track := codec.Track{Kind: codec.KindVideo, Codec: "H264", ClockRate: 90000, PayloadType: 96, RTPMap: "H264/90000"}
	aus := clipAUs(t, "../testdata/clips/h264_320x240_25.h264", false)
	writeAUs(r, track, [][][]byte{aus[1], aus[2]}) // P frames only
	start := time.Now()
	if _, _, err := newestKeyframe(r, 200*time.Millisecond); err == nil {
		t.Error("a snapshot without a keyframe")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("waited %v", d)
	}
}

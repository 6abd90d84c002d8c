//go:build libav

package libav

import (
	"bytes"
	"image"
	"image/jpeg"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/camrelay/camrelay/codec"
)

// sink is a codec.PacketWriter that keeps copies of everything written.
type sink struct {
	mu     sync.Mutex
	tracks [][]codec.Track
	pkts   []codec.Packet
}

func (s *sink) SetTracks(t []codec.Track) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tracks = append(s.tracks, t)
	return uint32(len(s.tracks))
}

func (s *sink) WritePacket(p *codec.Packet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := *p
	q.Payload = bytes.Clone(p.Payload)
	s.pkts = append(s.pkts, q)
}

func (s *sink) packets(track uint8) []codec.Packet {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []codec.Packet
	for _, p := range s.pkts {
		if p.Track == track {
			out = append(out, p)
		}
	}
	return out
}

func (s *sink) lastTracks() []codec.Track {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.tracks) == 0 {
		return nil
	}
	return s.tracks[len(s.tracks)-1]
}

// discard is a PacketWriter for benchmarks: it only counts.
type discard struct{ n, bytes int }

func (d *discard) SetTracks([]codec.Track) uint32 { return 1 }
func (d *discard) WritePacket(p *codec.Packet)    { d.n++; d.bytes += len(p.Payload) }

// au is an access unit reassembled from RTP/H.264 packets.
type au struct {
	ts    uint32
	nalus [][]byte
	sync  bool // its first packet carried FlagSync
}

// depacketize rebuilds H.264 access units (single NAL units and FU-A) from
// packets, failing the test on anything a receiver would reject.
func depacketize(t testing.TB, pkts []codec.Packet) []au {
	t.Helper()
	var aus []au
	var cur *au
	var fu []byte
	var lastSeq uint16
	for i, p := range pkts {
		if i > 0 && p.SequenceNumber != lastSeq+1 {
			t.Fatalf("packet %d: sequence %d after %d", i, p.SequenceNumber, lastSeq)
		}
		lastSeq = p.SequenceNumber
		if len(p.Payload) > codec.MaxPayload {
			t.Fatalf("packet %d: payload %d bytes", i, len(p.Payload))
		}
		if cur == nil {
			aus = append(aus, au{ts: p.Timestamp, sync: p.Flags&codec.FlagSync != 0})
			cur = &aus[len(aus)-1]
		} else if p.Timestamp != cur.ts {
			t.Fatalf("packet %d: timestamp %d inside the access unit at %d", i, p.Timestamp, cur.ts)
		}
		pl := p.Payload
		switch pl[0] & 0x1f {
		case 28: // FU-A
			start, end := pl[1]&0x80 != 0, pl[1]&0x40 != 0
			if start {
				if fu != nil {
					t.Fatalf("packet %d: FU-A start inside a fragmented NAL unit", i)
				}
				fu = []byte{pl[0]&0xe0 | pl[1]&0x1f}
			} else if fu == nil {
				t.Fatalf("packet %d: FU-A continues nothing", i)
			}
			fu = append(fu, pl[2:]...)
			if end {
				cur.nalus = append(cur.nalus, fu)
				fu = nil
			}
		case 24:
			t.Fatalf("packet %d: STAP-A not expected", i)
		default:
			if fu != nil {
				t.Fatalf("packet %d: NAL unit inside a fragmented one", i)
			}
			cur.nalus = append(cur.nalus, pl)
		}
		if p.Marker() {
			if fu != nil {
				t.Fatalf("packet %d: marker inside a fragmented NAL unit", i)
			}
			cur = nil
		}
	}
	if cur != nil {
		t.Fatalf("last access unit has no marker")
	}
	return aus
}

// decodeAll decodes access units with a Decoder and returns the pictures'
// sizes and luma planes (copied).
func decodeAll(t testing.TB, codecName string, aus []au) []Picture {
	t.Helper()
	d, err := NewDecoder(codecName)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var out []Picture
	for i, a := range aus {
		pics, err := d.Decode(&codec.Frame{Codec: codecName, NALUs: a.nalus, PTS: time.Duration(i)})
		if err != nil {
			t.Fatalf("decoding access unit %d: %v", i, err)
		}
		for _, p := range pics {
			p.Y = bytes.Clone(p.Y)
			out = append(out, p)
		}
	}
	return out
}

// testJPEG draws a w x h picture: a gradient background with a bright bar
// that moves with n, and encodes it as JPEG.
func testJPEG(t testing.TB, w, h, n int) []byte {
	t.Helper()
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	bar := (n * 8) % w
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := byte(60 + (x+y)*120/(w+h))
			if x >= bar && x < bar+w/16 {
				v = 230
			}
			img.Y[y*img.YStride+x] = v
		}
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = 128, 128
	}
	return encodeJPEG420(t, img)
}

// flatJPEG is a w x h picture of one luma value (full range).
func flatJPEG(t testing.TB, w, h int, y byte) []byte {
	t.Helper()
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	for i := range img.Y {
		img.Y[i] = y
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = 128, 128
	}
	return encodeJPEG420(t, img)
}

func encodeJPEG420(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// lumaAt averages a size x size block of the picture's luma at (x, y).
func lumaAt(p Picture, x, y, size int) int {
	sum := 0
	for dy := 0; dy < size; dy++ {
		for dx := 0; dx < size; dx++ {
			sum += int(p.Y[(y+dy)*p.Stride+x+dx])
		}
	}
	return sum / (size * size)
}

// jpegTrack is the video track of an MJPEG source.
var jpegTrack = codec.Track{Kind: codec.KindVideo, Codec: "JPEG", ClockRate: 90000, PayloadType: 26}

// readClip splits an Annex-B clip into access units.
func readClip(t testing.TB, path, codecName string) [][][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var aus [][][]byte
	var cur [][]byte
	vcl := false // cur has a picture's slice already
	for nal, rest := codec.NextAnnexB(b); nal != nil; nal, rest = codec.NextAnnexB(rest) {
		starts := false
		if codecName == "H264" {
			switch typ := nal[0] & 0x1f; {
			case typ == 9 || typ == 7 || typ == 8 || typ == 6:
				starts = vcl
			case typ == 1 || typ == 5:
				// first_mb_in_slice == 0 (ue(v) "1") opens a new picture
				starts = vcl && len(nal) > 1 && nal[1]&0x80 != 0
			}
		} else {
			switch typ := (nal[0] >> 1) & 0x3f; {
			case typ >= 32 && typ <= 40 && typ != 38 && typ != 36 && typ != 37:
				starts = vcl
			case typ < 32:
				// first_slice_segment_in_pic_flag
				starts = vcl && len(nal) > 2 && nal[2]&0x80 != 0
			}
		}
		if starts {
			aus = append(aus, cur)
			cur, vcl = nil, false
		}
		cur = append(cur, nal)
		if codecName == "H264" {
			typ := nal[0] & 0x1f
			vcl = vcl || typ == 1 || typ == 5
		} else {
			vcl = vcl || (nal[0]>>1)&0x3f < 32
		}
	}
	if cur != nil {
		aus = append(aus, cur)
	}
	return aus
}

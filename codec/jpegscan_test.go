package codec

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"testing"
)

func testJPEG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := testPicture(w, h, 12345, 1)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 75}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// withSegment inserts a segment right after SOI.
func withSegment(j []byte, marker byte, body []byte) []byte {
	out := append([]byte{}, j[:2]...)
	out = append(out, 0xff, marker, byte((len(body)+2)>>8), byte(len(body)+2))
	out = append(out, body...)
	return append(out, j[2:]...)
}

func scanAll(b []byte) (int, JPEGScanner, error) {
	var s JPEGScanner
	n, err := s.Next(b)
	return n, s, err
}

func TestJPEGScanner(t *testing.T) {
	j := testJPEG(t, 320, 240)
	thumb := testJPEG(t, 84, 48) // a whole JPEG, EOI included, inside APP1
	exif := append([]byte("Exif\x00\x00"), thumb...)

	cases := []struct {
		name string
		b    []byte
		n    int
		err  error
	}{
		{"plain", j, len(j), nil},
		{"trailing bytes", append(bytes.Clone(j), "\r\n--boundary\r\n"...), len(j), nil},
		{"thumbnail in APP1", withSegment(j, 0xe1, exif), len(j) + 4 + len(exif), nil},
		{"fill bytes before a marker", append([]byte{0xff, 0xd8, 0xff, 0xff, 0xff}, j[2:]...), len(j) + 3, nil},
		{"no SOI", j[2:], 0, ErrJPEGNoSOI},
		{"cut short, then a new JPEG", append(bytes.Clone(j[:len(j)/2]), j...), len(j) / 2, ErrJPEGCutShort},
		{"EOI before the scan", []byte{0xff, 0xd8, 0xff, 0xe0, 0, 4, 1, 2, 0xff, 0xd9}, 8, ErrJPEGEarlyEOI},
		{"SOS without SOF", []byte{0xff, 0xd8, 0xff, 0xda, 0, 8, 1, 1, 0, 0, 63, 0, 0x12, 0xff, 0xd9}, 2, ErrJPEGNoSOF},
		{"segment length 1", []byte{0xff, 0xd8, 0xff, 0xe0, 0, 1, 0, 0}, 2, ErrJPEGSegment},
		{"no marker after a segment", []byte{0xff, 0xd8, 0xff, 0xe0, 0, 2, 0x12, 0x34}, 6, ErrJPEGSegment},
		{"zero width", []byte{0xff, 0xd8, 0xff, 0xc0, 0, 11, 8, 0, 16, 0, 0, 1, 1, 0x11, 0}, 2, ErrJPEGBadSize},
		{"huge", []byte{0xff, 0xd8, 0xff, 0xc0, 0, 11, 8, 0xff, 0xff, 0xff, 0xff, 1, 1, 0x11, 0}, 2, ErrJPEGBadSize},
		{"SOF with a bad component count", []byte{0xff, 0xd8, 0xff, 0xc0, 0, 11, 8, 0, 16, 0, 16, 2, 1, 0x11, 0}, 2, ErrJPEGSegment},
	}
	for _, c := range cases {
		n, s, err := scanAll(c.b)
		if n != c.n || !errors.Is(err, c.err) {
			t.Errorf("%s: %d, %v; want %d, %v", c.name, n, err, c.n, c.err)
		}
		if c.err == nil && (s.Width != 320 || s.Height != 240) {
			t.Errorf("%s: size %dx%d", c.name, s.Width, s.Height)
		}
	}

	// Truncated: always "more please", never a wrong end.
	for _, cut := range []int{0, 1, 2, 3, 10, 200, len(j) / 2, len(j) - 1} {
		if n, _, err := scanAll(j[:cut]); n != 0 || err != nil {
			t.Errorf("cut at %d: %d, %v", cut, n, err)
		}
	}
}

// TestJPEGScannerIncremental feeds a JPEG (with a thumbnail) a few bytes at
// a time: the result must be what one call over everything gives.
func TestJPEGScannerIncremental(t *testing.T) {
	j := withSegment(testJPEG(t, 160, 120), 0xe1, append([]byte("Exif\x00\x00"), testJPEG(t, 84, 48)...))
	for _, step := range []int{1, 2, 3, 7, 100, 4096} {
		var s JPEGScanner
		n := 0
		var err error
		for end := 0; ; end = min(end+step, len(j)) {
			n, err = s.Next(j[:end])
			if n != 0 || err != nil || end == len(j) {
				break
			}
		}
		if n != len(j) || err != nil || s.Width != 160 {
			t.Errorf("step %d: %d, %v, width %d; want %d", step, n, err, s.Width, len(j))
		}
	}
}

// TestJPEGScannerProgressive checks a multi-scan JPEG: a DHT and a second
// SOS between scans.
func TestJPEGScannerProgressive(t *testing.T) {
	j := testJPEG(t, 160, 120)
	eoi := len(j) - 2
	second := []byte{0xff, 0xc4, 0, 3, 0x00, 0xff, 0xda, 0, 8, 1, 1, 0, 1, 63, 0, 0x12, 0x34}
	p := append(append(bytes.Clone(j[:eoi]), second...), 0xff, 0xd9)
	if n, s, err := scanAll(p); n != len(p) || err != nil || s.scans != 2 {
		t.Errorf("%d, %v, %d scans; want %d, 2 scans", n, err, s.scans, len(p))
	}
	if _, _, err := image.DecodeConfig(bytes.NewReader(j)); err != nil {
		t.Fatal(err)
	}
}

func TestJPEGScannerAllocs(t *testing.T) {
	j := testJPEG(t, 320, 240)
	var s JPEGScanner
	if a := testing.AllocsPerRun(100, func() { s.Reset(); _, _ = s.Next(j) }); a != 0 {
		t.Errorf("%.1f allocations", a)
	}
}

// checkScanner holds the scanner to its contract on any input: no panic,
// an end inside the input, and the same answer incrementally.
func checkScanner(t *testing.T, b []byte, step int) {
	n, _, err := scanAll(b)
	if n < 0 || n > len(b) {
		t.Fatalf("end %d of %d", n, len(b))
	}
	// Incremental must agree with all at once.
	if step < 1 {
		step = 1
	}
	var s JPEGScanner
	var n2 int
	var err2 error
	for end := min(step, len(b)); ; end = min(end+step, len(b)) {
		n2, err2 = s.Next(b[:end])
		if n2 != 0 || err2 != nil || end == len(b) {
			break
		}
	}
	if n2 != n || !errors.Is(err2, err) {
		t.Fatalf("incremental %d, %v; at once %d, %v", n2, err2, n, err)
	}
}

// TestJPEGScannerMutations is a deterministic fuzz run: JPEGs with bytes
// changed, inserted and cut.
func TestJPEGScannerMutations(t *testing.T) {
	j := withSegment(testJPEG(t, 84, 48), 0xe1, []byte("Exif\x00\x00\xff\xd9"))
	r := rand.New(rand.NewPCG(9, 9))
	for range 5000 {
		b := bytes.Clone(j)
		for range 1 + r.IntN(4) {
			switch i := r.IntN(len(b)); r.IntN(3) {
			case 0:
				b[i] = []byte{0xff, 0x00, 0xd8, 0xd9, 0xda, 0xc0, byte(r.IntN(256))}[r.IntN(7)]
			case 1:
				b = b[:i]
			default:
				b = append(b[:i], append([]byte{0xff, byte(r.IntN(256))}, b[i:]...)...)
			}
			if len(b) == 0 {
				break
			}
		}
		checkScanner(t, b, 1+r.IntN(300))
	}
}

func FuzzJPEGScanner(f *testing.F) {
	f.Add(testJPEG(f, 84, 48), 7)
	f.Add([]byte{0xff, 0xd8, 0xff, 0xda, 0, 2, 0xff, 0xd9}, 1)
	f.Fuzz(checkScanner)
}

func BenchmarkJPEGScanner(b *testing.B) {
	j := testJPEG(b, 1280, 720)
	var s JPEGScanner
	b.SetBytes(int64(len(j)))
	for b.Loop() {
		s.Reset()
		_, _ = s.Next(j)
	}
}

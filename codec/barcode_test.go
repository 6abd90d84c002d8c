package codec

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"testing"
	"time"
)

// testPicture is a 4:2:0 picture with a busy background (gradient and
// noise, bright and dark) and a barcode of t drawn in.
func testPicture(w, h int, t int64, seed uint64) *image.YCbCr {
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	r := rand.New(rand.NewPCG(seed, 1))
	for yy := range h {
		for xx := range w {
			v := (xx*255/w + yy*255/h) / 2
			v += r.IntN(64) - 32
			img.Y[yy*img.YStride+xx] = byte(max(0, min(255, v)))
		}
	}
	for i := range img.Cb {
		img.Cb[i] = byte(96 + r.IntN(64))
		img.Cr[i] = byte(96 + r.IntN(64))
	}
	DrawBarcode(img.Y, img.YStride, w, h, t)
	return img
}

// jpegRoundTrip encodes the picture with image/jpeg at quality q and decodes
// it again, returning the luma plane.
func jpegRoundTrip(t testing.TB, img *image.YCbCr, q int) ([]byte, int) {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	dec, err := jpeg.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	yc, ok := dec.(*image.YCbCr)
	if !ok {
		t.Fatalf("decoded a %T", dec)
	}
	return yc.Y, yc.YStride
}

// scaleInto scales a luma plane bilinearly to dw x dh and places it at
// (ox, oy) in a black (16) canvas of cw x ch: what a transcoder's "fit" mode
// or a stretch does.
func scaleInto(src []byte, sstride, sw, sh, dw, dh, cw, ch, ox, oy int) []byte {
	dst := bytes.Repeat([]byte{16}, cw*ch)
	for y := range dh {
		fy := (float64(y)+0.5)*float64(sh)/float64(dh) - 0.5
		fy = max(0, min(fy, float64(sh-1)))
		y0 := int(fy)
		y1 := min(y0+1, sh-1)
		wy := fy - float64(y0)
		for x := range dw {
			fx := (float64(x)+0.5)*float64(sw)/float64(dw) - 0.5
			fx = max(0, min(fx, float64(sw-1)))
			x0 := int(fx)
			x1 := min(x0+1, sw-1)
			wx := fx - float64(x0)
			a := float64(src[y0*sstride+x0])*(1-wx) + float64(src[y0*sstride+x1])*wx
			b := float64(src[y1*sstride+x0])*(1-wx) + float64(src[y1*sstride+x1])*wx
			dst[(oy+y)*cw+ox+x] = byte(a*(1-wy) + b*wy + 0.5)
		}
	}
	return dst
}

func addNoise(p []byte, amp int, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 2))
	for i, v := range p {
		p[i] = byte(max(0, min(255, int(v)+r.IntN(2*amp+1)-amp)))
	}
}

var barcodeTimes = []int64{
	0,
	1,
	time.Date(2026, 11, 26, 12, 0, 0, 123e6, time.UTC).UnixMilli(),
	1<<44 - 1,
	0x5555_5555_555,
	0xaaa_aaaa_aaaa,
}

func TestBarcodeRoundTrip(t *testing.T) {
	for _, size := range [][2]int{{84, 48}, {160, 120}, {320, 240}, {640, 480}, {800, 600}, {1280, 720}, {1920, 1080}, {1283, 721}} {
		w, h := size[0], size[1]
		for _, ts := range barcodeTimes {
			img := testPicture(w, h, ts, uint64(w))
			got, ok := ReadBarcode(img.Y, img.YStride, w, h)
			if !ok || got != ts {
				t.Errorf("%dx%d: read %d, %v; want %d", w, h, got, ok, ts)
			}
		}
	}
}

func TestBarcodeHeight(t *testing.T) {
	for _, tc := range []struct{ w, h, want int }{
		{1280, 720, 96}, {640, 480, 48}, {320, 240, 16}, {800, 600, 64}, {1920, 1080, 144}, {83, 100, 0}, {84, 16, 8},
	} {
		if got := BarcodeHeight(tc.w, tc.h); got != tc.want {
			t.Errorf("BarcodeHeight(%d, %d) = %d, want %d", tc.w, tc.h, got, tc.want)
		}
	}
}

func TestBarcodeJPEG(t *testing.T) {
	for _, size := range [][2]int{{320, 240}, {640, 480}, {1280, 720}} {
		for _, q := range []int{50, 75, 90} {
			ts := time.Now().UnixMilli()
			img := testPicture(size[0], size[1], ts, 3)
			y, stride := jpegRoundTrip(t, img, q)
			if got, ok := ReadBarcode(y, stride, size[0], size[1]); !ok || got != ts {
				t.Errorf("%dx%d q%d: read %d, %v; want %d", size[0], size[1], q, got, ok, ts)
			}
		}
	}
}

// TestBarcodeScaled goes through what a transcoder does: JPEG at quality 75,
// then scaling by 0.5 to 3 in each direction, fit with bars or stretched,
// then noise as a lossy encoder adds.
func TestBarcodeScaled(t *testing.T) {
	type tc struct {
		name           string
		sw, sh         int // source
		dw, dh, cw, ch int // scaled size and canvas
	}
	cases := []tc{
		{"640x480 fit 1280x720 (pillarbox)", 640, 480, 960, 720, 1280, 720},
		{"1280x720 fit 640x480 (letterbox)", 1280, 720, 640, 360, 640, 480},
		{"320x240 fit 1280x720", 320, 240, 960, 720, 1280, 720},
		{"1280x720 fit 1920x1080", 1280, 720, 1920, 1080, 1920, 1080},
		{"800x600 stretch 1280x720", 800, 600, 1280, 720, 1280, 720},
	}
	for _, src := range [][2]int{{640, 480}, {320, 240}} {
		for _, fx := range []float64{0.5, 0.75, 1, 1.5, 2.25, 3} {
			for _, fy := range []float64{0.5, 1.3, 3} {
				dw, dh := int(float64(src[0])*fx), int(float64(src[1])*fy)
				cases = append(cases, tc{fmt.Sprintf("%dx%d x%.2g,%.2g", src[0], src[1], fx, fy), src[0], src[1], dw, dh, dw + 40, dh + 30})
			}
		}
	}
	type key struct {
		w, h int
		ts   int64
	}
	decoded := map[key][]byte{}
	for n, c := range cases {
		// Two of the times per case, a different pair each time.
		for _, ts := range []int64{barcodeTimes[n%len(barcodeTimes)], barcodeTimes[(n+3)%len(barcodeTimes)]} {
			k := key{c.sw, c.sh, ts}
			y := decoded[k]
			if y == nil {
				img := testPicture(c.sw, c.sh, ts, uint64(n))
				y, _ = jpegRoundTrip(t, img, 75) // stride == width for these sizes
				decoded[k] = y
			}
			ox, oy := (c.cw-c.dw)/2, (c.ch-c.dh)/2
			out := scaleInto(y, c.sw, c.sw, c.sh, c.dw, c.dh, c.cw, c.ch, ox, oy)
			if got, ok := ReadBarcode(out, c.cw, c.cw, c.ch); !ok || got != ts {
				t.Errorf("%s: read %d, %v; want %d", c.name, got, ok, ts)
			}
			addNoise(out, 40, uint64(n))
			if got, ok := ReadBarcode(out, c.cw, c.cw, c.ch); !ok || got != ts {
				t.Errorf("%s with noise: read %d, %v; want %d", c.name, got, ok, ts)
			}
		}
	}
}

func TestBarcodeAbsent(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	false1 := 0
	const n = 500
	for i := range n {
		w, h := 64+r.IntN(400), 48+r.IntN(300)
		p := make([]byte, w*h)
		for j := range p {
			p[j] = byte(r.IntN(256))
		}
		if i%2 == 0 {
			// Big flat blocks, closer to a code than noise is.
			bw := 4 + r.IntN(40)
			for y := range h {
				for x := range w {
					p[y*w+x] = byte(((x/bw)*7 + (y/bw)*13) % 5 * 60)
				}
			}
		}
		if _, ok := ReadBarcode(p, w, w, h); ok {
			false1++
		}
	}
	// The guards and the CRC leave about 1/256 of lookalikes through at
	// worst; none of these should come close.
	if false1 > 3 {
		t.Errorf("%d of %d pictures without a code read as one", false1, n)
	}
	black := bytes.Repeat([]byte{16}, 640*480)
	if _, ok := ReadBarcode(black, 640, 640, 480); ok {
		t.Error("black picture read as a code")
	}
	white := bytes.Repeat([]byte{235}, 640*480)
	if _, ok := ReadBarcode(white, 640, 640, 480); ok {
		t.Error("white picture read as a code")
	}
	// A damaged code: one data cell flipped.
	img := testPicture(640, 480, 123456789, 1)
	for y := range 24 {
		for x := 5 * 640 / 28; x < 6*640/28; x++ {
			img.Y[y*img.YStride+x] ^= 0xff
		}
	}
	if _, ok := ReadBarcode(img.Y, img.YStride, 640, 480); ok {
		t.Error("code with a flipped cell passed its CRC")
	}
}

func TestBarcodeBadPlanes(t *testing.T) {
	p := make([]byte, 100)
	DrawBarcode(p, 10, 10, 10, 1) // too small: nothing drawn
	DrawBarcode(p, 100, 100, 100, 1)
	DrawBarcode(nil, 0, 0, 0, 1)
	for _, a := range [][3]int{{0, 0, 0}, {10, 100, 10}, {100, 100, 100}, {-1, 5, 5}, {5, -1, 5}, {1 << 40, 1, 1 << 40}} {
		if _, ok := ReadBarcode(p, a[0], a[1], a[2]); ok {
			t.Errorf("ReadBarcode(stride %d, %dx%d) read a code", a[0], a[1], a[2])
		}
	}
}

// TestReadBarcodeRandomPlanes throws near-valid and invalid geometry at
// ReadBarcode: it must never index outside the plane.
func TestReadBarcodeRandomPlanes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	img := testPicture(320, 240, 5, 1)
	for range 20000 {
		w, h := r.IntN(400)-5, r.IntN(300)-5
		stride := w + r.IntN(20) - 5
		n := r.IntN(len(img.Y) + 1)
		ReadBarcode(img.Y[:n], stride, w, h)
		DrawBarcode(bytes.Clone(img.Y[:n]), stride, w, h, 7)
	}
}

func TestReadBarcodeAllocs(t *testing.T) {
	img := testPicture(1280, 720, 42, 1)
	if a := testing.AllocsPerRun(100, func() { ReadBarcode(img.Y, img.YStride, 1280, 720) }); a != 0 {
		t.Errorf("%.1f allocations per read", a)
	}
}

func FuzzReadBarcode(f *testing.F) {
	img := testPicture(112, 64, 99, 1)
	f.Add(img.Y, img.YStride, 112, 64)
	f.Add([]byte{1, 2, 3}, 1, 1, 3)
	f.Add(make([]byte, 4096), 64, 64, 64)
	f.Fuzz(func(t *testing.T, y []byte, stride, width, height int) {
		ts, ok := ReadBarcode(y, stride, width, height)
		if ok && (ts < 0 || ts >= 1<<44) {
			t.Errorf("read %d", ts)
		}
	})
}

func BenchmarkReadBarcode(b *testing.B) {
	img := testPicture(1280, 720, 42, 1)
	for b.Loop() {
		ReadBarcode(img.Y, img.YStride, 1280, 720)
	}
}

func BenchmarkDrawBarcode(b *testing.B) {
	img := testPicture(1280, 720, 42, 1)
	for b.Loop() {
		DrawBarcode(img.Y, img.YStride, 1280, 720, 42)
	}
}

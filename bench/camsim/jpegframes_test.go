package camsim

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"testing"
	"time"

	"github.com/camrelay/camrelay/codec"
)

func TestQuantizeFlat(t *testing.T) {
	quant := quantTables(jpegQuality)
	for q := range 2 {
		for v := range 256 {
			var b, c block
			for i := range b {
				b[i], c[i] = int32(v), int32(v)
			}
			var fast, slow qblock
			quantize(&fast, &b, &quant[q], true)
			quantize(&slow, &c, &quant[q], false)
			if fast.c[0] != slow.c[0] || fast.last != 0 || slow.last != 0 {
				t.Fatalf("table %d value %d: flat path %v, DCT %v", q, v, fast.c[:4], slow.c[:4])
			}
		}
	}
}

// decodeJPEG decodes with image/jpeg, an independent decoder.
func decodeJPEG(t testing.TB, b []byte) *image.YCbCr {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("image/jpeg: %v", err)
	}
	yc, ok := img.(*image.YCbCr)
	if !ok {
		t.Fatalf("decoded a %T", img)
	}
	return yc
}

func psnr(a []byte, astride int, b []byte, bstride, w, h int) float64 {
	var se float64
	for y := range h {
		for x := range w {
			d := float64(a[y*astride+x]) - float64(b[y*bstride+x])
			se += d * d
		}
	}
	mse := se / float64(w*h)
	if mse == 0 {
		return 99
	}
	return 10 * math.Log10(255*255/mse)
}

func TestEncodeJPEG(t *testing.T) {
	for _, tc := range []struct{ w, h, sub int }{
		{640, 480, sub420}, {640, 480, sub422}, {800, 600, sub420}, {1283, 721, sub420}, {1283, 721, sub422}, {16, 8, sub420}, {8, 8, sub422},
	} {
		p := newPicture(tc.w, tc.h, tc.sub)
		renderScene(p, 3, jpegBackgrounds)
		quant := quantTables(jpegQuality)
		b := encodeJPEG(nil, p, &quant)
		img := decodeJPEG(t, b)
		if img.Rect.Dx() != tc.w || img.Rect.Dy() != tc.h {
			t.Fatalf("%dx%d: decoded %v", tc.w, tc.h, img.Rect)
		}
		wantRatio := image.YCbCrSubsampleRatio420
		if tc.sub == sub422 {
			wantRatio = image.YCbCrSubsampleRatio422
		}
		if img.SubsampleRatio != wantRatio {
			t.Errorf("%dx%d: subsampling %v", tc.w, tc.h, img.SubsampleRatio)
		}
		// Tiny pictures are all texture and edge; quality 75 keeps less.
		minPSNR := 30.0
		if tc.w < 64 {
			minPSNR = 24
		}
		if q := psnr(p.y, p.w, img.Y, img.YStride, tc.w, tc.h); q < minPSNR {
			t.Errorf("%dx%d sub %d: luma PSNR %.1f dB", tc.w, tc.h, tc.sub, q)
		}
		if q := psnr(p.cb, p.cw, img.Cb, img.CStride, p.cw, p.ch); q < minPSNR {
			t.Errorf("%dx%d sub %d: Cb PSNR %.1f dB", tc.w, tc.h, tc.sub, q)
		}
	}
}

// TestJPEGFramesSplice checks the fast path against the slow one: a frame
// made by splicing must be byte for byte the JPEG of the whole stamped
// picture, and its barcode must read back after decoding.
func TestJPEGFramesSplice(t *testing.T) {
	for _, tc := range []struct{ w, h, sub int }{
		{640, 480, sub420}, {320, 240, sub422}, {800, 600, sub420}, {200, 100, sub420}, {1283, 721, sub422}, {64, 16, sub420},
	} {
		t.Run(fmt.Sprintf("%dx%d/%d", tc.w, tc.h, tc.sub), func(t *testing.T) {
			if testing.Short() && tc.w*tc.h > 640*480 {
				t.Skip("big pictures are slow under the race detector")
			}
			f := newJPEGFrames(tc.w, tc.h, tc.sub)
			var sc jpegScratch
			var buf []byte
			for _, i := range []int{0, 1, 5, jpegBackgrounds - 1, jpegBackgrounds, jpegBackgrounds + 1} {
				ms := time.Now().UnixMilli() + int64(i)*40
				buf = f.frame(buf[:0], &sc, i, ms, true)

				p := newPicture(tc.w, tc.h, tc.sub)
				renderScene(p, i%jpegBackgrounds, jpegBackgrounds)
				codec.DrawBarcode(p.y, p.w, p.w, p.h, ms)
				want := encodeJPEG(nil, p, &f.quant)
				if !bytes.Equal(buf, want) {
					t.Fatalf("frame %d: spliced JPEG (%d bytes) differs from the whole encode (%d bytes)", i, len(buf), len(want))
				}
				if tc.w < 84 {
					continue // no code in pictures this narrow
				}
				img := decodeJPEG(t, buf)
				if got, ok := codec.ReadBarcode(img.Y, img.YStride, tc.w, tc.h); !ok || got != ms {
					t.Fatalf("frame %d: barcode %d, %v; want %d", i, got, ok, ms)
				}
				scan := f.frame(nil, &sc, i, ms, false)
				if !bytes.Equal(scan, buf[len(f.header):len(buf)-2]) {
					t.Fatalf("frame %d: scan alone differs from the scan of the JPEG", i)
				}
			}
		})
	}
}

// TestJPEGFramesMove checks that the pictures move: consecutive frames
// differ below the barcode.
func TestJPEGFramesMove(t *testing.T) {
	f := newJPEGFrames(320, 240, sub420)
	var sc jpegScratch
	a := decodeJPEG(t, f.frame(nil, &sc, 0, 1, true))
	b := decodeJPEG(t, f.frame(nil, &sc, 1, 1, true))
	band := codec.BarcodeHeight(320, 240)
	if q := psnr(a.Y[band*a.YStride:], a.YStride, b.Y[band*b.YStride:], b.YStride, 320, 240-band); q > 30 {
		t.Errorf("consecutive frames nearly equal: PSNR %.1f dB", q)
	}
}

func TestJPEGFrameAllocs(t *testing.T) {
	f := newJPEGFrames(640, 480, sub420)
	var sc jpegScratch
	buf := f.frame(nil, &sc, 0, 1, true)
	i := 0
	if a := testing.AllocsPerRun(50, func() {
		i++
		buf = f.frame(buf[:0], &sc, i, int64(i), true)
	}); a != 0 {
		t.Errorf("%.1f allocations per frame", a)
	}
}

// BenchmarkJPEGFrame is the cost of one MJPEG frame, the figure the
// harness's CPU budget depends on (target: 2 ms at 720p).
func BenchmarkJPEGFrame(b *testing.B) {
	for _, tc := range []struct {
		name      string
		w, h, sub int
	}{
		{"640x480", 640, 480, sub420},
		{"1280x720", 1280, 720, sub420},
		{"1280x720/422", 1280, 720, sub422},
		{"1920x1080", 1920, 1080, sub420},
	} {
		b.Run(tc.name, func(b *testing.B) {
			f := newJPEGFrames(tc.w, tc.h, tc.sub)
			var sc jpegScratch
			buf := f.frame(nil, &sc, 0, 1, true)
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				i++
				buf = f.frame(buf[:0], &sc, i, int64(i), true)
			}
			b.ReportMetric(float64(len(buf)), "bytes/frame")
		})
	}
}

// BenchmarkImageJPEG is the reference: image/jpeg encoding a whole frame.
func BenchmarkImageJPEG(b *testing.B) {
	p := newPicture(1280, 720, sub420)
	renderScene(p, 0, jpegBackgrounds)
	img := &image.YCbCr{Y: p.y, Cb: p.cb, Cr: p.cr, YStride: p.w, CStride: p.cw, SubsampleRatio: image.YCbCrSubsampleRatio420, Rect: image.Rect(0, 0, p.w, p.h)}
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		_ = jpeg.Encode(&buf, img, &jpeg.Options{Quality: jpegQuality})
	}
}

func BenchmarkNewJPEGFrames720(b *testing.B) {
	for b.Loop() {
		newJPEGFrames(1280, 720, sub420)
	}
}

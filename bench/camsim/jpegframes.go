package camsim

import (
	"math"
	"slices"
	"sync"

	"github.com/camrelay/camrelay/codec"
)

// How camsim makes an MJPEG frame in well under 2 ms at 720p, when
// image/jpeg needs tens of milliseconds for one:
//
// A moving scene of jpegBackgrounds pictures is rendered and encoded once
// per size (and shared by every camera of a Server). Per frame, only the MCU
// rows that hold the barcode (codec.BarcodeHeight: whole MCU rows, 6 of 45 at
// 720p) are entropy-coded afresh; the rest of the scan is spliced on from
// the pre-encoded picture. No restart markers are involved (RTP/JPEG
// receivers, FFmpeg's and gortsplib's among them, do not take them), so the
// splice has two seams to mind:
//
//   - DC prediction runs across the seam. The first MCU below the band is
//     kept as quantized blocks and coded per frame against the band's last
//     DC values; from the second MCU on, the predictors no longer depend on
//     the band and the bits are fixed.
//   - The band ends on any bit. The fixed tail is kept as raw, unstuffed
//     bits and shifted into place with byte stuffing as it is copied
//     (bitWriter.appendBits): a pass over 100 KB, about 0.1 ms.
//
// The barcode's band is mostly flat 8x8 blocks, which skip the DCT
// (quantize), so a frame costs a few hundred DCTs and a copy.

// jpegBackgrounds is the number of distinct pictures a camera cycles
// through: enough for visible motion, few enough to encode quickly at start.
const jpegBackgrounds = 12

// jpegQuality is the quality of camsim's JPEGs, what cameras commonly use.
const jpegQuality = 75

// jpegFrames are the pre-encoded pictures of one size and subsampling.
// Read-only once built; any number of cameras share one.
type jpegFrames struct {
	w, h, sub int
	quant     [2][64]byte
	header    []byte // SOI to SOS
	bandRows  int    // MCU rows coded per frame
	bg        []jpegBackground
}

type jpegBackground struct {
	// The background under the barcode: the planes' lines of the first
	// bandRows MCU rows.
	y, cb, cr []byte
	first     []qblock // the first MCU below the band
	tail      []byte   // raw bits of every MCU after it
	nTail     int      // number of bits in tail
}

// jpegFrameSet builds (once) and shares the frames of a size.
type jpegFrameSet struct {
	mu sync.Mutex
	m  map[[3]int]*jpegFramesEntry
}

type jpegFramesEntry struct {
	once sync.Once
	f    *jpegFrames
}

func (s *jpegFrameSet) get(w, h, sub int) *jpegFrames {
	k := [3]int{w, h, sub}
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[[3]int]*jpegFramesEntry)
	}
	e := s.m[k]
	if e == nil {
		e = &jpegFramesEntry{}
		s.m[k] = e
	}
	s.mu.Unlock()
	e.once.Do(func() { e.f = newJPEGFrames(w, h, sub) })
	return e.f
}

func newJPEGFrames(w, h, sub int) *jpegFrames {
	f := &jpegFrames{w: w, h: h, sub: sub, quant: quantTables(jpegQuality)}
	f.header = appendJPEGHeader(nil, w, h, sub, &f.quant)
	probe := &picture{w: w, h: h, sub: sub}
	mh := probe.mcuHeight()
	f.bandRows = min(probe.mcuRows(), (codec.BarcodeHeight(w, h)+mh-1)/mh)
	if f.bandRows == 0 {
		f.bandRows = 1 // a picture too small for a code still gets fresh rows
	}
	n := probe.blocksPerMCU()
	for i := range jpegBackgrounds {
		p := newPicture(w, h, sub)
		renderScene(p, i, jpegBackgrounds)
		lines, cl := f.bandLines()
		bg := jpegBackground{
			y:  slices.Clone(p.y[:lines*w]),
			cb: slices.Clone(p.cb[:cl*p.cw]),
			cr: slices.Clone(p.cr[:cl*p.cw]),
		}
		if f.bandRows < p.mcuRows() {
			bg.first = make([]qblock, n)
			p.mcuBlocks(bg.first, &f.quant, 0, f.bandRows)
			// The tail's predictors start from the first MCU's DCs.
			pred := [3]int32{int32(bg.first[n-3].c[0]), int32(bg.first[n-2].c[0]), int32(bg.first[n-1].c[0])}
			w := bitWriter{}
			var qbs [6]qblock
			for my := f.bandRows; my < p.mcuRows(); my++ {
				for mx := range p.mcuCols() {
					if my == f.bandRows && mx == 0 {
						continue
					}
					p.mcuBlocks(qbs[:n], &f.quant, mx, my)
					emitMCU(&w, qbs[:n], &pred)
				}
			}
			bg.tail, bg.nTail = w.rawBits()
		}
		f.bg = append(f.bg, bg)
	}
	return f
}

// bandLines is the number of luma and chroma lines coded per frame.
func (f *jpegFrames) bandLines() (luma, chroma int) {
	mh := 16
	if f.sub == sub422 {
		mh = 8
	}
	luma = min(f.h, f.bandRows*mh)
	chroma = luma
	if f.sub == sub420 {
		chroma = (luma + 1) / 2
	}
	return luma, chroma
}

// jpegScratch is one camera's working copy of the band; frames of
// different cameras are made concurrently.
type jpegScratch struct {
	pic *picture
}

// frame appends the JPEG of background i (mod the number of backgrounds)
// stamped with ms (Unix milliseconds) to dst. With header false only the
// entropy-coded scan is appended (what RTP/JPEG carries), without EOI.
func (f *jpegFrames) frame(dst []byte, sc *jpegScratch, i int, ms int64, header bool) []byte {
	bg := &f.bg[i%len(f.bg)]
	if sc.pic == nil || sc.pic.w != f.w || sc.pic.h != f.h || sc.pic.sub != f.sub {
		sc.pic = newPicture(f.w, f.h, f.sub)
	}
	p := sc.pic
	copy(p.y, bg.y)
	copy(p.cb, bg.cb)
	copy(p.cr, bg.cr)
	codec.DrawBarcode(p.y, f.w, f.w, f.h, ms)

	if header {
		dst = append(dst, f.header...)
	}
	w := bitWriter{buf: dst, stuff: true}
	var pred [3]int32
	encodeRows(&w, p, &f.quant, 0, f.bandRows, &pred)
	if bg.first != nil {
		emitMCU(&w, bg.first, &pred)
		w.appendBits(bg.tail, bg.nTail)
	}
	w.pad()
	if header {
		return append(w.buf, 0xff, 0xd9)
	}
	return w.buf
}

// renderScene draws picture i of a loop of n: a lit gradient with texture,
// and a few shapes moving along closed paths, so that consecutive pictures
// differ everywhere a camera's would and the JPEG carries a realistic
// amount of detail. The barcode's band is left neutral grey in chroma.
func renderScene(p *picture, i, n int) {
	ph := 2 * math.Pi * float64(i) / float64(n)
	w, h := float64(p.w), float64(p.h)
	type disc struct{ cx, cy, r, y, cb, cr float64 }
	discs := []disc{
		{w * (0.5 + 0.3*math.Cos(ph)), h * (0.55 + 0.25*math.Sin(ph)), h * 0.12, 200, 90, 170},
		{w * (0.5 + 0.35*math.Sin(2*ph)), h * (0.6 + 0.2*math.Cos(ph)), h * 0.08, 60, 170, 100},
		{w * (0.3 + 0.1*math.Cos(3*ph)), h * (0.4 + 0.15*math.Sin(2*ph)), h * 0.06, 150, 120, 60},
	}
	// A hash-based texture: cheap, deterministic, and busy enough that the
	// encoder has AC coefficients to code everywhere.
	tex := func(x, y int) float64 {
		v := uint32(x/2)*0x9e3779b1 ^ uint32(y/2)*0x85ebca77
		v ^= v >> 15
		v *= 0x2c1b3c6d
		v ^= v >> 12
		return float64(v&31) - 16
	}
	shift := int(float64(p.w) * float64(i) / float64(n) / 4)
	// The waves are separable: tables per column and per row keep the
	// trigonometry out of the pixel loop.
	colWave := make([]float64, p.w)
	for x := range p.w {
		colWave[x] = 40 + 72*float64(x)/w
	}
	sinCol := make([]float64, p.w)
	for x := range p.w {
		sinCol[x] = 20 * math.Sin((float64(x)+float64(shift))/37)
	}
	for y := range p.h {
		fy := float64(y)
		rowBase, cosRow := 60*fy/h, math.Cos(fy/23)
		for x := range p.w {
			v := colWave[x] + rowBase + sinCol[x]*cosRow + tex(x+shift, y)
			fx := float64(x)
			for _, d := range discs {
				if dx, dy := fx-d.cx, fy-d.cy; dx*dx+dy*dy < d.r*d.r {
					v = d.y + tex(x, y)/2
				}
			}
			p.y[y*p.w+x] = byte(max(16, min(235, v)))
		}
	}
	sy := 1
	if p.sub == sub420 {
		sy = 2
	}
	band := codec.BarcodeHeight(p.w, p.h)
	cbCol := make([]float64, p.cw)
	for x := range p.cw {
		cbCol[x] = 128 + 30*math.Sin(float64(2*x)/w*3+ph)
	}
	for y := range p.ch {
		fy := float64(sy * y)
		crRow := 128 + 30*math.Cos(fy/h*3-ph)
		for x := range p.cw {
			fx := float64(2 * x)
			cb, cr := cbCol[x], crRow
			for _, d := range discs {
				if dx, dy := fx-d.cx, fy-d.cy; dx*dx+dy*dy < d.r*d.r {
					cb, cr = d.cb, d.cr
				}
			}
			if sy*y < band {
				cb, cr = 128, 128
			}
			p.cb[y*p.cw+x] = byte(cb)
			p.cr[y*p.cw+x] = byte(cr)
		}
	}
}

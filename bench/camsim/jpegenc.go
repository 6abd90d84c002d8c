package camsim

// A small baseline JPEG encoder: what camsim needs to make MJPEG frames
// cheaply, which image/jpeg cannot do (it encodes whole images only, 4:2:0
// only, and gives no access to the entropy-coded bits).
//
// The forward DCT, the quantization and Huffman tables and the block coding
// are adapted from Go's image/jpeg (writer.go and dct.go):
//
//	Copyright 2011 and 2025 The Go Authors. All rights reserved.
//	Use of this source code is governed by a BSD-style license that can be
//	found in Go's LICENSE file.

import (
	"encoding/binary"
	"math/bits"
	"slices"
)

type block [64]int32

// qblock is a block after the DCT and quantization, in zig-zag order, and
// the index of its last non-zero coefficient (0 when only DC may be), so
// that coding stops there.
type qblock struct {
	c    [64]int16
	last int
}

// unzig maps zig-zag order to natural order.
var unzig = [64]int{
	0, 1, 8, 16, 9, 2, 3, 10,
	17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34,
	27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36,
	29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46,
	53, 60, 61, 54, 47, 55, 62, 63,
}

// unscaledQuant are the tables of ITU-T T.81 K.1 in zig-zag order.
var unscaledQuant = [2][64]byte{
	{
		16, 11, 12, 14, 12, 10, 16, 14,
		13, 14, 18, 17, 16, 19, 24, 40,
		26, 24, 22, 22, 24, 49, 35, 37,
		29, 40, 58, 51, 61, 60, 57, 51,
		56, 55, 64, 72, 92, 78, 64, 68,
		87, 69, 55, 56, 80, 109, 81, 87,
		95, 98, 103, 104, 103, 62, 77, 113,
		121, 112, 100, 120, 92, 101, 103, 99,
	},
	{
		17, 18, 18, 24, 21, 24, 47, 26,
		26, 47, 99, 66, 56, 66, 99, 99,
		99, 99, 99, 99, 99, 99, 99, 99,
		99, 99, 99, 99, 99, 99, 99, 99,
		99, 99, 99, 99, 99, 99, 99, 99,
		99, 99, 99, 99, 99, 99, 99, 99,
		99, 99, 99, 99, 99, 99, 99, 99,
		99, 99, 99, 99, 99, 99, 99, 99,
	},
}

// huffSpec is a Huffman table as DHT carries it: counts per code length and
// the values. These are the tables of T.81 K.3, which RTP/JPEG (RFC 2435)
// receivers assume, so every frame camsim makes uses them.
type huffSpec struct {
	count [16]byte
	value []byte
}

var huffSpecs = [4]huffSpec{
	{ // luminance DC
		[16]byte{0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0},
		[]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11},
	},
	{ // luminance AC
		[16]byte{0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 125},
		[]byte{
			0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12,
			0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
			0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08,
			0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0,
			0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16,
			0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28,
			0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39,
			0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
			0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59,
			0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
			0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79,
			0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
			0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98,
			0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
			0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6,
			0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5,
			0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4,
			0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
			0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea,
			0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
			0xf9, 0xfa,
		},
	},
	{ // chrominance DC
		[16]byte{0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0},
		[]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11},
	},
	{ // chrominance AC
		[16]byte{0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 119},
		[]byte{
			0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21,
			0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
			0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91,
			0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0,
			0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34,
			0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26,
			0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38,
			0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
			0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58,
			0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
			0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78,
			0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
			0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96,
			0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
			0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4,
			0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
			0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2,
			0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
			0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9,
			0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
			0xf9, 0xfa,
		},
	},
}

// huffLUT maps a value to its code: length in the top 8 bits, code below.
var huffLUT [4][256]uint32

func init() {
	for t, s := range huffSpecs {
		code, k := uint32(0), 0
		for i, n := range s.count {
			for range n {
				huffLUT[t][s.value[k]] = uint32(i+1)<<24 | code
				code++
				k++
			}
			code <<= 1
		}
	}
}

// quantTables scales the K.1 tables for a quality from 1 to 100 as libjpeg
// (and image/jpeg) do.
func quantTables(quality int) [2][64]byte {
	quality = max(1, min(100, quality))
	scale := 200 - 2*quality
	if quality < 50 {
		scale = 5000 / quality
	}
	var q [2][64]byte
	for i := range q {
		for j := range q[i] {
			q[i][j] = byte(max(1, min(255, (int(unscaledQuant[i][j])*scale+50)/100)))
		}
	}
	return q
}

// bitWriter accumulates entropy-coded bits into buf. With stuff set, a zero
// byte follows every 0xff byte, as scan data needs; without, the bits are
// raw, for splicing later (see appendBits).
type bitWriter struct {
	buf   []byte
	bits  uint32 // pending bits, left-aligned
	nBits uint32 // 0..7 between calls
	stuff bool
}

// emit writes the low n bits of v; n <= 16.
func (w *bitWriter) emit(v, n uint32) {
	n += w.nBits
	acc := v<<(32-n) | w.bits
	for n >= 8 {
		b := byte(acc >> 24)
		w.buf = append(w.buf, b)
		if b == 0xff && w.stuff {
			w.buf = append(w.buf, 0)
		}
		acc <<= 8
		n -= 8
	}
	w.bits, w.nBits = acc, n
}

// appendBits writes the first n bits of raw (unstuffed, MSB first) at the
// current bit position, stuffing as it goes. This is the splice that lets a
// frame reuse a pre-encoded tail whatever bit the fresh head ended on. It
// moves eight bytes at a time while none of them needs stuffing.
func (w *bitWriter) appendBits(raw []byte, n int) {
	full := n / 8
	w.buf = slices.Grow(w.buf, full+full/64+16)
	k := w.nBits
	carry := uint64(w.bits>>24) >> (8 - k) // the k pending bits, right-aligned
	i := 0
	for ; i+8 <= full; i += 8 {
		in := binary.BigEndian.Uint64(raw[i:])
		out := carry<<(64-k) | in>>k
		carry = in & (1<<k - 1)
		if v := ^out; (v-0x0101010101010101)&^v&0x8080808080808080 == 0 {
			w.buf = binary.BigEndian.AppendUint64(w.buf, out)
			continue
		}
		for j := 56; j >= 0; j -= 8 {
			b := byte(out >> j)
			w.buf = append(w.buf, b)
			if b == 0xff {
				w.buf = append(w.buf, 0)
			}
		}
	}
	for ; i < full; i++ {
		in := uint64(raw[i])
		b := byte(carry<<(8-k) | in>>k)
		carry = in & (1<<k - 1)
		w.buf = append(w.buf, b)
		if b == 0xff {
			w.buf = append(w.buf, 0)
		}
	}
	w.bits = uint32(carry<<(8-k)) << 24
	if rem := uint32(n % 8); rem > 0 {
		w.emit(uint32(raw[full]>>(8-rem)), rem)
	}
}

// pad ends the scan: the last byte is filled with one bits (T.81 F.1.2.3).
func (w *bitWriter) pad() {
	if w.nBits > 0 {
		w.emit(0x7f, 7)
	}
	w.nBits, w.bits = 0, 0
}

// rawBits returns the writer's raw bits (stuff false) padded with zeros to
// a byte, and their number.
func (w *bitWriter) rawBits() ([]byte, int) {
	n := 8*len(w.buf) + int(w.nBits)
	out := w.buf
	if w.nBits > 0 {
		out = append(out, byte(w.bits>>24))
	}
	return out, n
}

func (w *bitWriter) emitHuff(t int, v int32) {
	x := huffLUT[t][v]
	w.emit(x&(1<<24-1), x>>24)
}

// emitHuffRLE writes a run/size code and the value's bits (T.81 F.1.2).
func (w *bitWriter) emitHuffRLE(t int, run, v int32) {
	a, b := v, v
	if a < 0 {
		a, b = -v, v-1
	}
	n := uint32(bits.Len32(uint32(a)))
	w.emitHuff(t, run<<4|int32(n))
	if n > 0 {
		w.emit(uint32(b)&(1<<n-1), n)
	}
}

// emitBlock writes a quantized block with table set q (0 luma, 1 chroma)
// and returns its DC for the next block's prediction.
func (w *bitWriter) emitBlock(qb *qblock, q int, prevDC int32) int32 {
	dc := int32(qb.c[0])
	w.emitHuffRLE(2*q, 0, dc-prevDC)
	t, run := 2*q+1, int32(0)
	for zig := 1; zig <= qb.last; zig++ {
		ac := int32(qb.c[zig])
		if ac == 0 {
			run++
			continue
		}
		for run > 15 {
			w.emitHuff(t, 0xf0)
			run -= 16
		}
		w.emitHuffRLE(t, run, ac)
		run = 0
	}
	if qb.last < 63 {
		w.emitHuff(t, 0x00) // EOB
	}
	return dc
}

// div returns a/b rounded to the nearest integer.
func div(a, b int32) int32 {
	if a >= 0 {
		return (a + b>>1) / b
	}
	return -((-a + b>>1) / b)
}

// quantize transforms b (samples, natural order; clobbered) into qb. flat
// marks a block whose samples are all equal: its DCT is its DC alone, which
// saves the transform on the large plain areas of a barcode.
func quantize(qb *qblock, b *block, quant *[64]byte, flat bool) {
	if flat {
		// A flat block of value v has DC 8*(v-128), which fdct returns
		// scaled by 8. The AC coefficients left from before are never
		// read: last bounds them.
		qb.c[0] = int16(div(64*(b[0]-128), 8*int32(quant[0])))
		qb.last = 0
		return
	}
	fdct(b)
	qb.last = 0
	for zig := range 64 {
		v := int16(div(b[unzig[zig]], 8*int32(quant[zig])))
		qb.c[zig] = v
		if v != 0 {
			qb.last = zig
		}
	}
}

// Forward DCT (Loeffler, Lightenberg, Moschytz 1989), from image/jpeg's
// dct.go: inputs are samples 0..255, outputs 8 times the DCT coefficients.

const (
	cos1       = 1130768441178740757 // fix cos 1*pi/16
	sin1       = 224923827593068887  // fix sin 1*pi/16
	cos3       = 958619196450722178  // fix cos 3*pi/16
	sin3       = 640528868967736374  // fix sin 3*pi/16
	sqrt2      = 1630477228166597777 // fix sqrt 2
	sqrt2_cos6 = 623956622067911264  // fix (sqrt 2)*cos 6*pi/16
	sqrt2_sin6 = 1506364539328854985 // fix (sqrt 2)*sin 6*pi/16
)

func cfix(x uint64, bits int) int32 {
	return int32((x + (1 << (59 - bits))) >> (60 - bits))
}

func dctBox(x0, x1, kcos, ksin int32) (y0, y1 int32) {
	ksum := kcos * (x0 + x1)
	y0 = ksum + (ksin-kcos)*x1
	y1 = ksum - (kcos+ksin)*x0
	return y0, y1
}

func fdct(b *block) {
	for i := range 8 {
		x0, x1, x2, x3 := b[0*8+i], b[1*8+i], b[2*8+i], b[3*8+i]
		x4, x5, x6, x7 := b[4*8+i], b[5*8+i], b[6*8+i], b[7*8+i]
		x0, x7 = x0+x7, x0-x7
		x1, x6 = x1+x6, x1-x6
		x2, x5 = x2+x5, x2-x5
		x3, x4 = x3+x4, x3-x4
		x4, x7 = dctBox(x4, x7, cfix(cos3, 18), cfix(sin3, 18))
		x5, x6 = dctBox(x5, x6, cfix(cos1, 18), cfix(sin1, 18))
		x0, x3 = x0+x3, x0-x3
		x1, x2 = x1+x2, x1-x2
		x2, x3 = dctBox(x2, x3, cfix(sqrt2_cos6, 18), cfix(sqrt2_sin6, 18))
		x0, x1 = x0+x1, x0-x1
		b[0*8+i] = (x0 - 128*8) << 18
		b[4*8+i] = x1 << 18
		b[2*8+i] = x2
		b[6*8+i] = x3
		x4, x6 = x4+x6, x4-x6
		x7, x5 = x7+x5, x7-x5
		x5 = (x5 >> 12) * cfix(sqrt2, 12)
		x6 = (x6 >> 12) * cfix(sqrt2, 12)
		x7, x4 = x7+x4, x7-x4
		b[1*8+i] = x7
		b[3*8+i] = x5
		b[5*8+i] = x6
		b[7*8+i] = x4
	}
	for i := range 8 {
		x := b[8*i : 8*i+8 : 8*i+8]
		x0, x1, x2, x3, x4, x5, x6, x7 := x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]
		x0, x7 = x0+x7, x0-x7
		x1, x6 = x1+x6, x1-x6
		x2, x5 = x2+x5, x2-x5
		x3, x4 = x3+x4, x3-x4
		x4, x7 = dctBox(x4>>14, x7>>14, cfix(cos3, 14), cfix(sin3, 14))
		x5, x6 = dctBox(x5>>14, x6>>14, cfix(cos1, 14), cfix(sin1, 14))
		x0, x3 = x0+x3, x0-x3
		x1, x2 = x1+x2, x1-x2
		x2, x3 = dctBox(x2>>14, x3>>14, cfix(sqrt2_cos6, 14), cfix(sqrt2_sin6, 14))
		x0, x1 = x0+x1, x0-x1
		x4, x6 = x4+x6, x4-x6
		x7, x5 = x7+x5, x7-x5
		x5 = (x5 >> 14) * cfix(sqrt2, 14)
		x6 = (x6 >> 14) * cfix(sqrt2, 14)
		x7, x4 = x7+x4, x7-x4
		x[0] = (x0 + 1<<17) >> 18
		x[1] = (x7 + 1<<17) >> 18
		x[2] = (x2 + 1<<17) >> 18
		x[3] = (x5 + 1<<17) >> 18
		x[4] = (x1 + 1<<17) >> 18
		x[5] = (x6 + 1<<17) >> 18
		x[6] = (x3 + 1<<17) >> 18
		x[7] = (x4 + 1<<17) >> 18
	}
}

// Chroma subsampling of the pictures camsim encodes. The values are the
// RTP/JPEG (RFC 2435) type numbers.
const (
	sub422 = 0 // Y 2x1: MCU 16x8
	sub420 = 1 // Y 2x2: MCU 16x16
)

// picture is a Y'CbCr picture in planes; chroma is half width, and half
// height for 4:2:0.
type picture struct {
	w, h   int
	sub    int
	cw, ch int
	y      []byte
	cb, cr []byte
}

func newPicture(w, h, sub int) *picture {
	p := &picture{w: w, h: h, sub: sub, cw: (w + 1) / 2, ch: h}
	if sub == sub420 {
		p.ch = (h + 1) / 2
	}
	p.y = make([]byte, w*h)
	p.cb = make([]byte, p.cw*p.ch)
	p.cr = make([]byte, p.cw*p.ch)
	return p
}

func (p *picture) mcuHeight() int {
	if p.sub == sub420 {
		return 16
	}
	return 8
}

func (p *picture) mcuCols() int { return (p.w + 15) / 16 }
func (p *picture) mcuRows() int { return (p.h + p.mcuHeight() - 1) / p.mcuHeight() }

// blocksPerMCU is 4 or 2 luma blocks, then Cb and Cr.
func (p *picture) blocksPerMCU() int {
	if p.sub == sub420 {
		return 6
	}
	return 4
}

// load copies the 8x8 samples at (x, y) of a plane into b, repeating the
// last row and column past the edges, and reports whether they are all
// equal; a flat block gets only b[0] (see quantize).
func load(b *block, plane []byte, stride, w, h, x, y int) (flat bool) {
	if x+8 <= w && y+8 <= h {
		first := plane[y*stride+x]
		pat := uint64(first) * 0x0101010101010101
		flat = true
		for j := range 8 {
			if binary.LittleEndian.Uint64(plane[(y+j)*stride+x:]) != pat {
				flat = false
				break
			}
		}
		if flat {
			b[0] = int32(first)
			return true
		}
		for j := range 8 {
			row := plane[(y+j)*stride+x : (y+j)*stride+x+8 : (y+j)*stride+x+8]
			for i, v := range row {
				b[8*j+i] = int32(v)
			}
		}
		return false
	}
	first := int32(plane[min(y, h-1)*stride+min(x, w-1)])
	diff := int32(0)
	for j := range 8 {
		row := plane[min(y+j, h-1)*stride:]
		for i := range 8 {
			v := int32(row[min(x+i, w-1)])
			b[8*j+i] = v
			diff |= v ^ first
		}
	}
	return diff == 0
}

// mcuBlocks quantizes the blocks of MCU (mx, my) into qbs.
func (p *picture) mcuBlocks(qbs []qblock, quant *[2][64]byte, mx, my int) {
	var b block
	x, y := 16*mx, p.mcuHeight()*my
	n := 0
	for j := 0; j < p.mcuHeight(); j += 8 {
		for i := 0; i < 16; i += 8 {
			flat := load(&b, p.y, p.w, p.w, p.h, x+i, y+j)
			quantize(&qbs[n], &b, &quant[0], flat)
			n++
		}
	}
	cx, cy := x/2, y
	if p.sub == sub420 {
		cy = y / 2
	}
	flat := load(&b, p.cb, p.cw, p.cw, p.ch, cx, cy)
	quantize(&qbs[n], &b, &quant[1], flat)
	flat = load(&b, p.cr, p.cw, p.cw, p.ch, cx, cy)
	quantize(&qbs[n+1], &b, &quant[1], flat)
}

// emitMCU writes an MCU's quantized blocks, updating the DC predictors of
// Y, Cb and Cr.
func emitMCU(w *bitWriter, qbs []qblock, pred *[3]int32) {
	nY := len(qbs) - 2
	for i := range nY {
		pred[0] = w.emitBlock(&qbs[i], 0, pred[0])
	}
	pred[1] = w.emitBlock(&qbs[nY], 1, pred[1])
	pred[2] = w.emitBlock(&qbs[nY+1], 1, pred[2])
}

// encodeRows entropy-codes MCU rows [r0, r1) of p.
func encodeRows(w *bitWriter, p *picture, quant *[2][64]byte, r0, r1 int, pred *[3]int32) {
	var qbs [6]qblock
	n := p.blocksPerMCU()
	for my := r0; my < r1; my++ {
		for mx := range p.mcuCols() {
			p.mcuBlocks(qbs[:n], quant, mx, my)
			emitMCU(w, qbs[:n], pred)
		}
	}
}

// appendJPEGHeader appends SOI, a JFIF APP0, the quantization and Huffman
// tables, SOF0 and SOS of a baseline 3-component JPEG.
func appendJPEGHeader(dst []byte, w, h, sub int, quant *[2][64]byte) []byte {
	dst = append(dst, 0xff, 0xd8)
	dst = append(dst, 0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0)
	dst = append(dst, 0xff, 0xdb, 0, 2+2*65)
	for i := range quant {
		dst = append(dst, byte(i))
		dst = append(dst, quant[i][:]...)
	}
	ysamp := byte(0x22)
	if sub == sub422 {
		ysamp = 0x21
	}
	dst = append(dst, 0xff, 0xc0, 0, 17, 8, byte(h>>8), byte(h), byte(w>>8), byte(w), 3,
		1, ysamp, 0, 2, 0x11, 1, 3, 0x11, 1)
	n := 2
	for _, s := range huffSpecs {
		n += 17 + len(s.value)
	}
	dst = append(dst, 0xff, 0xc4, byte(n>>8), byte(n))
	for i, s := range huffSpecs {
		dst = append(dst, "\x00\x10\x01\x11"[i])
		dst = append(dst, s.count[:]...)
		dst = append(dst, s.value...)
	}
	return append(dst, 0xff, 0xda, 0, 12, 3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0)
}

// encodeJPEG encodes a whole picture: the slow path, for the pre-encoded
// backgrounds and tests.
func encodeJPEG(dst []byte, p *picture, quant *[2][64]byte) []byte {
	dst = appendJPEGHeader(dst, p.w, p.h, p.sub, quant)
	w := bitWriter{buf: dst, stuff: true}
	var pred [3]int32
	encodeRows(&w, p, quant, 0, p.mcuRows(), &pred)
	w.pad()
	return append(w.buf, 0xff, 0xd9)
}

package codec

// The send-time barcode: how camsim stamps MJPEG frames so that the stamp
// survives what an SEI message cannot, decoding and re-encoding. It has to
// come through JPEG at quality 75, scaling by 0.5 to 3 in each direction
// (independently), letter- and pillarboxing, and H.264 at 1-2 Mbit/s.
//
// Layout: a band across the full width at the top of the picture, 2 rows of
// 28 cells. Cell widths are width/28 (cells tile the width exactly); cell
// heights are about a cell width, capped at a twelfth of the picture height
// and rounded to a multiple of 8 so that the band fills whole 8- or 16-line
// JPEG block rows (camsim re-encodes only those rows per frame). A cell is
// black (luma 16) for 0 and white (235) for 1.
//
//	row 0: W  d0  d1 ... d25  W
//	row 1: B d26 d27 ... d51  B
//
// The guard columns locate the code in a picture whose size and padding the
// reader does not know: the outer edges of the two white guards give its
// left and right ends (black padding bars beside it are fine), the first
// rows that hold them give its top, and the white-to-black step inside a
// guard column gives the cell height. The reader samples a 3x3 grid inside
// the central half of every cell, averages and thresholds at mid-grey.
//
// The 52 data cells hold 44 bits of Unix milliseconds (557 years) and a
// CRC-8 over them, most significant bit first.

const (
	barcodeCols     = 28
	barcodeRows     = 2
	barcodeTimeBits = 44
	barcodeBits     = 2 * (barcodeCols - 2) // 52: time and CRC-8
	barcodeBlack    = 16
	barcodeWhite    = 235
	barcodeMid      = (barcodeBlack + barcodeWhite + 1) / 2
	// barcodeMinWidth is the narrowest picture that gets a code: the reader
	// wants runs of three bright pixels to find it.
	barcodeMinWidth = 3 * barcodeCols
)

// BarcodeHeight is the height in lines of the band DrawBarcode writes into a
// picture of this size, 0 when the picture is too small for a code. Encoders
// that re-encode only the band per frame use it.
func BarcodeHeight(width, height int) int {
	return barcodeRows * barcodeCellHeight(width, height)
}

func barcodeCellHeight(width, height int) int {
	if width < barcodeMinWidth || height < 4 {
		return 0
	}
	ch := min(width/barcodeCols, height/12)
	ch = (ch + 4) / 8 * 8
	if ch < 8 {
		ch = 8
	}
	if barcodeRows*ch > height/2 {
		ch = height / 2 / barcodeRows
	}
	return ch
}

// crc8 is CRC-8 with polynomial 0x07 and initial value 0xff over the six
// bytes of v, big endian. The non-zero start means an all-black band (time 0)
// does not check.
func crc8(v uint64) byte {
	crc := byte(0xff)
	for i := 5; i >= 0; i-- {
		crc ^= byte(v >> (8 * i))
		for range 8 {
			if crc&0x80 != 0 {
				crc = crc<<1 ^ 0x07
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// barcodeBitsOf is the 52-bit payload: time in the high 44 bits, CRC-8 below.
func barcodeBitsOf(unixMillis int64) uint64 {
	t := uint64(unixMillis) & (1<<barcodeTimeBits - 1)
	return t<<8 | uint64(crc8(t))
}

func planeOK(y []byte, stride, width, height int) bool {
	return width > 0 && height > 0 && stride >= width &&
		stride <= (1<<31)/height && len(y) >= (height-1)*stride+width
}

// DrawBarcode writes t (Unix milliseconds, kept modulo 2^44) into the top
// band of a luma plane: BarcodeHeight(width, height) lines, full width. A
// picture narrower than 84 pixels or a plane too short for its size is left
// untouched.
func DrawBarcode(y []byte, stride, width, height int, unixMillis int64) {
	ch := barcodeCellHeight(width, height)
	if ch == 0 || !planeOK(y, stride, width, height) {
		return
	}
	bits := barcodeBitsOf(unixMillis)
	for r := range barcodeRows {
		first := y[r*ch*stride : r*ch*stride+width]
		for c := range barcodeCols {
			var on bool
			switch c {
			case 0, barcodeCols - 1:
				on = r == 0
			default:
				i := r*(barcodeCols-2) + c - 1
				on = bits>>(barcodeBits-1-i)&1 != 0
			}
			v := byte(barcodeBlack)
			if on {
				v = barcodeWhite
			}
			cell := first[c*width/barcodeCols : (c+1)*width/barcodeCols]
			for i := range cell {
				cell[i] = v
			}
		}
		for line := r*ch + 1; line < (r+1)*ch; line++ {
			copy(y[line*stride:line*stride+width], first)
		}
	}
}

// ReadBarcode finds the code DrawBarcode wrote in a luma plane of any size
// (the picture may have been scaled, and padded with black bars on any side)
// and returns its time. ok is false when there is no code whose guards and
// CRC check. It does not allocate.
func ReadBarcode(y []byte, stride, width, height int) (unixMillis int64, ok bool) {
	if width < barcodeCols || height < 2*barcodeRows || !planeOK(y, stride, width, height) {
		return 0, false
	}
	bright := func(x, line int) bool { return y[line*stride+x] >= barcodeMid }

	// Top: the first line with a run of bright pixels, the white guards of
	// row 0 (black letterbox bars above hold none). Runs rather than single
	// pixels keep noise from posing as the code's edge.
	top := -1
	for line := 0; line < height/2 && top < 0; line++ {
		run := 0
		for x := range width {
			if !bright(x, line) {
				run = 0
				continue
			}
			if run++; run >= 3 {
				top = line
				break
			}
		}
	}
	if top < 0 {
		return 0, false
	}
	left, right, ok := barcodeEnds(y, stride, width, min(top+1, height-1))
	if !ok {
		return 0, false
	}
	// Cell height: where the left guard turns from white (row 0) to black
	// (row 1), measured down the middle of the guard column.
	cw := float64(right-left) / barcodeCols
	gx := left + int(cw/2)
	ch := 0
	for line := top; line < height; line++ {
		if !bright(gx, line) {
			ch = line - top
			break
		}
	}
	if ch < 2 || top+barcodeRows*ch > height {
		return 0, false
	}
	// Measure the ends again at the middle of row 0, clear of the blur of
	// its top edge.
	if left, right, ok = barcodeEnds(y, stride, width, top+ch/2); !ok {
		return 0, false
	}
	cw = float64(right-left) / barcodeCols
	if cw < 1.5 {
		return 0, false
	}

	// sample averages a 3x3 grid inside the central half of cell (r, c).
	sample := func(r, c int) bool {
		cx := float64(left) + (float64(c)+0.5)*cw
		cy := float64(top) + (float64(r)+0.5)*float64(ch)
		dx, dy := cw/4, float64(ch)/4
		sum := 0
		for j := -1; j <= 1; j++ {
			line := int(cy + float64(j)*dy)
			for i := -1; i <= 1; i++ {
				x := int(cx + float64(i)*dx)
				sum += int(y[line*stride+x])
			}
		}
		return sum >= 9*barcodeMid
	}
	if !sample(0, 0) || !sample(0, barcodeCols-1) || sample(1, 0) || sample(1, barcodeCols-1) {
		return 0, false
	}
	var bits uint64
	for r := range barcodeRows {
		for c := 1; c < barcodeCols-1; c++ {
			bits <<= 1
			if sample(r, c) {
				bits |= 1
			}
		}
	}
	t := bits >> 8
	if crc8(t) != byte(bits) {
		return 0, false
	}
	return int64(t), true
}

// barcodeEnds finds the outer edges of the two white guards on a line: the
// first and one past the last bright pixel.
func barcodeEnds(y []byte, stride, width, line int) (left, right int, ok bool) {
	row := y[line*stride : line*stride+width]
	left, right = -1, -1
	for x, v := range row {
		if v >= barcodeMid {
			left = x
			break
		}
	}
	for x := width - 1; x >= 0; x-- {
		if row[x] >= barcodeMid {
			right = x + 1
			break
		}
	}
	if left < 0 || right-left < barcodeCols*3/2 {
		return 0, 0, false
	}
	return left, right, true
}

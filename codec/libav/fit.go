package libav

import "github.com/camrelay/camrelay/codec"

// even rounds n down to an even number, at least 2: 4:2:0 chroma needs
// even sizes and offsets.
func even(n int) int { return max(2, n&^1) }

// outputSize is the encoded picture size for a configured size and the
// first input picture: 0 and 0 keep the input size, one 0 follows the
// input's aspect ratio; the result is even.
func outputSize(cfgW, cfgH, inW, inH int) (w, h int) {
	switch {
	case cfgW > 0 && cfgH > 0:
		return even(cfgW), even(cfgH)
	case inW <= 0 || inH <= 0:
		return 0, 0
	case cfgW > 0:
		return even(cfgW), even((cfgW*inH + inW/2) / inW)
	case cfgH > 0:
		return even((cfgH*inW + inH/2) / inH), even(cfgH)
	}
	return even(inW), even(inH)
}

// placement is the rectangle of the outW x outH canvas an inW x inH picture
// is scaled into: all of it to stretch; to fit, the largest centred
// rectangle of the input's aspect ratio, the rest being black bars
// (letterbox or pillarbox). Offsets and sizes are even.
func placement(scale string, inW, inH, outW, outH int) (x, y, w, h int) {
	if scale == codec.ScaleStretch || inW <= 0 || inH <= 0 {
		return 0, 0, outW, outH
	}
	if inW*outH > inH*outW { // input wider than the output: bars top and bottom
		w = outW
		h = min(outH, even((outW*inH+inW/2)/inW))
	} else { // input taller: bars left and right
		h = outH
		w = min(outW, even((outH*inW+inH/2)/inH))
	}
	x = ((outW - w) / 2) &^ 1
	y = ((outH - h) / 2) &^ 1
	return x, y, w, h
}

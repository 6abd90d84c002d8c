package codec

import (
	"bytes"
	"errors"
)

// JPEG structure errors, as JPEGScanner reports them.
var (
	ErrJPEGNoSOI     = errors.New("jpeg: does not start with SOI")
	ErrJPEGSegment   = errors.New("jpeg: malformed segment")
	ErrJPEGNoSOF     = errors.New("jpeg: no frame header (SOF) before the scan")
	ErrJPEGBadSize   = errors.New("jpeg: picture size out of range")
	ErrJPEGCutShort  = errors.New("jpeg: cut short (a new SOI before EOI)")
	ErrJPEGEarlyEOI  = errors.New("jpeg: EOI before any scan")
	ErrJPEGTruncated = errors.New("jpeg: cut short (no EOI)")
)

// MaxJPEGSide bounds the width and height JPEGScanner accepts: larger
// pictures are not from a camera, and decoders would allocate for them.
const MaxJPEGSide = 16384

// JPEGScanner checks the structure of a JPEG and finds where it ends,
// without decoding it: SOI first, well-formed segments up to each SOS, a SOF
// with a sane size before the first scan, entropy-coded data up to EOI.
// Segments are skipped by their length, so an EOI inside an APP segment (an
// EXIF thumbnail) is not taken for the end; inside entropy-coded data a
// 0xff byte is always stuffed or a marker, so there the first EOI is the
// end. Progressive JPEGs (several scans) pass.
//
// It works incrementally over a stream: call Next with the bytes of the
// JPEG so far, the same bytes plus more each time, and it resumes where it
// stopped. The zero value is ready for a JPEG; Reset starts another.
type JPEGScanner struct {
	pos    int
	inScan bool
	scans  int
	// Width and Height are the picture size, from the SOF.
	Width, Height int
}

// Reset prepares the scanner for a new JPEG.
func (s *JPEGScanner) Reset() { *s = JPEGScanner{} }

// Next scans b, the JPEG from its SOI as far as it has arrived. It returns
// the JPEG's length (through EOI) once it is complete, 0 and nil while more
// bytes are needed, or an error and the offset at which the structure broke
// (a reader resynchronises from there: after ErrJPEGCutShort a new SOI
// starts at that offset).
func (s *JPEGScanner) Next(b []byte) (int, error) {
	if s.pos == 0 {
		if len(b) < 2 {
			return 0, nil
		}
		if b[0] != 0xff || b[1] != 0xd8 {
			return 0, ErrJPEGNoSOI
		}
		s.pos = 2
	}
	for {
		if s.inScan {
			i := bytes.IndexByte(b[s.pos:], 0xff)
			if i < 0 {
				s.pos = len(b)
				return 0, nil
			}
			p := s.pos + i
			if p+1 >= len(b) {
				s.pos = p
				return 0, nil
			}
			switch m := b[p+1]; {
			case m == 0x00 || (m >= 0xd0 && m <= 0xd7): // stuffed byte, restart marker
				s.pos = p + 2
				continue
			case m == 0xff: // fill byte before a marker
				s.pos = p + 1
				continue
			case m == 0xd9:
				s.pos = p + 2
				return p + 2, nil
			case m == 0xd8:
				return p, ErrJPEGCutShort
			default: // DHT, SOS of the next scan, DNL...: segments again
				s.pos = p
				s.inScan = false
			}
		}
		// Segments.
		p := s.pos
		for p+1 < len(b) && b[p] == 0xff && b[p+1] == 0xff {
			p++ // fill bytes
		}
		s.pos = p
		if p+1 >= len(b) {
			return 0, nil
		}
		if b[p] != 0xff {
			return p, ErrJPEGSegment
		}
		m := b[p+1]
		switch {
		case m == 0xd8:
			return p, ErrJPEGCutShort
		case m == 0xd9:
			if s.scans == 0 {
				return p, ErrJPEGEarlyEOI
			}
			s.pos = p + 2
			return p + 2, nil
		case m == 0x01: // TEM: no length
			s.pos = p + 2
			continue
		case m == 0x00 || (m >= 0xd0 && m <= 0xd7):
			return p, ErrJPEGSegment
		}
		if p+4 > len(b) {
			return 0, nil
		}
		n := int(b[p+2])<<8 | int(b[p+3])
		if n < 2 {
			return p, ErrJPEGSegment
		}
		end := p + 2 + n
		if end > len(b) {
			return 0, nil
		}
		seg := b[p+4 : end]
		switch {
		case m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc: // SOFn
			if len(seg) < 6 {
				return p, ErrJPEGSegment
			}
			h := int(seg[1])<<8 | int(seg[2])
			w := int(seg[3])<<8 | int(seg[4])
			nc := int(seg[5])
			if nc < 1 || nc > 4 || len(seg) != 6+3*nc {
				return p, ErrJPEGSegment
			}
			if w < 1 || h < 1 || w > MaxJPEGSide || h > MaxJPEGSide {
				return p, ErrJPEGBadSize
			}
			s.Width, s.Height = w, h
		case m == 0xda: // SOS
			if s.Width == 0 {
				return p, ErrJPEGNoSOF
			}
			if len(seg) < 1 || len(seg) < 4+2*int(seg[0]) {
				return p, ErrJPEGSegment
			}
			s.inScan = true
			s.scans++
		}
		s.pos = end
	}
}

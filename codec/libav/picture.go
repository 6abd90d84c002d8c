//go:build libav

package libav

import (
	"errors"
	"fmt"

	"github.com/asticode/go-astiav"

	"github.com/camrelay/camrelay/codec"
)

// SnapshotFrame decodes one frame of a camera's video track, a keyframe
// (an H.264 or H.265 access unit, with the track's out-of-band parameter
// sets if it has them, or a JPEG image), and returns it as a JPEG image,
// scaled down to width pixels wide with the aspect ratio kept when width is
// positive and less than the picture's width. A decoder lives only for the
// call: snapshots of copy cameras are taken on request, off the packet
// path.
func SnapshotFrame(track codec.Track, f *codec.Frame, width int) ([]byte, error) {
	if f == nil {
		return nil, errors.New("snapshot: no frame")
	}
	d, err := newVideoDecoder(f.Codec, parameterSets(track))
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	defer d.close()
	if err := d.send(f); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	ok, err := d.receive()
	if err == nil && !ok {
		// A decoder with delay keeps the picture until it is drained.
		if err := d.cc.SendPacket(nil); err != nil {
			return nil, fmt.Errorf("snapshot: draining the decoder: %w", err)
		}
		ok, err = d.receive()
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	if !ok {
		return nil, fmt.Errorf("snapshot: the %s decoder gave no picture", f.Codec)
	}
	fr := d.frame
	w, h := thumbSize(fr.Width(), fr.Height(), width)
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("snapshot: picture of %dx%d", fr.Width(), fr.Height())
	}
	return encodeJPEGSized(fr, astiav.PixelFormatYuvj420P, w, h)
}

// ScaleJPEG returns a JPEG image scaled down to width pixels wide (aspect
// ratio kept); jpg itself when width is 0 or not less than its width.
func ScaleJPEG(jpg []byte, width int) ([]byte, error) {
	if width <= 0 {
		return jpg, nil
	}
	var sc codec.JPEGScanner
	if _, err := sc.Next(jpg); err == nil && sc.Width > 0 && width >= sc.Width {
		return jpg, nil
	}
	return SnapshotFrame(codec.Track{Kind: codec.KindVideo, Codec: "JPEG"}, &codec.Frame{Codec: "JPEG", JPEG: jpg}, width)
}

// thumbSize is the size of a w x h picture scaled down to width pixels
// wide, the height rounded to the nearest pixel (at least 1); w x h when
// width is 0 or not less than w.
func thumbSize(w, h, width int) (int, int) {
	if width <= 0 || width >= w || w <= 0 {
		return w, h
	}
	return width, max(1, (h*width+w/2)/w)
}

// Package libav transcodes camera video in process through FFmpeg's
// libraries (libavcodec, libswscale, libavfilter) with go-astiav: JPEG,
// H.264 or H.265 in; H.264 from libx264 out, packetized as RTP, at a fixed
// size and frame rate; audio copied, dropped, or encoded to Opus or AAC.
// camrelay never starts an ffmpeg process.
//
// The implementation needs cgo and the FFmpeg development packages, and is
// built with the build tag libav (`make build`, or go build -tags libav).
// Without the tag the package still compiles: Available is false and New
// and NewDecoder return an error that says how to build with libav.
package libav

import "errors"

// ErrNotBuilt is what New and NewDecoder return in a binary built without
// the libav tag.
var ErrNotBuilt = errors.New("transcoding needs camrelay built with libav: install the FFmpeg development packages (make deps) and build with `make build` (go build -tags libav)")

// Picture is the luma plane of a decoded picture: Width x Height samples,
// row r starting at Y[r*Stride]. Luma is all that readers of camrelay's
// output look at (size, motion, pixel barcodes). Pictures from
// Decoder.Decode share buffers with the Decoder: they are valid until its
// next Decode or Close.
type Picture struct {
	Y             []byte
	Stride        int
	Width, Height int
}

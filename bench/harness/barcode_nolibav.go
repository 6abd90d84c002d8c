//go:build !libav

package harness

import "errors"

// Built without libav: the transcode scenario needs it (camrelay's
// transcoder, and the reader that decodes pictures to read barcodes).
const haveLibav = false

func newBarcodeDecoder() (barcodeDecoder, error) {
	return nil, errors.New("reading barcodes needs relaybench built with -tags libav")
}

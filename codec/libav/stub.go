//go:build !libav

package libav

import (
	"log/slog"

	"github.com/camrelay/camrelay/codec"
)

// Available reports whether this binary was built with libav.
const Available = false

// New returns a codec.Transcoder writing H.264 (and audio) RTP packets to
// out. This binary was built without libav, so it always fails.
func New(cfg codec.TranscodeConfig, out codec.PacketWriter, log *slog.Logger) (codec.Transcoder, error) {
	return nil, ErrNotBuilt
}

// Decoder decodes H.264, H.265 or JPEG frames to pictures; without libav it
// cannot be made.
type Decoder struct{}

// NewDecoder fails in a binary built without libav.
func NewDecoder(codecName string) (*Decoder, error) { return nil, ErrNotBuilt }

// Decode fails in a binary built without libav.
func (d *Decoder) Decode(f *codec.Frame) ([]Picture, error) { return nil, ErrNotBuilt }

// Close does nothing.
func (d *Decoder) Close() {}

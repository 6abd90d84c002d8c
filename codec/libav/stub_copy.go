//go:build !libav

package libav

import "github.com/camrelay/camrelay/codec"

// AudioTranscoder re-encodes a copy camera's audio; without libav it cannot
// be made.
type AudioTranscoder struct{}

// NewAudioTranscoder fails in a binary built without libav.
func NewAudioTranscoder(mode string, out codec.PacketWriter) (*AudioTranscoder, error) {
	return nil, ErrNotBuilt
}

// Begin fails in a binary built without libav.
func (t *AudioTranscoder) Begin(in codec.Track, inIdx int, outIdx uint8, alone bool) (codec.Track, error) {
	return codec.Track{}, ErrNotBuilt
}

// WriteAudio does nothing.
func (t *AudioTranscoder) WriteAudio(p *codec.Packet) {}

// Close does nothing.
func (t *AudioTranscoder) Close() {}

// SnapshotFrame fails in a binary built without libav.
func SnapshotFrame(track codec.Track, f *codec.Frame, width int) ([]byte, error) {
	return nil, ErrNotBuilt
}

// ScaleJPEG fails in a binary built without libav, unless there is nothing
// to scale.
func ScaleJPEG(jpg []byte, width int) ([]byte, error) {
	if width <= 0 {
		return jpg, nil
	}
	return nil, ErrNotBuilt
}

//go:build libav

package libav

import (
	"errors"
	"fmt"
	"sync"

	"github.com/camrelay/camrelay/codec"
)

// AudioTranscoder re-encodes the audio track of a camera whose video is
// relayed as it is (mode: copy with audio: opus or aac): it takes the
// camera's RTP audio packets (AAC mpeg4-generic, G.711 PCMU/PCMA, Opus),
// decodes them and writes Opus (48 kHz) or AAC RTP packets to a
// PacketWriter, on the track index the caller gives. Video never goes
// through it. It is the audio half of the transcoder (audioPath), without
// the video half.
//
// Begin and WriteAudio are called by one source at a time; Close may be
// called from any goroutine, and after it every call does nothing.
type AudioTranscoder struct {
	mu     sync.Mutex
	a      audioPath
	origin originClock
	out    retrack
	closed bool
}

// retrack writes the audio path's packets (always track 1 there) on the
// output track of the camera's stream, flagged as sync points when the
// stream has no video (then every packet is one, as ring readers expect).
type retrack struct {
	w     codec.PacketWriter
	track uint8
	sync  bool
}

func (r *retrack) SetTracks(t []codec.Track) uint32 { return r.w.SetTracks(t) }

func (r *retrack) WritePacket(p *codec.Packet) {
	p.Track = r.track
	if r.sync {
		p.Flags |= codec.FlagSync
	}
	r.w.WritePacket(p)
}

// NewAudioTranscoder makes an audio transcoder to mode (codec.AudioOpus or
// codec.AudioAAC) that writes to out.
func NewAudioTranscoder(mode string, out codec.PacketWriter) (*AudioTranscoder, error) {
	if mode != codec.AudioOpus && mode != codec.AudioAAC {
		return nil, fmt.Errorf("audio transcoder: mode must be opus or aac, not %q", mode)
	}
	if out == nil {
		return nil, errors.New("audio transcoder: no packet writer")
	}
	installLog()
	t := &AudioTranscoder{out: retrack{w: out}}
	t.a.mode = mode
	return t, nil
}

// Begin starts a source session: in is the camera's audio track, inIdx its
// index among the camera's tracks (the Track of the packets WriteAudio
// gets), outIdx the index of the output track in what the caller announces,
// and alone says the output has no video track. It returns the output
// track to announce in place of in; an error when the camera's audio
// cannot be decoded (the caller then drops the track). The encoder, and
// with it the output timeline, lives across sessions.
func (t *AudioTranscoder) Begin(in codec.Track, inIdx int, outIdx uint8, alone bool) (codec.Track, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return codec.Track{}, errors.New("audio transcoder: closed")
	}
	t.out.track, t.out.sync = outIdx, alone
	out, err := t.a.begin(&in, inIdx)
	if err != nil {
		return codec.Track{}, err
	}
	if out == nil {
		return codec.Track{}, errors.New("audio transcoder: no output track")
	}
	return *out, nil
}

// WriteAudio takes one RTP packet of the audio track given to Begin;
// packets of other tracks are ignored. Damaged audio is skipped quietly.
func (t *AudioTranscoder) WriteAudio(p *codec.Packet) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	t.a.write(&t.out, p, &t.origin)
}

// Close frees the decoder and encoder. It is safe to call more than once.
func (t *AudioTranscoder) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	t.closed = true
	t.a.close()
}

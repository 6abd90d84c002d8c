package relay

import (
	"context"
	"log/slog"
	"sync"

	"github.com/camrelay/camrelay/codec"
	"github.com/camrelay/camrelay/codec/libav"
	"github.com/camrelay/camrelay/transport"
)

// noTrack marks an input track that has no output track.
const noTrack = 0xff

// audioFilter sits between a copy camera's source and its ring when the
// camera's audio is dropped or re-encoded (audio: drop, opus or aac): video
// packets go to the ring as the camera sent them, byte for byte; the first
// audio track is removed (drop) or goes through a libav AudioTranscoder that
// writes Opus or AAC packets into the same ring (opus, aac); other audio
// tracks are removed. Cameras with audio: copy (the default) do not have
// one: their packets go straight into the ring.
//
// SetTracks and WritePacket are called by one source goroutine at a time
// (the ring's single writer); the audio transcoder has its own lock.
type audioFilter struct {
	ring codec.PacketWriter
	mode string // codec.AudioDrop, AudioOpus or AudioAAC
	log  *slog.Logger

	// remap[i] is the output track of input track i, or noTrack.
	remap    [256]uint8
	identity bool // remap is the identity for every track that is kept
	audioIn  int  // the input track that is transcoded; -1: none

	mu sync.Mutex // at, against close from Run
	at *libav.AudioTranscoder

	pkt codec.Packet // a video packet whose track index moved
}

func newAudioFilter(ring codec.PacketWriter, mode string, log *slog.Logger) *audioFilter {
	f := &audioFilter{ring: ring, mode: mode, log: log, audioIn: -1}
	for i := range f.remap {
		f.remap[i] = noTrack
	}
	return f
}

// SetTracks announces the camera's tracks to the ring with the audio track
// rewritten (opus, aac) or removed (drop).
func (f *audioFilter) SetTracks(tracks []codec.Track) uint32 {
	for i := range f.remap {
		f.remap[i] = noTrack
	}
	f.audioIn = -1
	hasVideo := false
	for _, t := range tracks {
		hasVideo = hasVideo || t.Kind == codec.KindVideo
	}
	out := make([]codec.Track, 0, len(tracks))
	f.identity = true
	for i, t := range tracks {
		if i >= noTrack {
			break
		}
		if t.Kind == codec.KindAudio {
			if f.mode == codec.AudioDrop || f.audioIn >= 0 {
				continue
			}
			ot, err := f.beginAudio(t, i, uint8(len(out)), !hasVideo)
			if err != nil {
				// Video matters more than audio: go on without it.
				f.log.Warn("copy: audio dropped", "err", err)
				continue
			}
			f.audioIn = i
			t = ot
		}
		if len(out) != i {
			f.identity = false
		}
		f.remap[i] = uint8(len(out))
		out = append(out, t)
	}
	return f.ring.SetTracks(out)
}

func (f *audioFilter) beginAudio(in codec.Track, inIdx int, outIdx uint8, alone bool) (codec.Track, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.at == nil {
		at, err := libav.NewAudioTranscoder(f.mode, f.ring)
		if err != nil {
			return codec.Track{}, err
		}
		f.at = at
	}
	return f.at.Begin(in, inIdx, outIdx, alone)
}

// WritePacket passes video (and other kept tracks) through untouched and
// hands the audio track to the transcoder. It allocates nothing.
func (f *audioFilter) WritePacket(p *codec.Packet) {
	if int(p.Track) == f.audioIn {
		f.mu.Lock()
		if f.at != nil {
			f.at.WriteAudio(p)
		}
		f.mu.Unlock()
		return
	}
	o := f.remap[p.Track]
	switch {
	case o == noTrack:
	case f.identity:
		f.ring.WritePacket(p)
	default:
		q := &f.pkt
		*q = *p
		q.Track = o
		f.ring.WritePacket(q)
	}
}

// close frees the audio transcoder; the next session makes a new one.
func (f *audioFilter) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.at != nil {
		f.at.Close()
		f.at = nil
	}
}

// audioFilterSource runs a copy camera's source into its audioFilter. The
// audio transcoder lives across reconnects (the output timeline continues)
// and is freed when the pipeline (or an on-demand session) ends.
type audioFilterSource struct {
	src transport.PacketSource
	f   *audioFilter
}

func (s audioFilterSource) Run(ctx context.Context, _ transport.PacketWriter) error {
	err := s.src.Run(ctx, s.f)
	if ctx.Err() != nil {
		s.f.close()
	}
	return err
}

package codec

import (
	"errors"
	"time"
)

// PacketWriter is where producers of RTP packets put them: a source in copy
// mode, a transcoder's output. relay's ring implements it; transport's
// PacketWriter is the same interface.
type PacketWriter interface {
	// SetTracks starts a new session described by tracks and returns its
	// epoch; packets written afterwards belong to it.
	SetTracks(tracks []Track) uint32
	// WritePacket must not block and must not keep p or its payload.
	WritePacket(p *Packet)
}

// Frame is one encoded picture from a source on its way into a transcoder:
// a JPEG image, or the NAL units of an H.264/H.265 access unit.
type Frame struct {
	Codec string   // "JPEG", "H264" or "H265"
	NALUs [][]byte // H.264/H.265: the access unit, NAL units without start codes
	JPEG  []byte   // JPEG: one whole image, SOI to EOI
	// PTS is the presentation time on the source's own timeline (RTP
	// timestamp, or arrival time for sources that have none). It only has
	// to increase within one source session.
	PTS time.Duration
	// Received is codec.Now() when the frame's last byte arrived.
	Received int64
}

// VideoConfig is what a transcoder makes of a camera's video.
type VideoConfig struct {
	Width, Height int    // output size in pixels; 0 and 0 keep the input size
	FPS           int    // output frame rate; frames are dropped or repeated on the timeline
	Bitrate       int    // bits per second; capped with VBV (maxrate = bitrate)
	Preset        string // x264 preset (ultrafast ... placebo)
	GOP           int    // frames between keyframes
	Profile       string // "baseline" or "main"
	Scale         string // "fit": keep aspect ratio, pad with black; "stretch": fill the size
}

// Audio modes of a transcoding camera.
const (
	AudioCopy = "copy" // pass the camera's audio packets through
	AudioDrop = "drop" // no audio track
	AudioOpus = "opus" // encode to Opus 48 kHz (what WebRTC viewers play)
	AudioAAC  = "aac"  // encode to AAC-LC (what HLS viewers play)
)

// TranscodeConfig configures a Transcoder.
type TranscodeConfig struct {
	Video VideoConfig
	Audio string // one of the Audio* modes
}

// TranscodeStats are a transcoder's counters.
type TranscodeStats struct {
	FramesIn      uint64 // frames handed to the transcoder
	FramesDecoded uint64
	FramesOut     uint64 // frames encoded and written
	Dropped       uint64 // input frames dropped to keep the output rate (or because the encoder was behind)
	Repeated      uint64 // output frames that repeat the previous picture to keep the rate
	DecodeErrors  uint64 // corrupt or truncated input frames, skipped
	Reinits       uint64 // decoder/scaler re-initialisations after an input size change
	InWidth       int    // size of the latest decoded input picture
	InHeight      int
	OutWidth      int
	OutHeight     int
	// Latency is from a frame's Received to the last RTP packet of its
	// encoded picture written to the PacketWriter.
	Latency HistogramSnapshot
}

// Transcoder turns a camera's frames (and audio packets) into a stream of
// RTP packets (H.264, plus audio per the config) written to a PacketWriter.
// Implementations: codec/libav (build tag libav).
//
// Begin, WriteFrame and WriteAudio are called by one source at a time, in
// order; Snapshot and Stats may be called from any goroutine. Close frees
// everything and stops any goroutine the transcoder started.
type Transcoder interface {
	// Begin starts a source session whose tracks are given. It announces
	// the output tracks to the PacketWriter (SetTracks). It fails with a
	// clear error if the video codec cannot be decoded.
	Begin(tracks []Track) error
	// WriteFrame takes one picture of the video track. The transcoder copies
	// what it keeps. A corrupt frame is counted and skipped, never fatal.
	WriteFrame(f *Frame)
	// WriteAudio takes one RTP packet of an audio track: copied to the
	// output, dropped, or transcoded, as configured.
	WriteAudio(p *Packet)
	// Snapshot returns the latest decoded picture as a JPEG image.
	Snapshot() ([]byte, error)
	Stats() TranscodeStats
	Close()
}

// ErrNoPicture is returned by Snapshot before the first picture is decoded.
var ErrNoPicture = errors.New("no picture decoded yet")

package codec

import (
	"errors"
	"fmt"
	"slices"
	"strings"
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

// VideoConfig is what a transcoder makes of a camera's video. A zero field
// takes its default (WithDefaults); Check says what is valid. Both are the
// one definition that the configuration file and the transcoder share.
type VideoConfig struct {
	Width, Height int    // output size in pixels, even; 0 and 0 keep the input size
	FPS           int    // output frame rate; frames are dropped or repeated on the timeline
	Bitrate       int    // bits per second; capped with VBV (maxrate = bitrate)
	Preset        string // x264 preset (ultrafast ... placebo)
	GOP           int    // frames between keyframes
	Profile       string // "baseline" or "main"
	Scale         string // ScaleFit or ScaleStretch
}

// Scale modes of VideoConfig.Scale.
const (
	ScaleFit     = "fit"     // keep the aspect ratio, pad with black
	ScaleStretch = "stretch" // fill the size
)

// Audio modes of a transcoding camera.
const (
	AudioCopy = "copy" // pass the camera's audio packets through
	AudioDrop = "drop" // no audio track
	AudioOpus = "opus" // encode to Opus 48 kHz (what WebRTC viewers play)
	AudioAAC  = "aac"  // encode to AAC-LC (what HLS viewers play)
)

// Defaults of the zero fields of VideoConfig and TranscodeConfig, as
// README.md ("Transcoding") documents them. The GOP defaults to two
// seconds: 2*FPS frames.
const (
	DefaultFPS     = 25
	DefaultBitrate = 2_000_000   // bits per second
	DefaultPreset  = "ultrafast" // the cheapest x264 preset: an edge box encodes many cameras
	DefaultProfile = "baseline"  // what every WebRTC viewer decodes
	DefaultScale   = ScaleFit
	DefaultAudio   = AudioCopy
)

// Limits of VideoConfig's fields.
const (
	minSize, maxSize       = 16, 8192
	maxFPS                 = 120
	minBitrate, maxBitrate = 50_000, 100_000_000
	maxGOP                 = 1000
)

// x264Presets are the presets libx264 accepts, fastest first.
var x264Presets = []string{"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"}

// WithDefaults returns v with every zero field but the size set to its
// default.
func (v VideoConfig) WithDefaults() VideoConfig {
	if v.FPS == 0 {
		v.FPS = DefaultFPS
	}
	if v.Bitrate == 0 {
		v.Bitrate = DefaultBitrate
	}
	if v.Preset == "" {
		v.Preset = DefaultPreset
	}
	if v.GOP == 0 {
		v.GOP = 2 * v.FPS
	}
	if v.Profile == "" {
		v.Profile = DefaultProfile
	}
	if v.Scale == "" {
		v.Scale = DefaultScale
	}
	return v
}

// Check reports every problem of v, each naming its field the way a
// configuration file writes it (video.width, video.fps, ...). Zero fields
// are valid: they take the defaults.
func (v VideoConfig) Check() []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if (v.Width == 0) != (v.Height == 0) {
		add("video: set both width and height, or neither (keep the camera's size)")
	}
	for _, f := range []struct {
		name string
		n    int
	}{{"width", v.Width}, {"height", v.Height}} {
		if f.n != 0 && (f.n < minSize || f.n > maxSize || f.n%2 != 0) {
			add("video.%s: must be an even number from %d to %d, not %d", f.name, minSize, maxSize, f.n)
		}
	}
	if v.FPS != 0 && (v.FPS < 1 || v.FPS > maxFPS) {
		add("video.fps: must be from 1 to %d, not %d", maxFPS, v.FPS)
	}
	if v.Bitrate != 0 && (v.Bitrate < minBitrate || v.Bitrate > maxBitrate) {
		add("video.bitrate: must be from 50k to 100M bits per second, not %d", v.Bitrate)
	}
	if v.Preset != "" && !slices.Contains(x264Presets, v.Preset) {
		add("video.preset: %q is not an x264 preset (%s)", v.Preset, strings.Join(x264Presets, ", "))
	}
	if v.GOP < 0 || v.GOP > maxGOP {
		add("video.gop: must be from 1 to %d frames, not %d", maxGOP, v.GOP)
	}
	switch v.Profile {
	case "", "baseline", "main":
	default:
		add("video.profile: must be baseline or main, not %q", v.Profile)
	}
	switch v.Scale {
	case "", ScaleFit, ScaleStretch:
	default:
		add("video.scale: must be fit or stretch, not %q", v.Scale)
	}
	return errs
}

// CheckAudio checks an audio mode; "" is valid (DefaultAudio).
func CheckAudio(mode string) error {
	switch mode {
	case "", AudioCopy, AudioDrop, AudioOpus, AudioAAC:
		return nil
	}
	return fmt.Errorf("audio: must be copy, drop, opus or aac, not %q", mode)
}

// TranscodeConfig configures a Transcoder.
type TranscodeConfig struct {
	Video VideoConfig
	Audio string // one of the Audio* modes
}

// WithDefaults returns c with every zero field but the video size set to
// its default.
func (c TranscodeConfig) WithDefaults() TranscodeConfig {
	c.Video = c.Video.WithDefaults()
	if c.Audio == "" {
		c.Audio = DefaultAudio
	}
	return c
}

// Check reports every problem of c, as VideoConfig.Check and CheckAudio do.
func (c TranscodeConfig) Check() []error {
	errs := c.Video.Check()
	if err := CheckAudio(c.Audio); err != nil {
		errs = append(errs, err)
	}
	return errs
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

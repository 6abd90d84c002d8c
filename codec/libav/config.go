package libav

import (
	"fmt"
	"slices"

	"github.com/camrelay/camrelay/codec"
)

// Defaults of codec.VideoConfig's zero fields.
const (
	DefaultFPS     = 25
	DefaultPreset  = "ultrafast" // the cheapest x264 preset: an edge box encodes many cameras
	DefaultProfile = "baseline"  // what every WebRTC viewer decodes
)

// x264Presets are the preset names libx264 accepts.
var x264Presets = []string{"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"}

// normalize fills in defaults and checks a configuration; errors name the
// field.
func normalize(cfg codec.TranscodeConfig) (codec.TranscodeConfig, error) {
	v := &cfg.Video
	if v.Width < 0 || v.Height < 0 || v.Width > 8192 || v.Height > 8192 {
		return cfg, fmt.Errorf("video: size %dx%d out of range (0 keeps the input size, at most 8192)", v.Width, v.Height)
	}
	if v.FPS == 0 {
		v.FPS = DefaultFPS
	}
	if v.FPS < 1 || v.FPS > 120 {
		return cfg, fmt.Errorf("video: fps %d out of range 1..120", v.FPS)
	}
	if v.Bitrate < 0 {
		return cfg, fmt.Errorf("video: bitrate %d is negative", v.Bitrate)
	}
	if v.Preset == "" {
		v.Preset = DefaultPreset
	}
	if !slices.Contains(x264Presets, v.Preset) {
		return cfg, fmt.Errorf("video: preset %q is not an x264 preset", v.Preset)
	}
	if v.GOP == 0 {
		v.GOP = 2 * v.FPS
	}
	if v.GOP < 1 {
		return cfg, fmt.Errorf("video: gop %d must be positive", v.GOP)
	}
	if v.Profile == "" {
		v.Profile = DefaultProfile
	}
	if v.Profile != "baseline" && v.Profile != "main" {
		return cfg, fmt.Errorf("video: profile %q must be baseline or main", v.Profile)
	}
	if v.Scale == "" {
		v.Scale = ScaleFit
	}
	if v.Scale != ScaleFit && v.Scale != ScaleStretch {
		return cfg, fmt.Errorf("video: scale %q must be fit or stretch", v.Scale)
	}
	switch cfg.Audio {
	case "":
		cfg.Audio = codec.AudioCopy
	case codec.AudioCopy, codec.AudioDrop, codec.AudioOpus, codec.AudioAAC:
	default:
		return cfg, fmt.Errorf("audio: mode %q must be copy, drop, opus or aac", cfg.Audio)
	}
	return cfg, nil
}

// defaultBitrate is the bitrate for a size when none is configured: about
// 0.1 bit per pixel per frame (2.3 Mbit/s for 1280x720 at 25 fps), which
// ultrafast needs for camera scenes to stay sharp, and at least 200 kbit/s.
func defaultBitrate(w, h, fps int) int {
	return max(200_000, w*h*fps/10)
}

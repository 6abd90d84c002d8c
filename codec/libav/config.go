package libav

import (
	"errors"

	"github.com/camrelay/camrelay/codec"
)

// normalize checks a configuration and fills in its defaults, both as
// package codec defines them for the configuration file too.
func normalize(cfg codec.TranscodeConfig) (codec.TranscodeConfig, error) {
	if err := errors.Join(cfg.Check()...); err != nil {
		return cfg, err
	}
	return cfg.WithDefaults(), nil
}

// defaultBitrate is newH264Encoder's fallback for a zero bitrate (about 0.1
// bit per pixel per frame, at least 200 kbit/s), which New never passes:
// normalize sets codec.DefaultBitrate.
func defaultBitrate(w, h, fps int) int {
	return max(200_000, w*h*fps/10)
}

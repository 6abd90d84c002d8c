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

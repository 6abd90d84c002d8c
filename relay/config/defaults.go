package config

import (
	"time"

	"github.com/camrelay/camrelay/codec"
)

// Built-in defaults. Those of transcoding (video:, audio:) are package
// codec's.
const (
	DefaultStallTimeout   = 5 * time.Second
	DefaultReadTimeout    = 10 * time.Second
	DefaultPublishTimeout = 10 * time.Second
	DefaultBackoffMin     = 500 * time.Millisecond
	DefaultBackoffMax     = 30 * time.Second
	// DefaultSinkBackoffMax caps the wait between publish attempts that
	// failed for a reason time fixes (MediaMTX restarting): a refused
	// connection every 1-2 s per camera is cheap for both sides, and a
	// MediaMTX that comes back gets its cameras at once.
	DefaultSinkBackoffMax = 2 * time.Second
	DefaultRingSize       = 128 << 10
	DefaultAPIListen      = "127.0.0.1:9990"
	DefaultServeListen    = "127.0.0.1:8556"
	DefaultReleaseAfter   = 10 * time.Second
	DefaultShardCount     = 1
)

// presetDefaults sets, before decoding, the defaults whose zero value is an
// error when written: a file without shard.count means one shard, but
// count: 0 is refused.
func (c *Config) presetDefaults() {
	c.Shard.Count = DefaultShardCount
}

func (c *Config) applyDefaults() {
	d := &c.Defaults
	if d.Transport == "" {
		d.Transport = "auto"
	}
	setDur(&d.StallTimeout, DefaultStallTimeout)
	setDur(&d.ReadTimeout, DefaultReadTimeout)
	setDur(&d.PublishTimeout, DefaultPublishTimeout)
	setDur(&d.BackoffMin, DefaultBackoffMin)
	setDur(&d.BackoffMax, DefaultBackoffMax)
	if d.RingSize == 0 {
		d.RingSize = DefaultRingSize
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.API.Listen == "" {
		c.API.Listen = DefaultAPIListen
	}
	if c.Serve.Listen == "" {
		c.Serve.Listen = DefaultServeListen
	}
	setDur(&c.Serve.ReleaseAfter, DefaultReleaseAfter)
	if c.Auth.Enabled() {
		if c.Auth.Algorithm == "" {
			c.Auth.Algorithm = "EdDSA"
		}
		setDur(&c.Auth.TokenTTL, time.Hour)
		if c.Auth.MaxTTL == 0 {
			c.Auth.MaxTTL = c.Auth.TokenTTL
		}
		if c.Auth.ClaimKey == "" {
			c.Auth.ClaimKey = "mediamtx_permissions"
		}
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	c.fleetDefaults()
}

func setDur(d *Duration, def time.Duration) {
	if *d == 0 {
		*d = Duration(def)
	}
}

// Resolved returns cam with every default filled in: path, transport,
// output URLs (templates expanded; Outputs lists all, Output is the first), timeouts, mode and, for a transcoding
// camera, video and audio. It does not validate.
func (c *Config) Resolved(cam Camera) Camera {
	if cam.Path == "" {
		cam.Path = cam.Name
	}
	if cam.Transport == "" {
		cam.Transport = c.Defaults.Transport
	}
	c.resolveOutputs(&cam) // outputs.go
	if cam.StallTimeout == 0 {
		cam.StallTimeout = c.Defaults.StallTimeout
	}
	if cam.ReadTimeout == 0 {
		cam.ReadTimeout = c.Defaults.ReadTimeout
	}
	if cam.PublishTimeout == 0 {
		cam.PublishTimeout = c.Defaults.PublishTimeout
	}
	if cam.Mode == "" {
		cam.Mode = c.impliedMode(cam.Source)
	}
	if cam.Mode == ModeDirect {
		cam.Output, cam.Outputs = "", nil // MediaMTX pulls the camera; camrelay publishes nothing
	}
	if cam.Mode == ModeTranscode {
		cam.Video = videoFrom(cam.Video.Codec().WithDefaults())
		if cam.Audio == "" {
			cam.Audio = codec.DefaultAudio
		}
	}
	return cam
}

// impliedMode is the mode of a camera that sets none: copy, or transcode
// for kinds whose packets cannot be relayed as they are (MJPEG over HTTP).
func (c *Config) impliedMode(source string) string {
	if k, ok := c.caps.sources().Lookup(source); ok && !k.Packets && k.Frames {
		return ModeTranscode
	}
	return ModeCopy
}

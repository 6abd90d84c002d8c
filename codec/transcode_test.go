package codec

import (
	"errors"
	"strings"
	"testing"
)

func TestVideoDefaults(t *testing.T) {
	got := VideoConfig{}.WithDefaults()
	want := VideoConfig{FPS: 25, Bitrate: 2_000_000, Preset: "ultrafast", GOP: 50, Profile: "baseline", Scale: "fit"}
	if got != want {
		t.Fatalf("defaults %+v, want %+v", got, want)
	}
	if errs := got.Check(); len(errs) != 0 {
		t.Fatalf("the defaults do not pass Check: %v", errs)
	}
	// The GOP follows a configured rate (two seconds); set fields stay.
	set := VideoConfig{Width: 640, Height: 360, FPS: 10, Bitrate: 300_000, Preset: "fast", Profile: "main", Scale: "stretch"}
	got = set.WithDefaults()
	set.GOP = 20
	if got != set {
		t.Fatalf("defaults over set fields: %+v, want %+v", got, set)
	}
	if c := (TranscodeConfig{}).WithDefaults(); c.Audio != AudioCopy || c.Video != want {
		t.Fatalf("transcode defaults %+v", c)
	}
}

func TestVideoCheck(t *testing.T) {
	good := []VideoConfig{
		{},
		{Width: 16, Height: 8192},
		{Width: 1280, Height: 720, FPS: 120, Bitrate: 50_000, GOP: 1000, Preset: "placebo", Profile: "main", Scale: "stretch"},
		{Bitrate: 100_000_000, GOP: 1, FPS: 1},
	}
	for _, v := range good {
		if errs := v.Check(); len(errs) != 0 {
			t.Errorf("%+v: %v", v, errs)
		}
	}
	for _, c := range []struct {
		v    VideoConfig
		want string
	}{
		{VideoConfig{Width: 15, Height: 16}, "video.width: must be an even number from 16 to 8192, not 15"},
		{VideoConfig{Width: 640, Height: 361}, "video.height: must be an even number from 16 to 8192, not 361"},
		{VideoConfig{Width: 8194, Height: 720}, "video.width: must be an even number from 16 to 8192, not 8194"},
		{VideoConfig{Width: -2, Height: 720}, "video.width:"},
		{VideoConfig{Width: 640}, "video: set both width and height, or neither"},
		{VideoConfig{FPS: 121}, "video.fps: must be from 1 to 120, not 121"},
		{VideoConfig{FPS: -1}, "video.fps:"},
		{VideoConfig{Bitrate: 49_999}, "video.bitrate: must be from 50k to 100M bits per second, not 49999"},
		{VideoConfig{Bitrate: -5}, "video.bitrate:"},
		{VideoConfig{Bitrate: 100_000_001}, "video.bitrate:"},
		{VideoConfig{GOP: -1}, "video.gop: must be from 1 to 1000 frames, not -1"},
		{VideoConfig{GOP: 1001}, "video.gop:"},
		{VideoConfig{Preset: "fastest"}, `video.preset: "fastest" is not an x264 preset`},
		{VideoConfig{Profile: "high"}, `video.profile: must be baseline or main, not "high"`},
		{VideoConfig{Scale: "zoom"}, `video.scale: must be fit or stretch, not "zoom"`},
	} {
		errs := c.v.Check()
		if len(errs) == 0 || !strings.Contains(errors.Join(errs...).Error(), c.want) {
			t.Errorf("%+v: errors %v, want one containing %q", c.v, errs, c.want)
		}
	}
	// Every problem is reported, not only the first.
	errs := VideoConfig{Width: 15, Height: 17, FPS: 500, Preset: "x", Profile: "y", Scale: "z"}.Check()
	if len(errs) != 6 {
		t.Errorf("want 6 problems, got %d: %v", len(errs), errs)
	}
}

func TestCheckAudio(t *testing.T) {
	for _, m := range []string{"", AudioCopy, AudioDrop, AudioOpus, AudioAAC} {
		if err := CheckAudio(m); err != nil {
			t.Errorf("%q: %v", m, err)
		}
	}
	if err := CheckAudio("flac"); err == nil || err.Error() != `audio: must be copy, drop, opus or aac, not "flac"` {
		t.Errorf("flac: %v", err)
	}
	errs := TranscodeConfig{Video: VideoConfig{FPS: 500}, Audio: "mp3"}.Check()
	if len(errs) != 2 {
		t.Errorf("want the video and the audio problem, got %v", errs)
	}
}

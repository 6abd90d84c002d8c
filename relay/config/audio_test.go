package config

import (
	"errors"
	"strings"
	"testing"
)

// audio: copy | drop | opus | aac is valid for copy cameras too; video
// settings stay for transcoding cameras; opus and aac need libav.
func TestCopyCameraAudio(t *testing.T) {
	noLibav := Caps{Transcode: errors.New("transcoding needs camrelay built with libav")}
	for _, c := range []struct {
		cam  string
		caps Caps
		want string // "" valid
	}{
		{"{name: a, source: rtsp://h/a, audio: opus}", Caps{}, ""},
		{"{name: a, source: rtsp://h/a, audio: aac}", Caps{}, ""},
		{"{name: a, source: rtsp://h/a, audio: drop}", noLibav, ""},
		{"{name: a, source: rtsp://h/a, mode: copy, audio: copy}", noLibav, ""},
		{"{name: a, source: rtsp://h/a, audio: opus}", noLibav, `camera "a": audio: opus re-encodes the camera's audio, and transcoding needs camrelay built with libav`},
		{"{name: a, source: rtsp://h/a, audio: flac}", Caps{}, `camera "a": audio: must be copy, drop, opus or aac, not "flac"`},
		{"{name: a, source: rtsp://h/a, video: {fps: 10}}", Caps{}, `camera "a": video: only a camera with mode: transcode takes video settings`},
	} {
		_, err := Parse([]byte("output: rtsp://h/{path}\ncameras:\n  - "+c.cam+"\n"), env(nil), c.caps)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.cam, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want %q", c.cam, err, c.want)
		}
	}
}

package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/camrelay/camrelay/bench/camsim"
)

// camsimSpec is what the camsim worker serves: RTSP cameras cam1..camN
// looping Clip, and MJPEG-over-HTTP cameras mjpeg1..mjpegN with barcodes.
type camsimSpec struct {
	RTSP   int    `json:"rtsp"`
	Clip   string `json:"clip"`
	FPS    int    `json:"fps"`
	MJPEG  int    `json:"mjpeg"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

// camsimReady is the worker's READY line.
type camsimReady struct {
	RTSPAddr string `json:"rtsp_addr"`
	HTTPAddr string `json:"http_addr"`
}

// camsimStats answers "stats": frames sent so far per camera path (the
// camera's clock; the SEI frame numbers count the same frames).
type camsimStats struct {
	Frames map[string]uint64 `json:"frames"`
	// Sessions is the number of playing RTSP sessions plus MJPEG clients.
	Sessions int `json:"sessions"`
}

func rtspCamPath(i int) string  { return fmt.Sprintf("cam%d", i) }
func mjpegCamPath(i int) string { return fmt.Sprintf("mjpeg%d", i) }

func runCamsimWorker(arg string, in io.Reader, out io.Writer) error {
	var spec camsimSpec
	if err := json.Unmarshal([]byte(arg), &spec); err != nil {
		return err
	}
	srv := &camsim.Server{}
	var rtsp []*camsim.Camera
	var mj []*camsim.MJPEGCamera
	for i := 1; i <= spec.RTSP; i++ {
		c, err := srv.AddCamera(camsim.CameraConfig{Path: rtspCamPath(i), Clip: spec.Clip, FPS: spec.FPS})
		if err != nil {
			fmt.Fprintf(out, "ERROR %v\n", err)
			return err
		}
		rtsp = append(rtsp, c)
	}
	for i := 1; i <= spec.MJPEG; i++ {
		c, err := srv.AddMJPEGCamera(camsim.MJPEGConfig{Path: mjpegCamPath(i), Width: spec.Width, Height: spec.Height, FPS: spec.FPS})
		if err != nil {
			fmt.Fprintf(out, "ERROR %v\n", err)
			return err
		}
		mj = append(mj, c)
	}
	if err := srv.Start(); err != nil {
		fmt.Fprintf(out, "ERROR %v\n", err)
		return err
	}
	defer srv.Close()
	// SIGTERM ends the worker like a closed stdin does.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	go func() {
		if _, ok := <-sig; ok {
			srv.Close()
			os.Exit(0)
		}
	}()
	if err := writeReady(out, camsimReady{RTSPAddr: srv.Addr(), HTTPAddr: srv.MJPEGAddr()}); err != nil {
		return err
	}
	return serveCommands(in, out, func(cmd string) any {
		st := camsimStats{Frames: make(map[string]uint64, len(rtsp)+len(mj))}
		for _, c := range rtsp {
			st.Frames[c.Path()] = c.FramesSent()
			st.Sessions += c.Sessions()
		}
		for _, c := range mj {
			st.Frames[c.Path()] = c.FramesSent()
			st.Sessions += c.Sessions()
		}
		return st
	})
}

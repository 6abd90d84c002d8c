package api

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/camrelay/camrelay/relay"
)

// collector turns each camera's status into Prometheus series at scrape
// time: the packet path keeps its own atomic counters and never touches a
// Prometheus metric.
type collector struct {
	app *relay.App
}

var (
	labels = []string{"camera"}
	desc   = func(name, help string, extra ...string) *prometheus.Desc {
		return prometheus.NewDesc("camrelay_camera_"+name, help, append(append([]string{}, labels...), extra...), nil)
	}
	dUp         = desc("up", "1 while the camera streams (or, for direct cameras, MediaMTX has it ready).")
	dState      = desc("state", "Current state of the camera's source: 1 for the state named in the label.", "state")
	dPackets    = desc("packets_total", "RTP packets received from the camera.")
	dBytes      = desc("bytes_total", "Payload bytes received from the camera.")
	dFrames     = desc("frames_total", "Video frames received from the camera.")
	dLost       = desc("lost_packets_total", "Packets the camera sent that never arrived.")
	dDrops      = desc("dropped_packets_total", "Packets camrelay lost (sink lapped by the source, oversized); not the waits for a keyframe.")
	dSkipped    = desc("skipped_packets_total", "Packets the output passed over while waiting for a keyframe (session start, camera reconnect): expected, not a loss.", "output")
	dReconnects = desc("reconnects_total", "Times camrelay reconnected to the camera.")
	dFPS        = desc("fps", "Video frames per second over the last second.")
	dBitrate    = desc("bitrate_bps", "Bits per second received over the last second.")
	dSessions   = desc("publish_sessions_total", "Publish sessions opened at the output.", "output")
	dSent       = desc("sent_packets_total", "RTP packets written to the output.", "output")
	dLatency    = desc("latency_seconds", "Latency from the camera socket to the output socket, per frame.", "output", "quantile")
	// Per output (label output: its index in the camera's outputs).
	dOutInfo    = desc("output_info", "1 per output of the camera; url is its redacted URL.", "output", "url")
	dOutUp      = desc("output_up", "1 while the output publishes.", "output")
	dOutState   = desc("output_state", "Current state of the output: 1 for the state named in the label.", "output", "state")
	dOutDropped = desc("output_dropped_packets_total", "Packets the output lost because the source lapped its reader of the ring (a slow or frozen server).", "output")
	dViewers    = desc("viewers", "Readers MediaMTX has on the camera's path.")
)

var states = []relay.State{relay.StateConnecting, relay.StateStreaming, relay.StateBackoff, relay.StateError, relay.StateStopped, relay.StateIdle}

var sinkStates = []relay.SinkState{relay.SinkWaiting, relay.SinkPublishing, relay.SinkBackoff, relay.SinkError, relay.SinkStopped, relay.SinkIdle}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dUp, dState, dPackets, dBytes, dFrames, dLost, dDrops, dSkipped, dReconnects, dFPS, dBitrate, dSessions, dSent, dLatency, dViewers,
		dOutInfo, dOutUp, dOutState, dOutDropped} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for _, v := range c.app.Cameras() {
		if !v.Local {
			continue // another shard relays it and reports it
		}
		st := v.Status
		n := v.Config.Name
		gauge := func(d *prometheus.Desc, x float64, l ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, x, append([]string{n}, l...)...)
		}
		counter := func(d *prometheus.Desc, x uint64, l ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(x), append([]string{n}, l...)...)
		}
		up := 0.0
		if st.State == relay.StateStreaming {
			up = 1
		}
		gauge(dUp, up)
		for _, s := range states {
			x := 0.0
			if st.State == s {
				x = 1
			}
			gauge(dState, x, string(s))
		}
		counter(dPackets, st.Packets)
		counter(dBytes, st.Bytes)
		counter(dFrames, st.Frames)
		counter(dLost, st.Lost)
		counter(dDrops, st.Drops)
		counter(dReconnects, st.Reconnects)
		gauge(dFPS, st.FPS)
		gauge(dBitrate, st.Bitrate)
		for _, k := range st.Sinks {
			o := strconv.Itoa(k.Output)
			gauge(dOutInfo, 1, o, k.URL)
			up := 0.0
			if k.State == relay.SinkPublishing {
				up = 1
			}
			gauge(dOutUp, up, o)
			for _, s := range sinkStates {
				x := 0.0
				if k.State == s {
					x = 1
				}
				gauge(dOutState, x, o, string(s))
			}
			counter(dSessions, k.Sessions, o)
			counter(dSent, k.Packets, o)
			counter(dSkipped, k.Skipped, o)
			counter(dOutDropped, k.Dropped, o)
			gauge(dLatency, k.LatencyP50.Seconds(), o, "0.5")
			gauge(dLatency, k.LatencyP99.Seconds(), o, "0.99")
		}
		if st.Viewers != nil {
			gauge(dViewers, float64(*st.Viewers))
		}
	}
}

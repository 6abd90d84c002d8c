package transport

import "github.com/camrelay/camrelay/codec"

// Histogram is codec.Histogram: latency counters shared by sinks,
// transcoders and probes.
type Histogram = codec.Histogram

package codec

import "time"

var epoch = time.Now()

// Now is the process clock used for Packet.Received: monotonic nanoseconds
// since start. Reading it does not allocate.
func Now() int64 { return int64(time.Since(epoch)) }

// Elapsed converts a nanosecond duration to ticks of an RTP clock.
func Elapsed(ns int64, clockRate int) uint32 {
	if ns <= 0 || clockRate <= 0 {
		return 0
	}
	return uint32(uint64(ns) * uint64(clockRate) / uint64(time.Second))
}

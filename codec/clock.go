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
	// ns*clockRate overflows 64 bits past 57 hours at 90 kHz; whole seconds
	// and the remainder are scaled apart, and the sum wraps as RTP time does.
	sec, rem := uint64(ns)/uint64(time.Second), uint64(ns)%uint64(time.Second)
	return uint32(sec*uint64(clockRate) + rem*uint64(clockRate)/uint64(time.Second))
}

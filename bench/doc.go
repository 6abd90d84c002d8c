// Package bench measures camrelay: Go benchmarks of the copy path (ring,
// source to ring to sink, latency per frame) in this package, the simulated
// cameras in bench/camsim, and the harness that compares camrelay with
// ffmpeg re-streaming and MediaMTX direct sources.
package bench

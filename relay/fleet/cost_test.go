package fleet

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/camrelay/camrelay/internal/testenv/etcdtest"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// The cost of fleet mode: three members and 300 cameras on a three-member
// etcd. At rest: CPU of the members (this process: the fleet code and the
// etcd client, no media) and etcd traffic (the servers' gRPC byte
// counters), per camera per minute. Then one member dies: the time until
// the survivors hold every claim. Run with -run TestFleetCost -v.
func TestFleetCost(t *testing.T) {
	if testing.Short() {
		t.Skip("a 20 s measurement")
	}
	const n = 300
	ttl := 5 * time.Second
	f := &testFleet{t: t, etcd: etcdtest.Start(t, 3), seed: cams(n), ttl: ttl}
	for i := range 3 {
		f.add(fmt.Sprintf("m%d", i))
	}
	f.waitAll(20*time.Second, n)
	time.Sleep(ttl) // past the start-up writes

	traffic := func() float64 {
		sum := 0.0
		for _, nd := range f.etcd.Nodes {
			sum += nd.Metric("etcd_network_client_grpc_received_bytes_total") + nd.Metric("etcd_network_client_grpc_sent_bytes_total")
		}
		return sum
	}
	const window = 20 * time.Second
	b0, c0, t0 := traffic(), cpuTime(), time.Now()
	time.Sleep(window)
	bytes, cpu, el := traffic()-b0, cpuTime()-c0, time.Since(t0)
	perMin := time.Minute.Seconds() / el.Seconds()
	t.Logf("at rest, 3 members, %d cameras, TTL %v: etcd traffic %.0f B/min in all (%.1f B per camera per minute); CPU of the 3 members %.0f ms/min (%.2f ms per camera per minute, %.3f%% of a core)",
		n, ttl, bytes*perMin, bytes*perMin/n, float64(cpu.Milliseconds())*perMin, float64(cpu.Milliseconds())*perMin/n, 100*cpu.Seconds()/el.Seconds())

	dead := f.members[2]
	lost := len(f.recs[2].relaying())
	dead.crash = true
	dead.Close()
	took := f.waitAll(ttl+10*time.Second, n, 2)
	t.Logf("one of three members died holding %d of %d cameras: the survivors held every claim %v after its death (TTL %v: %v of it after the lease expired at the latest)",
		lost, n, took.Round(time.Millisecond), ttl, max(0, took-ttl).Round(time.Millisecond))
}

package auth

import (
	"net/netip"
	"testing"
	"time"
)

// go test -run '^$' -bench . -benchmem ./relay/auth/

func BenchmarkMint(b *testing.B) {
	for _, alg := range []Algorithm{EdDSA, RS256} {
		b.Run(string(alg), func(b *testing.B) {
			is := newTestIssuer(b, IssuerOptions{Algorithm: alg})
			req := MintRequest{Subject: "alice", Permissions: readCams}
			b.ReportAllocs()
			var n int
			for b.Loop() {
				tok, _, err := is.Mint(req)
				if err != nil {
					b.Fatal(err)
				}
				n = len(tok)
			}
			b.ReportMetric(float64(n), "bytes/token")
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, alg := range []Algorithm{EdDSA, RS256} {
		b.Run(string(alg), func(b *testing.B) {
			is := newTestIssuer(b, IssuerOptions{Algorithm: alg})
			tok, _, err := is.Mint(MintRequest{Subject: "alice", Permissions: readCams})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := is.Verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRateLimit is one allowed request from one of 1000 clients.
func BenchmarkRateLimit(b *testing.B) {
	l := newLimiter(RateLimit{Burst: 1 << 30, Every: time.Millisecond}, time.Now)
	addrs := make([]netip.Addr, 1000)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if ok, _ := l.allow(addrs[i%len(addrs)]); !ok {
			b.Fatal("limited")
		}
		i++
	}
}

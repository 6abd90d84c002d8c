// Package shard assigns cameras to the instances of a sharded camrelay by
// rendezvous (highest random weight) hashing: every shard index gets a weight
// for a camera's name, and the highest weight owns the camera.
//
// Every instance computes the same owner from the name alone, with no
// coordination. Going from n to n+1 shards moves only the cameras whose new
// highest weight is the new shard's, about 1/(n+1) of them, and never moves
// a camera between two shards that existed before.
//
// The weight is FNV-1a 64 of the name and the index, finished with
// MurmurHash3's 64-bit mixer: fixed, so that every machine and every release
// agrees (Go's map hash is seeded per process and would not), and mixed,
// because FNV-1a alone barely changes its high bits when only the last bytes
// (the index) differ.
package shard

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// Weight is index's rendezvous weight for a camera name.
func Weight(name string, index int) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= fnvPrime
	}
	// A separator, so that ("ab", 1) and ("a", ...) never feed the same bytes.
	h ^= 0xff
	h *= fnvPrime
	x := uint64(index)
	for range 8 {
		h ^= x & 0xff
		h *= fnvPrime
		x >>= 8
	}
	return mix64(h)
}

// mix64 is MurmurHash3's fmix64 finalizer.
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// Owner is the shard, from 0 to count-1, that relays the camera name. A
// count below 2 means one shard: 0 owns everything.
func Owner(name string, count int) int {
	if count < 2 {
		return 0
	}
	best, bestW := 0, uint64(0)
	for i := range count {
		// Ties (one in 2^64) go to the lower index, the same everywhere.
		if w := Weight(name, i); i == 0 || w > bestW {
			best, bestW = i, w
		}
	}
	return best
}

package shard

// MemberWeight is a fleet member's rendezvous weight for a camera name: the
// same FNV-1a 64 and fmix64 as Weight, over the member's name in place of
// a shard index, so that ownership follows the live members rather than
// fixed indexes.
func MemberWeight(name, member string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= fnvPrime
	}
	h ^= 0xfe // not Weight's separator: a member named "1" is not shard 1
	h *= fnvPrime
	for i := 0; i < len(member); i++ {
		h ^= uint64(member[i])
		h *= fnvPrime
	}
	return mix64(h)
}

// MemberOwner is the member with the highest weight for the camera name,
// "" when there are no members. When a member joins, only the cameras
// whose new highest weight is the newcomer's move (about 1/(n+1)); when one
// leaves, only its own cameras move, spread over the others.
func MemberOwner(name string, members []string) string {
	best, bestW := "", uint64(0)
	for _, m := range members {
		// Ties (one in 2^64) go to the lower name, the same everywhere.
		if w := MemberWeight(name, m); best == "" || w > bestW || (w == bestW && m < best) {
			best, bestW = m, w
		}
	}
	return best
}

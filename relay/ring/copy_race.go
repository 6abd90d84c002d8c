//go:build race

package ring

import (
	"sync/atomic"
	"unsafe"
)

// Under the race detector the arena is copied a word at a time with atomic
// loads and stores. The optimistic read of a seqlock is a data race by design
// (the reader throws away what it read if the writer got there first); the
// detector cannot know that, and would report every reuse of the arena. With
// atomic copies it still checks everything else the ring and its users do.
// Arena offsets are 8-aligned and records are padded to 8 bytes, so whole
// words never cross into another record.

func word(b []byte, i int) *uint64 { return (*uint64)(unsafe.Pointer(&b[i])) }

func copyIn(dst, src []byte) {
	i := 0
	for ; i+8 <= len(src); i += 8 {
		atomic.StoreUint64(word(dst, i), *(*uint64)(unsafe.Pointer(&src[i])))
	}
	if i < len(src) {
		var w [8]byte
		copy(w[:], src[i:])
		atomic.StoreUint64(word(dst, i), *(*uint64)(unsafe.Pointer(&w[0])))
	}
}

func copyOut(dst, src []byte) {
	i := 0
	for ; i+8 <= len(dst); i += 8 {
		*(*uint64)(unsafe.Pointer(&dst[i])) = atomic.LoadUint64(word(src, i))
	}
	if i < len(dst) {
		v := atomic.LoadUint64(word(src, i))
		w := (*[8]byte)(unsafe.Pointer(&v))
		copy(dst[i:], w[:len(dst)-i])
	}
}

package runtime

import (
	"hash/maphash"
	"sync/atomic"
)

// Task names, queues and fingerprints repeat from one message to the next:
// a worker decodes the same few over and over. intern returns them from a
// small table of recent strings, so that decoding one costs no allocation.

const (
	internSlots  = 256
	internMaxLen = 128 // longer strings are not kept
)

var (
	internSeed  = maphash.MakeSeed()
	internTable [internSlots]atomic.Pointer[string]
)

// intern returns b as a string, shared with earlier calls for the same
// bytes when the table still holds it.
func intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > internMaxLen {
		return string(b)
	}
	slot := &internTable[maphash.Bytes(internSeed, b)%internSlots]
	if p := slot.Load(); p != nil && *p == string(b) {
		return *p
	}
	s := string(b)
	slot.Store(&s)
	return s
}

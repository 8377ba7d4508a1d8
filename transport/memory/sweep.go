package memory

import "time"

// Expired keys and records are dropped when read. Those never read again
// are found by sampling, as Redis does: every sweepEvery store writes, look
// at sweepSample entries and drop the expired ones; while more than a
// quarter of a sample had expired, sample again, up to sweepRounds times.
// The work per write stays bounded and needs no goroutine.
const (
	sweepEvery  = 256
	sweepSample = 32
	sweepRounds = 4
)

// wroteLocked counts a store write and sweeps now and then.
func (t *Transport) wroteLocked(now time.Time) {
	t.writes++
	if t.writes%sweepEvery != 0 {
		return
	}
	sweep(t.kv, now)
	sweep(t.records, now)
}

// sweep drops expired entries of m found by sampling. Map iteration starts
// at a random place, which is what makes this a sample.
func sweep[V interface{ expired(time.Time) bool }](m map[string]V, now time.Time) {
	for range sweepRounds {
		seen, dropped := 0, 0
		for k, v := range m {
			if v.expired(now) {
				delete(m, k)
				dropped++
			}
			if seen++; seen == sweepSample {
				break
			}
		}
		if dropped*4 <= seen {
			return
		}
	}
}

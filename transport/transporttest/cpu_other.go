//go:build !unix

package transporttest

import "time"

// processCPU is not measured here: BenchWorker reports no CPU time.
func processCPU() time.Duration { return 0 }

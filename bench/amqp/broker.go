package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// brokerCPU is the CPU time used so far by the RabbitMQ node processes
// (beam.smp) on this machine, read from /proc, and whether any was found:
// with -v, where the CPU time of a round goes on a local broker.
func brokerCPU() (time.Duration, bool) {
	const clockTicks = 100 // USER_HZ on Linux
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var total time.Duration
	found := false
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open || s[open+1:end] != "beam.smp" {
			continue
		}
		// After the command: state, then fields 4 onward; utime and
		// stime are fields 14 and 15.
		f := strings.Fields(s[end+1:])
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(ut+st) * time.Second / clockTicks
		found = true
	}
	return total, found
}

package main

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// cpuMeter measures where a run's CPU time goes: the Redis server's (from
// INFO cpu) and this process's (getrusage), both contenders included.
type cpuMeter struct {
	rdb *goredis.Client
}

// cpuSample is the CPU time used so far.
type cpuSample struct {
	redis, self time.Duration
}

func newCPUMeter(cfg *config) (*cpuMeter, error) {
	opt, err := goredis.ParseURL(cfg.redisURL)
	if err != nil {
		return nil, err
	}
	return &cpuMeter{rdb: goredis.NewClient(opt)}, nil
}

func (m *cpuMeter) close() { m.rdb.Close() }

func (m *cpuMeter) sample(ctx context.Context) cpuSample {
	var s cpuSample
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	info, err := m.rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return s
	}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			f, _ := strconv.ParseFloat(v, 64)
			s.redis += time.Duration(f * float64(time.Second))
		}
	}
	return s
}

// per returns the CPU time per task between two samples, as a phrase.
func per(a, b cpuSample, n int) string {
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / float64(n) }
	return fmt.Sprintf("Redis %.1f µs/task, bench process %.1f µs/task", us(b.redis-a.redis), us(b.self-a.self))
}

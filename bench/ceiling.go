package main

import (
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"regexp"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// ceiling runs redis-benchmark LPUSH and LPOP on a list of this run's own,
// without and with pipelining, against the same server: what Redis does
// with one command per round trip, and with 16.
func ceiling(ctx context.Context, cfg *config) error {
	bin, err := exec.LookPath(cfg.redisBenchmark)
	if err != nil {
		return fmt.Errorf("redis-benchmark: %w (pass -redis-benchmark= to skip the ceiling)", err)
	}
	u, _ := url.Parse(cfg.redisURL)
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "6379"
	}
	db := strings.Trim(u.Path, "/")
	if db == "" {
		db = "0"
	}
	key := cfg.prefix() + ":ceiling"
	defer func() {
		opt, err := goredis.ParseURL(cfg.redisURL)
		if err == nil {
			c := goredis.NewClient(opt)
			c.Del(context.Background(), key)
			c.Close()
		}
	}()
	fmt.Printf("ceiling: redis-benchmark -c 50 -n %d on the same server\n\n", 4*cfg.n)
	fmt.Println("| command | requests/s |")
	fmt.Println("|---|---|")
	for _, p := range []int{1, 16} {
		for _, cmd := range [][]string{{"LPUSH", key, "x"}, {"LPOP", key}} {
			args := []string{"-h", host, "-p", port, "--dbnum", db, "-c", "50", "-n", strconv.Itoa(4 * cfg.n), "-q", "-P", strconv.Itoa(p)}
			if pw, ok := u.User.Password(); ok {
				args = append(args, "-a", pw)
			}
			out, err := exec.CommandContext(ctx, bin, append(args, cmd...)...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("redis-benchmark %s: %v: %s", cmd[0], err, out)
			}
			rps := requestsPerSecond(string(out))
			name := cmd[0]
			if p > 1 {
				name += fmt.Sprintf(" -P %d", p)
			}
			fmt.Printf("| %s | %s |\n", name, rps)
		}
	}
	return nil
}

var rpsRe = regexp.MustCompile(`([0-9.]+) requests per second`)

func requestsPerSecond(out string) string {
	m := rpsRe.FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		return "?"
	}
	v, _ := strconv.ParseFloat(m[len(m)-1][1], 64)
	return thousands(int64(v))
}

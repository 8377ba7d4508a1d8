package testenv

import "testing"

// TestBrokersReachable fails under CI when `make test` did not bring the
// brokers up, even before any transport test would notice.
func TestBrokersReachable(t *testing.T) {
	t.Parallel()
	if RedisURL(t) == "" || RedisClusterURL(t) == "" || AMQPURL(t) == "" {
		t.Fatal("empty broker URL")
	}
}

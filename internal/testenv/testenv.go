// Package testenv gives tests the addresses of the brokers that `make
// services` starts.
//
// Tests read TASKGEN_REDIS_URL, TASKGEN_REDIS_CLUSTER_URL and
// TASKGEN_AMQP_URL. Outside CI a test whose broker is missing is skipped with
// the reason; under CI=true it fails, so a missing broker never passes
// silently.
package testenv

import (
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// RedisURL returns the Redis URL for integration tests.
func RedisURL(t testing.TB) string {
	t.Helper()
	return brokerURL(t, "TASKGEN_REDIS_URL", "6379")
}

// RedisClusterURL returns the URL of the Redis Cluster for integration
// tests, of the form redis+cluster://host:port,host:port,... (the seed nodes
// of one cluster). Every seed node must answer.
func RedisClusterURL(t testing.TB) string {
	t.Helper()
	const env = "TASKGEN_REDIS_CLUSTER_URL"
	raw := os.Getenv(env)
	if raw == "" {
		unavailable(t, env+" is not set; run the tests with `make test`, which starts the brokers")
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("%s=%q: %v", env, raw, err)
	}
	for _, host := range strings.Split(u.Host, ",") {
		if _, _, err := net.SplitHostPort(host); err != nil {
			host = net.JoinHostPort(host, "6379")
		}
		if !reachable(host) {
			unavailable(t, env+": cluster node "+host+" unreachable")
			return ""
		}
	}
	return raw
}

// AMQPURL returns the RabbitMQ URL for integration tests.
func AMQPURL(t testing.TB) string {
	t.Helper()
	return brokerURL(t, "TASKGEN_AMQP_URL", "5672")
}

// InCI reports whether the tests run under CI=true.
func InCI() bool { return os.Getenv("CI") == "true" }

func brokerURL(t testing.TB, env, port string) string {
	t.Helper()
	raw := os.Getenv(env)
	if raw == "" {
		unavailable(t, env+" is not set; run the tests with `make test`, which starts the brokers")
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("%s=%q: %v", env, raw, err)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), port)
	}
	c, err := net.DialTimeout("tcp", host, 3*time.Second)
	if err != nil {
		unavailable(t, env+": broker unreachable: "+err.Error())
		return ""
	}
	c.Close()
	return raw
}

func reachable(host string) bool {
	c, err := net.DialTimeout("tcp", host, 3*time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func unavailable(t testing.TB, reason string) {
	t.Helper()
	if InCI() {
		t.Fatal(reason + " (CI=true: a missing broker is a failure)")
	}
	t.Skip(reason)
}

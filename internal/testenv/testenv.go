// Package testenv gives tests the addresses of the brokers that `make
// services` starts.
//
// Tests read TASKGEN_REDIS_URL and TASKGEN_AMQP_URL. Outside CI a test whose
// broker is missing is skipped with the reason; under CI=true it fails, so a
// missing broker never passes silently.
package testenv

import (
	"net"
	"net/url"
	"os"
	"testing"
	"time"
)

// RedisURL returns the Redis URL for integration tests.
func RedisURL(t testing.TB) string {
	t.Helper()
	return brokerURL(t, "TASKGEN_REDIS_URL", "6379")
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

func unavailable(t testing.TB, reason string) {
	t.Helper()
	if InCI() {
		t.Fatal(reason + " (CI=true: a missing broker is a failure)")
	}
	t.Skip(reason)
}

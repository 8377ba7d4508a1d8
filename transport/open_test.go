package transport_test

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestOpenMemory(t *testing.T) {
	t.Parallel()
	for _, url := range []string{"mem://", "mem:", "MEM://"} {
		tr, err := transport.Open(t.Context(), url)
		if err != nil {
			t.Fatalf("Open(%q): %v", url, err)
		}
		if _, ok := tr.(runtime.Store); !ok {
			t.Errorf("Open(%q) returned %T, which is not also a runtime.Store", url, tr)
		}
		if err := tr.Publish(t.Context(), &runtime.Message{ID: "x", Queue: "q"}); err != nil {
			t.Errorf("Publish: %v", err)
		}
		if err := tr.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}

// Each Open returns its own transport; nothing is shared through the URL.
func TestOpenMemoryIsFresh(t *testing.T) {
	t.Parallel()
	a, err := transport.Open(t.Context(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := transport.Open(t.Context(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.Publish(t.Context(), &runtime.Message{ID: "x", Queue: "q"}); err != nil {
		t.Fatal(err)
	}
	if s, err := b.Stats(t.Context(), "q"); err != nil || s.Pending != 0 {
		t.Fatalf("second transport Stats = %+v, %v; want empty", s, err)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url  string
		want []string // substrings of the error
		not  string   // must not appear
	}{
		{url: "rediss://user:s3cret@127.0.0.1:1/0", want: []string{"redis", "cannot reach", "rediss://user:xxxxx@127.0.0.1:1/0"}, not: "s3cret"},
		{url: "redis+cluster://u:s3cret@127.0.0.1:1,127.0.0.1:2", want: []string{"cannot reach", "redis+cluster://"}, not: "s3cret"},
		{url: "redis://127.0.0.1:6379/0?prefix=a{b}", want: []string{"prefix", "brace"}},
		{url: "redis://127.0.0.1:6379/0?lease=soon", want: []string{"lease", "soon"}},
		{url: "redis://127.0.0.1:6379/0?lease=-1s", want: []string{"lease", "not positive"}},
		{url: "redis://127.0.0.1:6379/0?colour=blue", want: []string{"colour"}},
		{url: "redis+cluster://127.0.0.1:7001/3", want: []string{"database 0"}},
		{url: "amqp://guest:s3cret@127.0.0.1:1/", want: []string{"amqp", "connect", "amqp://guest:xxxxx@127.0.0.1:1/"}, not: "s3cret"},
		{url: "amqps://u:hunter2@127.0.0.1:1/vh", want: []string{"amqps://u:xxxxx@127.0.0.1:1/vh"}, not: "hunter2"},
		{url: "amqp://127.0.0.1:1/?queue_type=stream", want: []string{"queue_type", "stream"}},
		{url: "amqp://127.0.0.1:1/?colour=blue", want: []string{"colour", "queue_type"}},
		{url: "amqp://127.0.0.1:1/?store=redis://:s3cret@127.0.0.1:1/0", want: []string{"store", "cannot reach"}, not: "s3cret"},
		{url: "amqp://127.0.0.1:1/?store=kafka://broker", want: []string{"store", `unknown scheme "kafka"`}},
		{url: "amqp://127.0.0.1:1/?store=", want: []string{"store= is empty"}},
		{url: "kafka://broker:9092", want: []string{`unknown scheme "kafka"`, "mem://", "redis://", "rediss://", "amqp://", "amqps://"}},
		{url: "127.0.0.1:6379", want: []string{"first path segment in URL cannot contain colon"}},
		{url: "localhost", want: []string{"no scheme", "mem://"}},
		{url: "", want: []string{"no scheme"}},
		{url: "mem://shared", want: []string{`"mem://shared"`, "takes no host"}},
		{url: "mem://?lease=10s", want: []string{"takes no host, path or options"}},
		{url: "redis://u:pw@host:notaport", want: []string{"malformed URL", "invalid port"}, not: "pw@"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			tr, err := transport.Open(context.Background(), tt.url)
			if err == nil {
				tr.Close()
				t.Fatalf("Open(%q) succeeded, want an error", tt.url)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("Open(%q) error %q does not mention %q", tt.url, msg, w)
				}
			}
			if tt.not != "" && strings.Contains(msg, tt.not) {
				t.Errorf("Open(%q) error %q reveals %q", tt.url, msg, tt.not)
			}
		})
	}
}

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
	goredis "github.com/redis/go-redis/v9"

	"github.com/taskgen/taskgen/internal/testenv"
	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport"
	"github.com/taskgen/taskgen/transport/amqp"
)

// runDLQTest runs `taskgen dlq args...` in process and returns its output
// and exit code.
func runDLQTest(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := runDLQ(args, &out, &errOut)
	return out.String() + errOut.String(), code
}

// mustDLQ runs `taskgen dlq args...` and fails the test unless it exits 0.
func mustDLQ(t *testing.T, args ...string) string {
	t.Helper()
	out, code := runDLQTest(t, args...)
	if code != 0 {
		t.Fatalf("taskgen dlq %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// dlqSeed holds three dead letters on queue: a1 (task t.a, failed, two
// errors), a2 (t.a, panicked) and b1 (t.b, failed).
type dlqSeed struct {
	tr    runtime.Transport
	queue string
	at    time.Time // the time of a1's first error
}

func seedDeadLetters(t *testing.T, url string) *dlqSeed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr, err := transport.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	s := &dlqSeed{tr: tr, queue: "dlq", at: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	for _, l := range []struct {
		id, task string
		reason   runtime.Reason
		errs     []runtime.AttemptError
		last     string
	}{
		{"a1", "t.a", runtime.ReasonFailed, []runtime.AttemptError{{At: s.at, Error: "first boom"}}, "second boom"},
		{"a2", "t.a", runtime.ReasonPanicked, nil, "panic: nil map\ngoroutine 7 [running]:"},
		{"b1", "t.b", runtime.ReasonFailed, nil, "b failed"},
	} {
		env := runtime.Envelope{ID: l.id, Task: l.task, Queue: s.queue, Priority: runtime.DefaultPriority,
			Payload: []byte(`{"user":` + l.id[1:] + `}`), Attempt: 1, Errors: l.errs}
		msg := &runtime.Message{ID: l.id, Queue: s.queue, Priority: runtime.DefaultPriority, Body: env.Marshal()}
		if err := tr.Publish(ctx, msg); err != nil {
			t.Fatal(err)
		}
		ds, err := tr.Fetch(ctx, runtime.FetchRequest{Queues: []string{s.queue}, Max: 1})
		if err != nil || len(ds) != 1 || ds[0].ID != l.id {
			t.Fatalf("fetch %s: %v, %v", l.id, ds, err)
		}
		if err := tr.DeadLetter(ctx, ds[0], runtime.DeadLetter{Task: l.task, Reason: l.reason, Error: l.last, Attempts: 2}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// stats returns the seed queue's counts.
func (s *dlqSeed) stats(t *testing.T) runtime.QueueStats {
	t.Helper()
	st, err := s.tr.Stats(t.Context(), s.queue)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// testDLQCommand runs every dlq command against the broker at url.
func testDLQCommand(t *testing.T, url string) {
	s := seedDeadLetters(t, url)
	q := "-queue=" + s.queue

	out := mustDLQ(t, "list", q, url)
	for _, want := range []string{"a1", "a2", "b1", "t.a", "t.b", "panicked", "second boom", "panic: nil map …"} {
		if !strings.Contains(out, want) {
			t.Errorf("list: no %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "goroutine 7") {
		t.Errorf("list prints more than the first line of an error:\n%s", out)
	}
	lines := func(out string) int { return strings.Count(strings.TrimSpace(out), "\n") } // minus the header
	if n := lines(mustDLQ(t, "list", q, "-task=t.a", url)); n != 2 {
		t.Errorf("list -task=t.a: %d dead letters, want 2", n)
	}
	if out := mustDLQ(t, "list", q, "-reason=panicked", url); lines(out) != 1 || !strings.Contains(out, "a2") {
		t.Errorf("list -reason=panicked: want a2 alone\n%s", out)
	}
	if n := lines(mustDLQ(t, "list", q, "-limit=1", url)); n != 1 {
		t.Errorf("list -limit=1: %d dead letters", n)
	}

	out = mustDLQ(t, "show", q, url, "a1")
	for _, want := range []string{"task:     t.a", "reason:   failed", `args:     {"user":1}`,
		"1. " + s.at.Format(time.RFC3339Nano), "first boom", "2. ", "second boom"} {
		if !strings.Contains(out, want) {
			t.Errorf("show a1: no %q in\n%s", want, out)
		}
	}
	if out := mustDLQ(t, "show", q, url, "a2"); !strings.Contains(out, "     goroutine 7 [running]:") {
		t.Errorf("show a2: the stack is not printed in full\n%s", out)
	}
	if out, code := runDLQTest(t, "show", q, url, "nope"); code != 1 || !strings.Contains(out, "no dead letter nope") {
		t.Errorf("show of a missing ID: exit %d\n%s", code, out)
	}

	if out := mustDLQ(t, "requeue", q, url, "b1"); !strings.Contains(out, "requeued b1") {
		t.Errorf("requeue b1: %s", out)
	}
	if st := s.stats(t); st.Pending != 1 || st.Dead != 2 {
		t.Errorf("after requeue b1: %+v, want 1 pending and 2 dead", st)
	}
	if out := mustDLQ(t, "requeue", q, "-all", "-reason=panicked", url); !strings.Contains(out, "requeued 1 dead letters") {
		t.Errorf("requeue -all -reason=panicked: %s", out)
	}
	if st := s.stats(t); st.Pending != 2 || st.Dead != 1 {
		t.Errorf("after requeue -all: %+v, want 2 pending and 1 dead", st)
	}
	if out := mustDLQ(t, "list", q, url); lines(out) != 1 || !strings.Contains(out, "a1") {
		t.Errorf("list after the requeues: want a1 alone\n%s", out)
	}
	if out := mustDLQ(t, "purge", q, url); !strings.Contains(out, "purged 1 dead letters") {
		t.Errorf("purge: %s", out)
	}
	if st := s.stats(t); st.Pending != 2 || st.Dead != 0 {
		t.Errorf("after purge: %+v, want 2 pending and none dead", st)
	}
	// The requeued tasks come back whole.
	ds, err := s.tr.Fetch(t.Context(), runtime.FetchRequest{Queues: []string{s.queue}, Max: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		env, err := runtime.DecodeEnvelope(d.Body)
		if err != nil || env.ID != d.ID || string(env.Payload) != `{"user":`+d.ID[1:]+`}` {
			t.Errorf("requeued %s: envelope %+v, %v", d.ID, env, err)
		}
		if err := s.tr.Ack(t.Context(), d); err != nil {
			t.Error(err)
		}
	}
}

// The dlq subcommand lists, shows, requeues and purges the dead letters of
// a Redis queue.
func TestDLQRedis(t *testing.T) {
	t.Parallel()
	base := testenv.RedisURL(t)
	prefix := "taskgen-test-" + strings.ToLower(rand.Text()[:12])
	t.Cleanup(func() { deleteRedisKeys(t, base, prefix) })
	testDLQCommand(t, base+"?prefix="+prefix)
}

// The same on RabbitMQ.
func TestDLQAMQP(t *testing.T) {
	t.Parallel()
	base := testenv.AMQPURL(t)
	prefix := "tgtest." + strings.ToLower(rand.Text()[:8]) + "."
	url := base + "?prefix=" + prefix
	t.Cleanup(func() { deleteAMQPObjects(t, base, url, prefix) })
	testDLQCommand(t, url)
}

// The built command runs the subcommand: exit codes and output of a real
// process, against Redis.
func TestDLQBinary(t *testing.T) {
	t.Parallel()
	base := testenv.RedisURL(t)
	prefix := "taskgen-test-" + strings.ToLower(rand.Text()[:12])
	t.Cleanup(func() { deleteRedisKeys(t, base, prefix) })
	url := base + "?prefix=" + prefix
	seedDeadLetters(t, url)
	run := func(args ...string) (string, int) {
		cmd := exec.Command(taskgenBinary(t), append([]string{"dlq"}, args...)...)
		cmd.Env = testEnv()
		out, err := cmd.CombinedOutput()
		if exit := (*exec.ExitError)(nil); err != nil && !asExit(err, &exit) {
			t.Fatal(err)
		} else if exit != nil {
			return string(out), exit.ExitCode()
		}
		return string(out), 0
	}
	if out, code := run("list", "-queue=dlq", url); code != 0 || !strings.Contains(out, "a1") || !strings.Contains(out, "b1") {
		t.Errorf("dlq list: exit %d\n%s", code, out)
	}
	if out, code := run("purge", "-queue=dlq", url); code != 0 || !strings.Contains(out, "purged 3 dead letters") {
		t.Errorf("dlq purge: exit %d\n%s", code, out)
	}
	if out, code := run("frob", url); code != 2 || !strings.Contains(out, `unknown command "frob"`) {
		t.Errorf("dlq frob: exit %d\n%s", code, out)
	}
	if out, code := run("list", "-queue=dlq", "redis://127.0.0.1:1/0", "-timeout=2s"); code != 2 {
		t.Errorf("dlq list with a flag after the URL: exit %d\n%s", code, out)
	}
}

func asExit(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	*target = e
	return ok
}

// A bad command line exits 2 with a message, before any broker is dialled.
func TestDLQUsage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "missing command"},
		{[]string{"frob"}, `unknown command "frob"`},
		{[]string{"list"}, "missing the broker URL"},
		{[]string{"list", "mem://", "-queue=x"}, "flags go before the URL"},
		{[]string{"show", "mem://"}, "give the ID"},
		{[]string{"requeue", "mem://"}, "give the ID of one dead letter, or -all"},
		{[]string{"requeue", "-all", "mem://", "x"}, "not both"},
		{[]string{"list", "-reason=bored", "mem://"}, `unknown reason "bored"`},
		{[]string{"purge", "-task=t.a", "mem://"}, "apply to list and requeue -all"},
		{[]string{"list", "-queue=", "mem://"}, "-queue is empty"},
	} {
		out, code := runDLQTest(t, tc.args...)
		if code != 2 || !strings.Contains(out, tc.want) {
			t.Errorf("taskgen dlq %q: exit %d, want 2 and %q\n%s", tc.args, code, tc.want, out)
		}
	}
	if out := mustDLQ(t, "-h"); !strings.Contains(out, "usage: taskgen dlq") {
		t.Errorf("dlq -h: %s", out)
	}
	// An empty memory transport lists nothing and purges nothing.
	if out := mustDLQ(t, "purge", "mem://"); !strings.Contains(out, "purged 0 dead letters") {
		t.Errorf("purge mem://: %s", out)
	}
}

// deleteRedisKeys deletes every key under prefix.
func deleteRedisKeys(t *testing.T, url, prefix string) {
	opt, err := goredis.ParseURL(url)
	if err != nil {
		t.Error(err)
		return
	}
	c := goredis.NewClient(opt)
	defer c.Close()
	ctx := context.Background()
	iter := c.Scan(ctx, 0, prefix+":*", 1000).Iterator()
	for iter.Next(ctx) {
		c.Del(ctx, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Errorf("deleting the keys under %s: %v", prefix, err)
	}
}

// deleteAMQPObjects deletes the queues and exchanges of the queue "dlq"
// that a transport opened on url declares, under prefix.
func deleteAMQPObjects(t *testing.T, base, url, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr, err := transport.Open(ctx, url)
	if err != nil {
		t.Error(err)
		return
	}
	queues, exchanges := tr.(*amqp.Transport).Objects("dlq")
	exchanges = append(exchanges, prefix+amqp.DeadExchange)
	tr.Close()
	conn, err := amqp091.Dial(base)
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Error(err)
		return
	}
	for _, q := range queues {
		if _, err := ch.QueueDelete(q, false, false, false); err != nil {
			t.Error(fmt.Errorf("delete queue %s: %w", q, err))
			return
		}
	}
	for _, x := range exchanges {
		if err := ch.ExchangeDelete(x, false, false); err != nil {
			t.Error(fmt.Errorf("delete exchange %s: %w", x, err))
			return
		}
	}
}

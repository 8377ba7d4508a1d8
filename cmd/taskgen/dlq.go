package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport"
)

const dlqUsage = `usage: taskgen dlq <command> [flags] URL [ID]

Inspects and manages the dead letters of a queue on the broker that URL
names (mem://, redis://, redis+cluster://, amqp://, as transport.Open reads
them; give the same options, such as prefix=, that the workers use).

Commands:
  list     URL        list dead letters, oldest first
  show     URL ID     print one dead letter: arguments and every error
  requeue  URL ID     put one dead letter back on its queue
  requeue  -all URL   put back every dead letter that -task and -reason match
  purge    URL        delete every dead letter of the queue

Flags (before URL):
  -queue name    the queue (default "default")
  -task name     list, requeue -all: only this task (wire name)
  -reason r      list, requeue -all: only this reason (failed, panicked,
                 expired, malformed, undecodable, unknown_task,
                 schema_mismatch, delivery_limit)
  -limit n       list: at most n (default 0, all)
  -all           requeue: every matching dead letter
  -timeout d     give up after d (default 30s)
`

// dlqError is a failure of the dlq command; usage reports a command line
// that must be corrected (exit code 2) rather than a failed operation.
type dlqError struct {
	msg   string
	usage bool
}

func (e *dlqError) Error() string { return e.msg }

func usageErr(format string, args ...any) error {
	return &dlqError{msg: fmt.Sprintf(format, args...), usage: true}
}

// runDLQ runs `taskgen dlq args...` and returns the exit code: 0, 1 when an
// operation failed, 2 for a bad command line.
func runDLQ(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err := dlq(ctx, args, stdout)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "taskgen dlq: %v\n", err)
	var de *dlqError
	if errors.As(err, &de) && de.usage {
		fmt.Fprintf(stderr, "run 'taskgen dlq -h' for usage\n")
		return 2
	}
	return 1
}

func dlq(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageErr("missing command: list, show, requeue or purge")
	}
	cmd, args := args[0], args[1:]
	if cmd == "-h" || cmd == "-help" || cmd == "--help" || cmd == "help" {
		fmt.Fprint(stdout, dlqUsage)
		return nil
	}
	fs := flag.NewFlagSet("taskgen dlq "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		queue   = fs.String("queue", runtime.DefaultQueue, "")
		task    = fs.String("task", "", "")
		reason  = fs.String("reason", "", "")
		limit   = fs.Int("limit", 0, "")
		all     = fs.Bool("all", false, "")
		timeout = fs.Duration("timeout", 30*time.Second, "")
	)
	var want int // positional arguments after the URL
	switch cmd {
	case "list", "purge":
	case "show":
		want = 1
	case "requeue":
		want = -1 // an ID, or -all
	default:
		return usageErr("unknown command %q: use list, show, requeue or purge", cmd)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, dlqUsage)
			return nil
		}
		return usageErr("%s: %v", cmd, err)
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return usageErr("%s: missing the broker URL", cmd)
	}
	url, rest := rest[0], rest[1:]
	for _, a := range rest {
		if strings.HasPrefix(a, "-") {
			return usageErr("%s: flags go before the URL: %s", cmd, a)
		}
	}
	if want == -1 {
		switch {
		case *all && len(rest) > 0:
			return usageErr("requeue: give an ID or -all, not both")
		case !*all && len(rest) != 1:
			return usageErr("requeue: give the ID of one dead letter, or -all for every one that -task and -reason match")
		case *all:
			want = 0
		default:
			want = 1
		}
	}
	if len(rest) != want {
		if want == 0 {
			return usageErr("%s: unexpected argument %q after the URL", cmd, rest[0])
		}
		return usageErr("%s: give the ID of one dead letter after the URL", cmd)
	}
	if *queue == "" {
		return usageErr("%s: -queue is empty", cmd)
	}
	filter := runtime.DeadLetterFilter{Task: *task, Reason: runtime.Reason(*reason)}
	if filter.Reason != "" && !knownReason(filter.Reason) {
		return usageErr("%s: unknown reason %q", cmd, *reason)
	}
	if (cmd == "show" || cmd == "purge" || (cmd == "requeue" && !*all)) && (filter != runtime.DeadLetterFilter{}) {
		return usageErr("%s: -task and -reason apply to list and requeue -all", cmd)
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	tr, err := transport.Open(ctx, url)
	if err != nil {
		return err
	}
	defer tr.Close()

	switch cmd {
	case "list":
		dls, err := runtime.ListDeadLetters(ctx, tr, *queue, filter, *limit)
		if err != nil {
			return err
		}
		printList(stdout, dls)
	case "show":
		dl, err := runtime.GetDeadLetter(ctx, tr, *queue, rest[0])
		if errors.Is(err, runtime.ErrNotFound) {
			return fmt.Errorf("queue %q has no dead letter %s", *queue, rest[0])
		}
		if err != nil {
			return err
		}
		printOne(stdout, dl)
	case "requeue":
		in, ok := tr.(runtime.Inspector)
		if !ok {
			return fmt.Errorf("the %T transport cannot requeue dead letters", tr)
		}
		if !*all {
			err := in.RequeueDeadLetter(ctx, *queue, rest[0])
			switch {
			case errors.Is(err, runtime.ErrNotFound):
				return fmt.Errorf("queue %q has no dead letter %s", *queue, rest[0])
			case errors.Is(err, runtime.ErrDuplicateTask):
				return fmt.Errorf("dead letter %s stays dead: queue %q already holds a task with its ID", rest[0], *queue)
			case err != nil:
				return fmt.Errorf("requeue dead letter %s on queue %q: %w", rest[0], *queue, err)
			}
			fmt.Fprintf(stdout, "requeued %s on queue %q\n", rest[0], *queue)
			return nil
		}
		n, err := runtime.RequeueDeadLetters(ctx, tr, *queue, filter)
		fmt.Fprintf(stdout, "requeued %d dead letters on queue %q\n", n, *queue)
		return err
	case "purge":
		in, ok := tr.(runtime.Inspector)
		if !ok {
			return fmt.Errorf("the %T transport cannot purge dead letters", tr)
		}
		n, err := in.PurgeDeadLetters(ctx, *queue)
		if err != nil {
			return fmt.Errorf("purge the dead letters of queue %q: %w", *queue, err)
		}
		fmt.Fprintf(stdout, "purged %d dead letters of queue %q\n", n, *queue)
	}
	return nil
}

func knownReason(r runtime.Reason) bool {
	switch r {
	case runtime.ReasonFailed, runtime.ReasonPanicked, runtime.ReasonExpired, runtime.ReasonMalformed,
		runtime.ReasonUndecodable, runtime.ReasonUnknownTask, runtime.ReasonSchemaMismatch, runtime.ReasonDeliveryLimit:
		return true
	}
	return false
}

// printList writes one line per dead letter, with the first line of its
// error, cut short.
func printList(w io.Writer, dls []runtime.DeadLetter) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTASK\tREASON\tATTEMPTS\tAT\tERROR")
	for _, dl := range dls {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", dl.ID, orDash(dl.Task), dl.Reason, dl.Attempts,
			dl.At.UTC().Format(time.RFC3339), firstLine(dl.Error, 100))
	}
	tw.Flush()
}

// printOne writes a dead letter in full.
func printOne(w io.Writer, dl runtime.DeadLetter) {
	fmt.Fprintf(w, "id:       %s\n", dl.ID)
	fmt.Fprintf(w, "queue:    %s\n", dl.Queue)
	fmt.Fprintf(w, "task:     %s\n", orDash(dl.Task))
	fmt.Fprintf(w, "reason:   %s\n", dl.Reason)
	fmt.Fprintf(w, "attempts: %d\n", dl.Attempts)
	fmt.Fprintf(w, "at:       %s\n", dl.At.UTC().Format(time.RFC3339Nano))
	switch {
	case dl.Args != nil:
		fmt.Fprintf(w, "args:     %s\n", dl.Args)
	default:
		fmt.Fprintf(w, "args:     - (%d-byte body)\n", len(dl.Body))
	}
	fmt.Fprintf(w, "errors:\n")
	for i, e := range dl.Errors {
		fmt.Fprintf(w, "  %d. %s\n", i+1, e.At.UTC().Format(time.RFC3339Nano))
		for _, line := range strings.Split(strings.TrimRight(e.Error, "\n"), "\n") {
			fmt.Fprintf(w, "     %s\n", line)
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func firstLine(s string, max int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

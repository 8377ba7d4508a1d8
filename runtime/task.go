package runtime

import (
	"context"
	"time"
)

// TaskDef is the static description of a task: its wire name, defaults and
// schema fingerprint. Generated code declares one per annotated function.
type TaskDef struct {
	// Name is the stable wire name, for example "tasks.SendWelcome".
	Name string
	// Queue is the default queue.
	Queue string
	// Priority is the default priority, 0 to 9, 9 highest.
	Priority int
	// Retries is how many times a failed task is retried.
	Retries int
	// BackoffMin and BackoffMax bound the exponential backoff with full jitter.
	BackoffMin, BackoffMax time.Duration
	// Timeout is the handler's ctx deadline; zero means none.
	Timeout time.Duration
	// Expires drops a task not started within this long of its enqueue.
	Expires time.Duration
	// Unique is the window in which identical args are enqueued once.
	Unique time.Duration
	// Rate is a global rate limit; the zero value means none.
	Rate Rate
	// Concurrency is a global concurrency limit; zero means none.
	Concurrency int
	// Fingerprint is a stable hash of the argument and result types'
	// structure. A worker refuses a message whose fingerprint differs.
	Fingerprint string
}

// Rate is a number of task starts allowed per period.
type Rate struct {
	N      int
	Period time.Duration
}

// Default values for the annotation's options (DESIGN §1).
const (
	DefaultQueue      = "default"
	DefaultPriority   = 5
	DefaultRetries    = 3
	DefaultBackoffMin = time.Second
	DefaultBackoffMax = 10 * time.Minute
	MaxPriority       = 9
)

// Payload is implemented by the generated XArgs structs: a reflection-free
// JSON codec for a task's arguments.
type Payload interface {
	MarshalTask() ([]byte, error)
	UnmarshalTask(data []byte) error
}

// Task is a typed task descriptor: the definition plus the codec of its
// result type R. Generated code declares one per task as XTask.
type Task[R any] struct {
	Def             TaskDef
	MarshalResult   func(R) ([]byte, error)
	UnmarshalResult func([]byte) (R, error)
}

// None is the result type of a task that returns only an error.
type None struct{}

// MarshalNone encodes the result of a task that returns only an error.
func MarshalNone(None) ([]byte, error) { return nil, nil }

// UnmarshalNone decodes the result of a task that returns only an error.
func UnmarshalNone([]byte) (None, error) { return None{}, nil }

// Handler runs one task: it decodes payload, calls the task function and
// encodes its result. Generated code builds handlers with [Register].
type Handler func(ctx context.Context, payload []byte) (result []byte, err error)

// Registrar accepts task handlers. *Worker implements it.
type Registrar interface {
	Register(def *TaskDef, h Handler) error
}

// Register binds fn to the task t on r. A payload that fails to decode is
// reported as undecodable, so the worker dead-letters it instead of retrying.
// Generated Register functions call it; users rarely do.
func Register[A any, PA interface {
	*A
	Payload
}, R any](r Registrar, t *Task[R], fn func(ctx context.Context, args PA) (R, error)) error {
	marshal := t.MarshalResult
	return r.Register(&t.Def, func(ctx context.Context, payload []byte) ([]byte, error) {
		args := PA(new(A))
		if err := args.UnmarshalTask(payload); err != nil {
			return nil, &decodeError{err: err}
		}
		res, err := fn(ctx, args)
		if err != nil {
			return nil, err
		}
		return marshal(res)
	})
}

// Receipt is what an [Enqueuer] returns for an accepted task.
type Receipt struct {
	// ID is the task ID.
	ID string
	// Queue is the queue the task was published to.
	Queue string
	// Store holds the task's result; nil when the client has none.
	Store Store
}

// Enqueuer publishes encoded tasks. *Client implements it; generated
// EnqueueX functions call it through [Enqueue].
type Enqueuer interface {
	EnqueueTask(ctx context.Context, def *TaskDef, payload []byte, opts ...Option) (*Receipt, error)
}

// Enqueue encodes args and publishes task t through c. It returns once the
// transport holds the task durably.
func Enqueue[R any](ctx context.Context, c Enqueuer, t *Task[R], args Payload, opts ...Option) (*Handle[R], error) {
	payload, err := args.MarshalTask()
	if err != nil {
		return nil, &TaskError{Task: t.Def.Name, Queue: t.Def.Queue, Err: err}
	}
	rc, err := c.EnqueueTask(ctx, &t.Def, payload, opts...)
	if err != nil {
		return nil, err
	}
	return NewHandle(rc.ID, rc.Store, t.UnmarshalResult), nil
}

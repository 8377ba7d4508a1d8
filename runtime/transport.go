package runtime

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Message is one task on the wire: an encoded [Envelope] plus the routing
// facts a transport needs without decoding it.
type Message struct {
	// ID is the task ID, unique among the tasks a transport holds.
	ID string
	// Queue is where the message goes.
	Queue string
	// Priority is 0 to 9, 9 served first within a queue.
	Priority int
	// ETA is when the message becomes deliverable; zero means now.
	ETA time.Time
	// Body is the encoded envelope.
	Body []byte
	// FreshID says ID was drawn at random for this message, so that no
	// transport holds it yet: a transport may skip its check for a
	// duplicate ID. Set it for no other ID: a transport that skips the
	// check could hold a reused one twice, and deliver its task twice.
	FreshID bool
}

// Check reports what makes m unroutable: no message, no queue, no ID, or a
// priority outside 0..MaxPriority. Every transport checks it in Publish.
func (m *Message) Check() error {
	switch {
	case m == nil:
		return errors.New("nil message")
	case m.Queue == "":
		return fmt.Errorf("task %q: message has no queue", m.ID)
	case m.ID == "":
		return fmt.Errorf("to queue %q: message has no ID", m.Queue)
	case m.Priority < 0 || m.Priority > MaxPriority:
		return fmt.Errorf("task %q: priority %d is outside 0..%d", m.ID, m.Priority, MaxPriority)
	}
	return nil
}

// Delivery is a message handed to a consumer under a lease.
//
// Its Body is shared with the transport and must not be modified.
type Delivery struct {
	Message
	// Deliveries counts how many times this message has been delivered,
	// this time included; a value above 1 means an earlier lease lapsed or
	// the message was handed back.
	Deliveries int
	// Lease identifies this delivery to the transport that made it. It is
	// opaque to everyone else and fences stale acks: once the lease lapses
	// and the message is delivered again, the old lease no longer acks.
	Lease any
}

// FetchRequest asks a transport for deliveries.
type FetchRequest struct {
	// Queues are served in strict order: a message in Queues[i] is always
	// delivered before any message in Queues[i+1].
	Queues []string
	// Max is the most deliveries to return; at least 1.
	Max int
	// Lease is how long each delivery is held before it is delivered again;
	// zero means the transport's default.
	Lease time.Duration
}

// NackOptions say how a delivery goes back to its queue.
type NackOptions struct {
	// Delay postpones redelivery.
	Delay time.Duration
	// Body, when non-nil, replaces the message body (an updated envelope).
	Body []byte
}

// Reason says why a task was dead-lettered.
type Reason string

// Dead-letter reasons.
const (
	ReasonFailed         Reason = "failed"          // the handler failed after its retries, or permanently
	ReasonPanicked       Reason = "panicked"        // the handler panicked on its last attempt
	ReasonExpired        Reason = "expired"         // not started before its expiry
	ReasonMalformed      Reason = "malformed"       // the envelope did not decode
	ReasonUndecodable    Reason = "undecodable"     // the payload did not decode into the task's arguments
	ReasonUnknownTask    Reason = "unknown_task"    // no handler is registered for the task name
	ReasonSchemaMismatch Reason = "schema_mismatch" // the schema fingerprint differs from the registered one
	ReasonDeliveryLimit  Reason = "delivery_limit"  // delivered too many times without finishing
)

// DeadLetter is a task that will not be run again without a person's say.
type DeadLetter struct {
	ID       string
	Queue    string
	Task     string // wire name; empty when the envelope did not decode
	Reason   Reason
	Error    string
	Attempts int
	At       time.Time
	Body     []byte // the message body as it was received
	// Errors are every failed attempt's error with its time, oldest first,
	// the last one being Error at At. Transports do not store them: the
	// worker fills them when it dead-letters a task, and ListDeadLetters
	// and GetDeadLetter from Body's envelope.
	Errors []AttemptError
	// Args are the task's encoded arguments, from Body's envelope; nil
	// when it did not decode or the arguments were offloaded to the store.
	// ListDeadLetters and GetDeadLetter fill them.
	Args []byte
}

// QueueStats counts a queue's messages.
type QueueStats struct {
	Queue   string
	Pending int // ready to deliver
	Delayed int // waiting for their ETA
	Active  int // delivered and leased
	Dead    int // dead-lettered
}

// Transport moves messages between clients and workers. It is a seam for
// broker packages; users open one with transport.Open and do not implement it.
// Every implementation passes transport/transporttest, which is the precise
// specification of these methods. Calls that do not block may ignore ctx, so
// that a worker can still settle a task while it shuts down.
type Transport interface {
	// Publish stores msg durably; it returns nil only once the broker holds it.
	Publish(ctx context.Context, msg *Message) error
	// Fetch blocks until at least one message is deliverable in req.Queues,
	// or ctx is done, and returns up to req.Max deliveries, each leased.
	// Once ctx is done it leases nothing and returns ctx.Err().
	Fetch(ctx context.Context, req FetchRequest) ([]*Delivery, error)
	// Ack removes a delivered message for good. A lapsed lease returns
	// ErrLeaseLost.
	Ack(ctx context.Context, d *Delivery) error
	// Nack puts a delivered message back, after opts.Delay.
	Nack(ctx context.Context, d *Delivery, opts NackOptions) error
	// Extend renews a delivery's lease for another lease duration (zero:
	// the transport's default).
	Extend(ctx context.Context, d *Delivery, lease time.Duration) error
	// DeadLetter removes a delivered message and records it as dead. An
	// empty dl.ID or dl.Queue comes from d, a zero dl.At is now, and a nil
	// dl.Body is the message's body.
	DeadLetter(ctx context.Context, d *Delivery, dl DeadLetter) error
	// DeadLetters lists up to limit dead letters of queue, oldest first;
	// limit <= 0 lists them all.
	DeadLetters(ctx context.Context, queue string, limit int) ([]DeadLetter, error)
	// Stats counts the messages of queue.
	Stats(ctx context.Context, queue string) (QueueStats, error)
	// Close releases the transport's resources. Later calls return
	// ErrClosed; a second Close returns nil.
	Close() error
}

// Transport errors.
var (
	// ErrLeaseLost is returned when acking, nacking or extending a delivery
	// whose lease lapsed: the message may already be with another worker.
	ErrLeaseLost = errors.New("taskgen: lease lost")
	// ErrDuplicateTask is returned when publishing a task whose ID the
	// transport holds (pending, delayed or active); after Ack or DeadLetter
	// the ID is free again.
	ErrDuplicateTask = errors.New("taskgen: task ID already exists")
	// ErrClosed is returned by a closed transport or store.
	ErrClosed = errors.New("taskgen: closed")
)

// BufferedFetcher is implemented by transports that hold deliverable
// messages in this process, as the RabbitMQ transport holds its consumers'
// prefetched deliveries: taking one costs no round trip. A worker whose
// handler has returned takes its next task this way, in the same handler
// slot, and waits in Fetch only when none is buffered. When the task that
// returned settles with an Ack alone, the next one runs after that Ack in
// the same goroutine, so the Ack of such a transport should not wait for
// a round trip.
type BufferedFetcher interface {
	// TryFetch returns up to req.Max deliveries (never more), leased as
	// Fetch leases them and in the order Fetch would give them, from what is
	// deliverable here and now. It never waits and never asks the broker:
	// when Fetch would have to do either first, it returns none.
	TryFetch(req FetchRequest) []*Delivery
}

// RecordAcker is implemented by transports that are also a Store and can
// write a task's record and ack its delivery together, cheaper than apart.
// A worker whose store is the transport itself settles succeeded tasks
// with it.
type RecordAcker interface {
	// AckRecord writes r as Store.PutRecord(ctx, r, ttl) does, then acks d
	// as Ack does, only once r is written: when the write fails, d stays
	// leased. The error joins the two outcomes; a lapsed lease wraps
	// ErrLeaseLost.
	AckRecord(ctx context.Context, d *Delivery, r *Record, ttl time.Duration) error
}

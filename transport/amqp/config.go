package amqp

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

// QueueType is the RabbitMQ queue type of a transport's work queues.
type QueueType string

// Queue types.
const (
	// Quorum work queues are replicated and durable. RabbitMQ 3.10 quorum
	// queues have no priorities, so each taskgen queue becomes ten quorum
	// queues, one per priority (queue.p0 to queue.p9), served highest
	// first.
	Quorum QueueType = "quorum"
	// Classic work queues are one durable classic queue per taskgen queue
	// with x-max-priority 9, so RabbitMQ orders the ten priorities itself.
	Classic QueueType = "classic"
)

// Defaults of [Config].
const (
	DefaultQueueType       = Quorum
	DefaultPrefetch        = 64
	DefaultLease           = 30 * time.Second
	DefaultDeliveryLimit   = 10
	DefaultConfirmWindow   = 256
	DefaultPublishChannels = 2
	DefaultHeartbeat       = 10 * time.Second
	DefaultDialTimeout     = 10 * time.Second
	DefaultIDGuardTTL      = 7 * 24 * time.Hour
	DefaultRecordTTL       = 24 * time.Hour
)

// DefaultDelayTiers is the ladder of delay queues every taskgen queue gets.
// A delayed message waits in the longest tier that does not overshoot its
// ETA, then in the next, and is held by the consumer for the last stretch
// shorter than the first tier; see docs/PROTOCOL.md ("AMQP").
var DefaultDelayTiers = []time.Duration{
	50 * time.Millisecond,
	250 * time.Millisecond,
	time.Second,
	5 * time.Second,
	30 * time.Second,
	3 * time.Minute,
	20 * time.Minute,
	2 * time.Hour,
}

// Config configures a [Transport]. Only URL is required.
type Config struct {
	// URL is the broker's address: amqp://user:pass@host:port/vhost, or
	// amqps:// for TLS.
	URL string
	// TLS configures amqps:// connections; nil uses the system roots.
	TLS *tls.Config

	// Prefix starts the name of every queue and exchange the transport
	// declares, so that several applications can share a vhost. Default
	// none: a taskgen queue "emails" is the RabbitMQ queue "emails".
	Prefix string
	// QueueType is the type of the work queues. Default Quorum. Every
	// process that shares a queue must use the same type: RabbitMQ refuses
	// to declare a queue again with other arguments.
	QueueType QueueType
	// Prefetch is how many unacknowledged messages the broker sends ahead
	// to each consumer (basic.qos per consumer); a transport runs one
	// consumer per work queue it fetches from. It should exceed the number
	// of deliveries the process holds at once (a worker's Concurrency).
	// Default 64.
	Prefetch int
	// Lease is how long a delivery is held when the FetchRequest or the
	// Extend call gives none. Default 30s.
	Lease time.Duration
	// DeliveryLimit is how many times a message may be abandoned (its
	// lease lapsed, or its consumer's connection died before it was
	// settled) before the transport dead-letters it with reason
	// delivery_limit instead of delivering it again. Negative means no
	// limit. Default 10.
	DeliveryLimit int
	// ConfirmWindow bounds the unconfirmed publishes per channel. Default
	// 256.
	ConfirmWindow int
	// PublishChannels is how many confirm-mode channels concurrent
	// publishes share. Default 2.
	PublishChannels int
	// DelayTiers is the ladder of delay queues, shortest first. Default
	// DefaultDelayTiers. Changing it declares new delay queues; messages
	// in the old ones still arrive on time.
	DelayTiers []time.Duration

	// Heartbeat is the AMQP heartbeat interval; a connection that misses
	// two is redialled. Default 10s.
	Heartbeat time.Duration
	// DialTimeout bounds each connection attempt. Default 10s.
	DialTimeout time.Duration
	// ConnectionName shows in the broker's connection list. Default
	// "taskgen".
	ConnectionName string

	// Store keeps results and workflow state for the clients and workers
	// that use this transport (see [Transport.WithStore]). The transport
	// also uses it to refuse a second message with the ID of one it holds
	// (runtime.ErrDuplicateTask), and to record the failure of a task it
	// dead-letters itself. Without a store, task IDs are not checked.
	Store runtime.Store
	// CloseStore makes Close also close Store, when Store has a Close
	// method. transport.Open sets it for a store named by ?store=.
	CloseStore bool
	// IDGuardTTL bounds how long the store remembers a task ID after its
	// ETA, in case the message is lost outside the transport (a queue
	// purged by hand). Default 7 days.
	IDGuardTTL time.Duration
	// RecordTTL is how long a failure record written by the transport
	// stays in the store. Default 24h, the worker's default ResultTTL.
	RecordTTL time.Duration

	// Logger receives the transport's logs. Default slog.Default().
	Logger *slog.Logger
}

// withDefaults returns cfg with its zero fields set, or an error naming a
// bad setting.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.QueueType == "" {
		cfg.QueueType = DefaultQueueType
	}
	if cfg.QueueType != Quorum && cfg.QueueType != Classic {
		return cfg, fmt.Errorf("queue type %q is not %q or %q", cfg.QueueType, Quorum, Classic)
	}
	if cfg.Prefetch <= 0 {
		cfg.Prefetch = DefaultPrefetch
	}
	if cfg.Prefetch > 65535 {
		return cfg, fmt.Errorf("prefetch %d is above AMQP's 65535", cfg.Prefetch)
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.DeliveryLimit == 0 {
		cfg.DeliveryLimit = DefaultDeliveryLimit
	}
	if cfg.ConfirmWindow <= 0 {
		cfg.ConfirmWindow = DefaultConfirmWindow
	}
	if cfg.PublishChannels <= 0 {
		cfg.PublishChannels = DefaultPublishChannels
	}
	if len(cfg.DelayTiers) == 0 {
		cfg.DelayTiers = DefaultDelayTiers
	}
	cfg.DelayTiers = slices.Clone(cfg.DelayTiers)
	slices.Sort(cfg.DelayTiers)
	cfg.DelayTiers = slices.Compact(cfg.DelayTiers)
	for _, d := range cfg.DelayTiers {
		if d < time.Millisecond || d%time.Millisecond != 0 {
			return cfg, fmt.Errorf("delay tier %v is not a whole number of milliseconds (at least 1ms)", d)
		}
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.ConnectionName == "" {
		cfg.ConnectionName = "taskgen"
	}
	if cfg.IDGuardTTL <= 0 {
		cfg.IDGuardTTL = DefaultIDGuardTTL
	}
	if cfg.RecordTTL <= 0 {
		cfg.RecordTTL = DefaultRecordTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg, nil
}

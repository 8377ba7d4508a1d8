package runtime

import "time"

// Option changes one enqueue (or one workflow step, through Sig.With).
type Option interface {
	apply(*callOptions)
}

type optionFunc func(*callOptions)

func (f optionFunc) apply(o *callOptions) { f(o) }

// callOptions are the per-call settings, applied over the task's defaults.
type callOptions struct {
	queue     string
	priority  *int
	eta       time.Time
	delay     time.Duration
	retries   *int
	backoff   *[2]time.Duration
	singleton string
	timeout   *time.Duration
	expires   *time.Duration
	uniqueKey string
	taskID    string
	headers   map[string]string
}

// Queue sends the task to queue instead of its default.
func Queue(queue string) Option {
	return optionFunc(func(o *callOptions) { o.queue = queue })
}

// Priority sets the task's priority, 0 to 9, 9 highest. Values outside the
// range are clamped.
func Priority(p int) Option {
	return optionFunc(func(o *callOptions) {
		p := min(max(p, 0), MaxPriority)
		o.priority = &p
	})
}

// Delay makes the task deliverable only after d.
func Delay(d time.Duration) Option {
	return optionFunc(func(o *callOptions) { o.delay, o.eta = d, time.Time{} })
}

// At makes the task deliverable only at or after t.
func At(t time.Time) Option {
	return optionFunc(func(o *callOptions) { o.eta, o.delay = t, 0 })
}

// Retries sets how many times the task is retried after a failure.
func Retries(n int) Option {
	return optionFunc(func(o *callOptions) { n := max(n, 0); o.retries = &n })
}

// Backoff sets the bounds of the task's retry backoff instead of its
// annotation's: exponential from lo, doubling with each failure, capped at
// hi, with full jitter. A lo of zero or less is DefaultBackoffMin; a hi
// below lo is lo. A RetryAfter from the handler still wins.
func Backoff(lo, hi time.Duration) Option {
	return optionFunc(func(o *callOptions) {
		if lo <= 0 {
			lo = DefaultBackoffMin
		}
		o.backoff = &[2]time.Duration{lo, max(hi, lo)}
	})
}

// Timeout sets the handler's ctx deadline; zero removes the default one.
func Timeout(d time.Duration) Option {
	return optionFunc(func(o *callOptions) { o.timeout = &d })
}

// Expires drops the task if it has not started within d of now.
func Expires(d time.Duration) Option {
	return optionFunc(func(o *callOptions) { o.expires = &d })
}

// UniqueKey makes the enqueue fail with ErrDuplicate while another task with
// the same key is pending or running, within the task's unique window (one
// hour when the annotation sets none).
func UniqueKey(key string) Option {
	return optionFunc(func(o *callOptions) { o.uniqueKey = key })
}

// TaskID sets the task's ID instead of a random one. Publishing an ID the
// transport already holds fails with ErrDuplicateTask.
func TaskID(id string) Option {
	return optionFunc(func(o *callOptions) { o.taskID = id })
}

// Header attaches a key/value pair that the handler reads from Info.
func Header(key, value string) Option {
	return optionFunc(func(o *callOptions) {
		if o.headers == nil {
			o.headers = make(map[string]string)
		}
		o.headers[key] = value
	})
}

func collectOptions(opts []Option) callOptions {
	var o callOptions
	o.collect(opts)
	return o
}

// collect sets o to opts over no options.
func (o *callOptions) collect(opts []Option) {
	*o = callOptions{}
	for _, opt := range opts {
		if opt != nil {
			opt.apply(o)
		}
	}
}

package runtime

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Envelope is a task message as it travels: the routing and retry facts
// around the encoded arguments. Its binary form is specified in
// docs/PROTOCOL.md.
type Envelope struct {
	ID          string
	Task        string
	Queue       string
	Priority    int
	Fingerprint string
	Payload     []byte
	// Attempt counts the handler failures so far; the first run is 0.
	Attempt    int
	Retries    int
	BackoffMin time.Duration
	BackoffMax time.Duration
	Timeout    time.Duration
	EnqueuedAt time.Time
	ETA        time.Time // zero: deliverable at once
	ExpiresAt  time.Time // zero: never expires
	UniqueKey  string
	Headers    map[string]string
	WorkflowID string
	NodeID     string
	Request    *Request
	// Errors are the failures of earlier attempts, oldest first.
	Errors []AttemptError
	// PayloadRef, when set, is the store key holding the payload, which
	// was too big for a message (claim-check); Payload is then empty.
	PayloadRef string
	// Route names the routing layer that chose Queue: "call", "policy:"
	// and the request's source, "rule:" and the rule's pattern, "router",
	// "task" or "default".
	Route string
}

// AttemptError is one failed attempt.
type AttemptError struct {
	At    time.Time
	Error string
}

// Request says who asked for a task. It travels with the task and is
// inherited by the tasks enqueued from its handler.
type Request struct {
	Source   string
	TenantID string
	UserID   string
	Attrs    map[string]string
}

const (
	envelopeMagic   = 0x74 // 't'
	envelopeVersion = 1
	// maxEnvelopeErrors bounds the error history carried in a message.
	maxEnvelopeErrors = 16
)

// Field numbers of the envelope's version 1 (docs/PROTOCOL.md).
const (
	fID = iota + 1
	fTask
	fQueue
	fPriority
	fFingerprint
	fPayload
	fAttempt
	fRetries
	fBackoffMin
	fBackoffMax
	fTimeout
	fEnqueuedAt
	fETA
	fExpiresAt
	fUniqueKey
	fHeader
	fWorkflowID
	fNodeID
	fRequest
	fError
	fPayloadRef
	fRoute
)

// Request and pair sub-fields.
const (
	fReqSource = iota + 1
	fReqTenant
	fReqUser
	fReqAttr
)

const (
	fPairKey = iota + 1
	fPairValue
)

const (
	fErrAt = iota + 1
	fErrText
)

const (
	wireVarint = 0
	wireBytes  = 2
)

// Marshal encodes e in the envelope's binary form.
func (e *Envelope) Marshal() []byte {
	b := make([]byte, 0, 96+len(e.Payload)+len(e.ID)+len(e.Task)+len(e.Queue)+len(e.Fingerprint))
	b = append(b, envelopeMagic, envelopeVersion)
	b = appendString(b, fID, e.ID)
	b = appendString(b, fTask, e.Task)
	b = appendString(b, fQueue, e.Queue)
	b = appendVarint(b, fPriority, int64(e.Priority))
	b = appendString(b, fFingerprint, e.Fingerprint)
	b = appendBytes(b, fPayload, e.Payload)
	b = appendVarint(b, fAttempt, int64(e.Attempt))
	b = appendVarint(b, fRetries, int64(e.Retries))
	b = appendVarint(b, fBackoffMin, int64(e.BackoffMin))
	b = appendVarint(b, fBackoffMax, int64(e.BackoffMax))
	b = appendVarint(b, fTimeout, int64(e.Timeout))
	b = appendTime(b, fEnqueuedAt, e.EnqueuedAt)
	b = appendTime(b, fETA, e.ETA)
	b = appendTime(b, fExpiresAt, e.ExpiresAt)
	b = appendString(b, fUniqueKey, e.UniqueKey)
	b = appendPairs(b, fHeader, e.Headers)
	b = appendString(b, fWorkflowID, e.WorkflowID)
	b = appendString(b, fNodeID, e.NodeID)
	if r := e.Request; r != nil {
		var sub []byte
		sub = appendString(sub, fReqSource, r.Source)
		sub = appendString(sub, fReqTenant, r.TenantID)
		sub = appendString(sub, fReqUser, r.UserID)
		sub = appendPairs(sub, fReqAttr, r.Attrs)
		b = appendField(b, fRequest, sub)
	}
	for _, ae := range e.Errors {
		var sub []byte
		sub = appendTime(sub, fErrAt, ae.At)
		sub = appendString(sub, fErrText, ae.Error)
		b = appendField(b, fError, sub)
	}
	b = appendString(b, fPayloadRef, e.PayloadRef)
	b = appendString(b, fRoute, e.Route)
	return b
}

// appendField writes a length-delimited field even when v is empty.
func appendField(b []byte, num int, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(num)<<3|wireBytes)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendBytes(b []byte, num int, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	return appendField(b, num, v)
}

func appendString(b []byte, num int, v string) []byte {
	if v == "" {
		return b
	}
	b = binary.AppendUvarint(b, uint64(num)<<3|wireBytes)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendVarint(b []byte, num int, v int64) []byte {
	if v == 0 {
		return b
	}
	b = binary.AppendUvarint(b, uint64(num)<<3|wireVarint)
	return binary.AppendVarint(b, v)
}

func appendTime(b []byte, num int, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	return appendVarint(b, num, t.UnixNano())
}

// appendPairs writes m in key order, so equal envelopes encode equally.
func appendPairs(b []byte, num int, m map[string]string) []byte {
	if len(m) == 0 {
		return b
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		var sub []byte
		sub = appendString(sub, fPairKey, k)
		sub = appendString(sub, fPairValue, m[k])
		b = appendField(b, num, sub)
	}
	return b
}

// ErrMalformed is wrapped by every error of DecodeEnvelope.
var ErrMalformed = errors.New("taskgen: malformed envelope")

// DecodeEnvelope decodes an envelope's binary form. Malformed input returns
// an error wrapping ErrMalformed; it never panics. Unknown fields are skipped,
// so newer producers of the same version stay readable.
func DecodeEnvelope(data []byte) (*Envelope, error) {
	if len(data) < 2 || data[0] != envelopeMagic {
		return nil, fmt.Errorf("%w: not a taskgen message", ErrMalformed)
	}
	if data[1] != envelopeVersion {
		return nil, fmt.Errorf("%w: unsupported version %d (this runtime reads %d)", ErrMalformed, data[1], envelopeVersion)
	}
	e := new(Envelope)
	err := walkFields(data[2:], func(num int, v uint64, s []byte) error {
		var err error
		switch num {
		case fID:
			e.ID = string(s)
		case fTask:
			e.Task = intern(s)
		case fQueue:
			e.Queue = intern(s)
		case fPriority:
			e.Priority, err = smallInt(v, 0, MaxPriority)
		case fFingerprint:
			e.Fingerprint = intern(s)
		case fPayload:
			e.Payload = s
		case fAttempt:
			e.Attempt, err = smallInt(v, 0, 1<<31-1)
		case fRetries:
			e.Retries, err = smallInt(v, 0, 1<<31-1)
		case fBackoffMin:
			e.BackoffMin = time.Duration(zigzag(v))
		case fBackoffMax:
			e.BackoffMax = time.Duration(zigzag(v))
		case fTimeout:
			e.Timeout = time.Duration(zigzag(v))
		case fEnqueuedAt:
			e.EnqueuedAt = unixTime(v)
		case fETA:
			e.ETA = unixTime(v)
		case fExpiresAt:
			e.ExpiresAt = unixTime(v)
		case fUniqueKey:
			e.UniqueKey = string(s)
		case fHeader:
			e.Headers, err = decodePair(e.Headers, s)
		case fWorkflowID:
			e.WorkflowID = string(s)
		case fNodeID:
			e.NodeID = string(s)
		case fRequest:
			e.Request, err = decodeRequest(s)
		case fError:
			var ae AttemptError
			ae, err = decodeAttemptError(s)
			e.Errors = append(e.Errors, ae)
		case fPayloadRef:
			e.PayloadRef = string(s)
		case fRoute:
			e.Route = intern(s)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// walkFields calls fn for each field of b: v holds a varint field's raw
// value, s a length-delimited field's bytes (aliasing b).
func walkFields(b []byte, fn func(num int, v uint64, s []byte) error) error {
	for len(b) > 0 {
		tag, n := binary.Uvarint(b)
		if n <= 0 {
			return fmt.Errorf("%w: bad field tag", ErrMalformed)
		}
		b = b[n:]
		num, wire := tag>>3, tag&7
		if num == 0 || num > 1<<20 {
			return fmt.Errorf("%w: bad field number %d", ErrMalformed, num)
		}
		var v uint64
		var s []byte
		switch wire {
		case wireVarint:
			v, n = binary.Uvarint(b)
			if n <= 0 {
				return fmt.Errorf("%w: bad varint in field %d", ErrMalformed, num)
			}
			b = b[n:]
		case wireBytes:
			l, n := binary.Uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return fmt.Errorf("%w: bad length in field %d", ErrMalformed, num)
			}
			s = b[n : n+int(l)]
			b = b[n+int(l):]
		default:
			return fmt.Errorf("%w: unknown wire type %d in field %d", ErrMalformed, wire, num)
		}
		if err := fn(int(num), v, s); err != nil {
			return err
		}
	}
	return nil
}

// unixTime decodes a time field; 0 is the zero time, which encodes as absent.
func unixTime(v uint64) time.Time {
	if ns := zigzag(v); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

func zigzag(v uint64) int64 { return int64(v>>1) ^ -int64(v&1) }

func smallInt(v uint64, lo, hi int64) (int, error) {
	x := zigzag(v)
	if x < lo || x > hi {
		return 0, fmt.Errorf("%w: value %d out of range [%d, %d]", ErrMalformed, x, lo, hi)
	}
	return int(x), nil
}

func decodePair(m map[string]string, b []byte) (map[string]string, error) {
	var k, v string
	err := walkFields(b, func(num int, _ uint64, s []byte) error {
		switch num {
		case fPairKey:
			k = string(s)
		case fPairValue:
			v = string(s)
		}
		return nil
	})
	if err != nil {
		return m, err
	}
	if m == nil {
		m = make(map[string]string)
	}
	m[k] = v
	return m, nil
}

func decodeRequest(b []byte) (*Request, error) {
	r := new(Request)
	err := walkFields(b, func(num int, _ uint64, s []byte) error {
		var err error
		switch num {
		case fReqSource:
			r.Source = string(s)
		case fReqTenant:
			r.TenantID = string(s)
		case fReqUser:
			r.UserID = string(s)
		case fReqAttr:
			r.Attrs, err = decodePair(r.Attrs, s)
		}
		return err
	})
	return r, err
}

func decodeAttemptError(b []byte) (AttemptError, error) {
	var ae AttemptError
	err := walkFields(b, func(num int, v uint64, s []byte) error {
		switch num {
		case fErrAt:
			ae.At = unixTime(v)
		case fErrText:
			ae.Error = string(s)
		}
		return nil
	})
	return ae, err
}

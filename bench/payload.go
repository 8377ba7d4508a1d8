package main

import (
	"errors"
	"strconv"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

// signup is the benchmark's task payload: a small struct that encodes to
// about 60 bytes of JSON, the same bytes for taskgen and asynq. Its codec
// is hand-written, as taskgen would generate it: no reflection.
type signup struct {
	UserID int64
	Email  string
	Plan   string
	// SentAt is when the task was enqueued (Unix ns), for the latency run.
	SentAt int64
}

func (s *signup) MarshalTask() ([]byte, error) {
	b := make([]byte, 0, 96)
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, s.UserID, 10)
	b = append(b, `,"email":`...)
	b = strconv.AppendQuote(b, s.Email)
	b = append(b, `,"plan":`...)
	b = strconv.AppendQuote(b, s.Plan)
	b = append(b, `,"at":`...)
	b = strconv.AppendInt(b, s.SentAt, 10)
	return append(b, '}'), nil
}

// UnmarshalTask reads only at: the handlers need nothing else, and a
// generated decoder would cost the same for both contenders anyway.
func (s *signup) UnmarshalTask(data []byte) error {
	s.SentAt = sentAt(data)
	if s.SentAt < 0 {
		return errors.New("no at member")
	}
	return nil
}

// sentAt finds the at member of an encoded signup.
func sentAt(data []byte) int64 {
	const key = `"at":`
	for i := 0; i+len(key) <= len(data); i++ {
		if string(data[i:i+len(key)]) != key {
			continue
		}
		j := i + len(key)
		k := j
		for k < len(data) && data[k] >= '0' && data[k] <= '9' {
			k++
		}
		n, err := strconv.ParseInt(string(data[j:k]), 10, 64)
		if err != nil {
			return -1
		}
		return n
	}
	return -1
}

func newSignup(i int) *signup {
	return &signup{UserID: 100000 + int64(i), Email: "user" + strconv.Itoa(100000+i) + "@example.com", Plan: "pro"}
}

func payload(i int) []byte {
	b, _ := newSignup(i).MarshalTask()
	return b
}

func stamped() []byte {
	s := newSignup(1)
	s.SentAt = time.Now().UnixNano()
	b, _ := s.MarshalTask()
	return b
}

// signupTask is the taskgen descriptor of the benchmark's task.
func signupTask(queue string) *runtime.Task[runtime.None] {
	return &runtime.Task[runtime.None]{
		Def: runtime.TaskDef{
			Name: "bench.Signup", Queue: queue, Priority: runtime.DefaultPriority,
			Retries: 3, BackoffMin: time.Second, BackoffMax: time.Minute, Fingerprint: "bench-signup-v1",
		},
		MarshalResult: runtime.MarshalNone, UnmarshalResult: runtime.UnmarshalNone,
	}
}

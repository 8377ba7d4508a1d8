package runtime

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func fullEnvelope() *Envelope {
	at := time.Unix(1700000000, 123456789)
	return &Envelope{
		ID: "01HZX", Task: "tasks.Transform", Queue: "etl", Priority: 7,
		Fingerprint: "9f86d081884c7d65", Payload: []byte(`{"raw":{"id":1},"schema":"v2"}`),
		Attempt: 2, Retries: 5, BackoffMin: time.Second, BackoffMax: time.Minute, Timeout: 30 * time.Second,
		EnqueuedAt: at, ETA: at.Add(time.Minute), ExpiresAt: at.Add(time.Hour),
		UniqueKey: "order-1", Headers: map[string]string{"trace": "abc", "b": ""},
		WorkflowID: "wf1", NodeID: "n3",
		Request:    &Request{Source: "frontend", TenantID: "t1", UserID: "u1", Attrs: map[string]string{"ip": "127.0.0.1"}},
		Errors:     []AttemptError{{At: at, Error: "boom"}, {At: at.Add(time.Second), Error: "again"}},
		PayloadRef: "payload:01HZX",
		Route:      "rule:etl.*",
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	t.Parallel()
	for name, env := range map[string]*Envelope{
		"full":    fullEnvelope(),
		"minimal": {ID: "x", Task: "t", Queue: "q"},
		"empty":   {},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeEnvelope(env.Marshal())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(env, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEnvelopeDeterministic(t *testing.T) {
	t.Parallel()
	a, b := fullEnvelope().Marshal(), fullEnvelope().Marshal()
	if string(a) != string(b) {
		t.Fatal("equal envelopes encoded differently")
	}
}

func TestDecodeEnvelopeRejects(t *testing.T) {
	t.Parallel()
	valid := fullEnvelope().Marshal()
	for name, in := range map[string][]byte{
		"nil":           nil,
		"json":          []byte(`{"task":"x"}`),
		"future":        {envelopeMagic, envelopeVersion + 1},
		"truncated":     valid[:len(valid)-3],
		"bad tag":       {envelopeMagic, envelopeVersion, 0x80},
		"field zero":    {envelopeMagic, envelopeVersion, 0x02, 0x00},
		"wire type 5":   {envelopeMagic, envelopeVersion, 0x0d},
		"huge length":   {envelopeMagic, envelopeVersion, 0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"priority 10":   {envelopeMagic, envelopeVersion, fPriority << 3, 20},
		"attempt < 0":   {envelopeMagic, envelopeVersion, fAttempt << 3, 1},
		"bad sub-field": {envelopeMagic, envelopeVersion, fRequest<<3 | 2, 1, 0x80},
	} {
		_, err := DecodeEnvelope(in)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestDecodeEnvelopeSkipsUnknownFields(t *testing.T) {
	t.Parallel()
	b := (&Envelope{ID: "x", Task: "t"}).Marshal()
	b = appendString(b, 99, "from a newer producer")
	b = appendVarint(b, 98, 42)
	got, err := DecodeEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "x" || got.Task != "t" {
		t.Fatalf("got %+v", got)
	}
}

// FuzzDecodeEnvelope checks that malformed input is an error, never a
// panic, and that whatever decodes re-encodes to an equal envelope.
func FuzzDecodeEnvelope(f *testing.F) {
	f.Add(fullEnvelope().Marshal())
	f.Add((&Envelope{ID: "x"}).Marshal())
	f.Add([]byte{envelopeMagic, envelopeVersion})
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := DecodeEnvelope(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		again, err := DecodeEnvelope(env.Marshal())
		if err != nil {
			t.Fatalf("re-encoded envelope does not decode: %v", err)
		}
		if diff := cmp.Diff(env, again, cmpopts.EquateEmpty(), cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
			t.Fatalf("re-encode changed the envelope (-first +second):\n%s", diff)
		}
	})
}

func BenchmarkEnvelope(b *testing.B) {
	env := fullEnvelope()
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			env.Marshal()
		}
	})
	data := env.Marshal()
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeEnvelope(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

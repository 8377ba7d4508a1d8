package roundtrip

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/taskgen/taskgen/runtime"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func ptr[T any](v T) *T { return &v }

var placed = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("", -4*3600))

func sampleRecord(i int) Record {
	return Record{
		ID:       int64(1000 + i),
		Source:   "s3://bucket/key-<" + string(rune('a'+i%26)) + ">.csv",
		Seen:     placed.Add(time.Duration(i) * time.Second),
		Fields:   map[string]string{"name": "Zoë", "city": "Zürich", "note": "line\nbreak \"quoted\""},
		Values:   []float64{1.5, -2.25, 1e21, 0.1, 3},
		Tags:     []string{"raw", "eu"},
		Owner:    &Contact{Name: "Ann", Email: "ann@example.com", Phones: []string{"+41 44 000 00 00"}},
		Checksum: []byte{0xde, 0xad, 0xbe, 0xef, byte(i)},
		Retries:  uint8(i % 4),
		Valid:    i%2 == 0,
	}
}

func sampleIngest() *IngestArgs {
	batch := make([]Record, 8)
	for i := range batch {
		batch[i] = sampleRecord(i)
	}
	return &IngestArgs{Batch: batch, Source: "nightly", Dedupe: true}
}

func sampleReceipt() *SendReceiptArgs {
	return &SendReceiptArgs{
		To: Contact{Name: "Bob Example", Email: "bob@example.com", Phones: []string{"555-0100", "555-0101"}},
		Order: Order{
			ID: "ord-2025-000042",
			Lines: []Line{
				{SKU: "BOOK-1", Quantity: 2, Price: 12.5},
				{SKU: "PEN-7", Quantity: 10, Price: 0.99},
				{SKU: "BAG-3", Quantity: 1, Price: 49},
			},
			Total:  83.9,
			Placed: placed,
			Meta:   map[string]int{"coupon": 10, "loyalty": 3},
			ShipTo: Address{Street: "1 Main St", City: "Springfield", Country: "US", Zip: "12345"},
		},
		Cc:     []string{"billing@example.com"},
		SendAt: ptr(placed.Add(time.Hour)),
	}
}

func sampleMixed() *MixedArgs {
	a := &MixedArgs{
		Ints:   map[int]int8{10: 1, 9: -2, -100: 127},
		Levels: map[Level]uint{3: 3, -3: 30},
		Arr:    [3]uint16{1, 65535, 0},
		Nested: [][]string{{"a"}, nil, {}},
		Ptr:    ptr(ptr(7)),
		F32:    1.1,
		Level:  -32768,
		D:      time.Minute,
		Tree:   &Tree{Name: "root", Kids: []Tree{{Name: "k", Score: 0.5}}, Left: &Tree{Name: "l"}},
		Addr:   netip.MustParseAddr("192.0.2.1"),
		Raw:    json.RawMessage(`{"a": [true, null]}`),
		U64:    1<<64 - 1,
	}
	a.Anon.A = "x"
	a.Anon.B = ptr(false)
	return a
}

// roundTrip checks v against encoding/json: the generated MarshalTask
// writes the same bytes, and decoding those bytes gives the same value.
func roundTrip[T any, PT interface {
	*T
	runtime.Payload
}](t *testing.T, v PT) {
	t.Helper()
	got, err := v.MarshalTask()
	want, wantErr := json.Marshal(v)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("MarshalTask error %v, encoding/json %v", err, wantErr)
	}
	if err != nil {
		return
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("MarshalTask:\ngot  %s\nwant %s", got, want)
	}
	var viaJSON, viaCodec T
	if err := json.Unmarshal(got, &viaJSON); err != nil {
		t.Fatalf("encoding/json cannot read MarshalTask output %s: %v", got, err)
	}
	if err := PT(&viaCodec).UnmarshalTask(got); err != nil {
		t.Fatalf("UnmarshalTask(%s): %v", got, err)
	}
	if !reflect.DeepEqual(viaJSON, viaCodec) {
		t.Fatalf("UnmarshalTask(%s):\ngot  %#v\nwant %#v", got, viaCodec, viaJSON)
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	roundTrip(t, sampleIngest())
	roundTrip(t, &IngestArgs{})
	roundTrip(t, sampleReceipt())
	roundTrip(t, &SendReceiptArgs{})
	roundTrip(t, sampleMixed())
	roundTrip(t, &MixedArgs{})
}

// fuzzOne decodes data with encoding/json, then checks the generated codec
// on the value; UnmarshalTask must never panic on data itself.
func fuzzOne[T any, PT interface {
	*T
	runtime.Payload
}](t *testing.T, data []byte) {
	var raw T
	_ = PT(&raw).UnmarshalTask(data)
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		return
	}
	roundTrip[T, PT](t, &v)
}

func FuzzRoundTrip(f *testing.F) {
	for _, v := range []runtime.Payload{sampleIngest(), sampleReceipt(), sampleMixed(), &IngestArgs{}, &MixedArgs{}} {
		b, err := json.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`null`, `{}`, `[]`, `{"batch": [null, {}], "BATCH": []}`,
		`{"ints": {"1": 1, "1": 2}, "arr": [1, 2, 3, 4], "nested": [[], null]}`,
		`{"tree": {"kids": [{"kids": [{}]}], "left": {"left": null}}}`,
		`{"order": {"lines": [{"sku": "\u00e9\ud83d\ude00"}]}, "sendAt": null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzOne[IngestArgs](t, data)
		fuzzOne[SendReceiptArgs](t, data)
		fuzzOne[MixedArgs](t, data)
	})
}

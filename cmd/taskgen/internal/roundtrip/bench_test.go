package roundtrip

import (
	"encoding/json"
	"testing"

	"github.com/taskgen/taskgen/runtime"
)

// The benchmarks compare the generated codec with encoding/json on the same
// payloads: an ETL batch (nested structs, slices, maps, times, bytes) and
// mailer arguments. Compare ns/op and allocs/op of each Generated/JSON pair.

func benchPayloads() []struct {
	name string
	v    runtime.Payload
	new  func() runtime.Payload
} {
	return []struct {
		name string
		v    runtime.Payload
		new  func() runtime.Payload
	}{
		{"ETLBatch", sampleIngest(), func() runtime.Payload { return new(IngestArgs) }},
		{"Mailer", sampleReceipt(), func() runtime.Payload { return new(SendReceiptArgs) }},
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, p := range benchPayloads() {
		b.Run(p.name+"/Generated", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.v.MarshalTask(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(p.name+"/JSON", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := json.Marshal(p.v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, p := range benchPayloads() {
		data, err := p.v.MarshalTask()
		if err != nil {
			b.Fatal(err)
		}
		b.Run(p.name+"/Generated", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := p.new().UnmarshalTask(data); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(p.name+"/JSON", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := json.Unmarshal(data, p.new()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

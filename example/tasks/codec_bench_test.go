package tasks_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/taskgen/taskgen/example/tasks"
	"github.com/taskgen/taskgen/runtime"
)

// codecCases are the example's payloads at realistic sizes.
func codecCases() []struct {
	name string
	args interface {
		runtime.Payload
	}
	fresh func() runtime.Payload
} {
	since := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := make([][]string, 50)
	for i := range rows {
		rows[i] = []string{fmt.Sprintf("key-%03d", i), fmt.Sprint(i * 7), "tag-a,tag-b"}
	}
	clean := tasks.CleanData{Schema: "v2", Stats: map[string]int64{"records": 50, "sum": 8575}}
	for i := range 50 {
		clean.Records = append(clean.Records, tasks.Record{Key: fmt.Sprintf("key-%03d", i), Value: int64(i * 7), Tags: []string{"tag-a", "tag-b"}})
	}
	order := tasks.Order{ID: "A-1001", Email: "ada@example.com", Currency: "EUR", Lines: []tasks.OrderLine{
		{SKU: "book-0001", Quantity: 2, Price: 12.5}, {SKU: "pen-0002", Quantity: 1, Price: 3}, {SKU: "ink-0003", Quantity: 4, Price: 1.25},
	}}
	type c = struct {
		name  string
		args  interface{ runtime.Payload }
		fresh func() runtime.Payload
	}
	return []c{
		{"SendWelcome", &tasks.SendWelcomeArgs{UserID: 42, Email: "ada@example.com"}, func() runtime.Payload { return new(tasks.SendWelcomeArgs) }},
		{"SendReceipt", &tasks.SendReceiptArgs{Order: order}, func() runtime.Payload { return new(tasks.SendReceiptArgs) }},
		{"Extract", &tasks.ExtractArgs{Src: tasks.Source{Name: "orders.csv", Since: since}}, func() runtime.Payload { return new(tasks.ExtractArgs) }},
		{"Transform", &tasks.TransformArgs{Raw: tasks.RawData{Source: "orders.csv", Rows: rows, FetchedAt: since}, Schema: "v2"}, func() runtime.Payload { return new(tasks.TransformArgs) }},
		{"Load", &tasks.LoadArgs{Data: clean, Dest: "warehouse"}, func() runtime.Payload { return new(tasks.LoadArgs) }},
		{"Sum", &tasks.SumArgs{Xs: []int{1, 4, 9, 16, 25, 36, 49, 64, 81, 100}}, func() runtime.Payload { return new(tasks.SumArgs) }},
	}
}

// BenchmarkCodec compares the generated codec with encoding/json on the
// example's payloads: go test -bench Codec -benchmem ./example/tasks
func BenchmarkCodec(b *testing.B) {
	for _, tc := range codecCases() {
		data, err := tc.args.MarshalTask()
		if err != nil {
			b.Fatal(err)
		}
		b.Run("encode/"+tc.name+"/taskgen", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tc.args.MarshalTask(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("encode/"+tc.name+"/encoding-json", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := json.Marshal(tc.args); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("decode/"+tc.name+"/taskgen", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := tc.fresh().UnmarshalTask(data); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("decode/"+tc.name+"/encoding-json", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := json.Unmarshal(data, tc.fresh()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestCodecMatchesEncodingJSON keeps the benchmark honest: both codecs
// produce and accept the same JSON for these payloads.
func TestCodecMatchesEncodingJSON(t *testing.T) {
	for _, tc := range codecCases() {
		got, err := tc.args.MarshalTask()
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(tc.args)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s: generated %s\nencoding/json %s", tc.name, got, want)
		}
		back := tc.fresh()
		if err := back.UnmarshalTask(want); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		again, _ := json.Marshal(back)
		if string(again) != string(want) {
			t.Errorf("%s: decoded value differs:\n%s\n%s", tc.name, again, want)
		}
	}
}

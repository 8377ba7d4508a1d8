package codec

import (
	"encoding/json"
	"testing"
)

// benchTask is a typical small payload: the arguments of a task like
// SendWelcome.
type benchTask struct {
	UserID  int64    `json:"user_id"`
	Email   string   `json:"email"`
	Name    string   `json:"name"`
	Score   float64  `json:"score"`
	Active  bool     `json:"active"`
	Attempt int32    `json:"attempt"`
	Tags    []string `json:"tags"`
}

var benchValue = benchTask{
	UserID:  1234567890,
	Email:   "ada@example.com",
	Name:    "Ada Lovelace",
	Score:   98.625,
	Active:  true,
	Attempt: 3,
	Tags:    []string{"new", "beta", "eu-west"},
}

// marshalTask and unmarshalTask are what cmd/taskgen generates for
// benchTask.
func (a *benchTask) marshalTask() ([]byte, error) {
	var w Writer
	w.BeginObject()
	w.Key(`"user_id":`)
	w.Int(a.UserID)
	w.Key(`"email":`)
	w.String(a.Email)
	w.Key(`"name":`)
	w.String(a.Name)
	w.Key(`"score":`)
	w.Float64(a.Score)
	w.Key(`"active":`)
	w.Bool(a.Active)
	w.Key(`"attempt":`)
	w.Int(int64(a.Attempt))
	w.Key(`"tags":`)
	if a.Tags == nil {
		w.Null()
	} else {
		w.BeginArray()
		for _, t := range a.Tags {
			w.Elem()
			w.String(t)
		}
		w.EndArray()
	}
	w.EndObject()
	return w.Bytes(), w.Err()
}

func (a *benchTask) unmarshalTask(data []byte) error {
	r := NewReader(data)
	if r.BeginObject() {
		for r.NextField() {
			switch string(r.Key()) {
			case "user_id":
				a.UserID = r.Int(64)
			case "email":
				a.Email = r.String()
			case "name":
				a.Name = r.String()
			case "score":
				a.Score = r.Float(64)
			case "active":
				a.Active = r.Bool()
			case "attempt":
				a.Attempt = int32(r.Int(32))
			case "tags":
				if r.IsNull() {
					a.Tags = nil
					continue
				}
				if r.BeginArray() {
					a.Tags = a.Tags[:0]
					for r.NextElem() {
						a.Tags = append(a.Tags, r.String())
					}
				}
			default:
				r.Skip()
			}
		}
	}
	return r.End()
}

func TestBenchTaskMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	got, err := benchValue.marshalTask()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(benchValue)
	if string(got) != string(want) {
		t.Fatalf("got %s, want %s", got, want)
	}
	var back benchTask
	if err := back.unmarshalTask(got); err != nil {
		t.Fatal(err)
	}
	if back.Email != benchValue.Email || len(back.Tags) != 3 || back.Score != benchValue.Score {
		t.Fatalf("round trip gave %+v", back)
	}
}

func BenchmarkEncode(b *testing.B) {
	b.Run("codec", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := benchValue.marshalTask(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(&benchValue); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	data, _ := json.Marshal(benchValue)
	b.Run("codec", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		var v benchTask
		for b.Loop() {
			if err := v.unmarshalTask(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		var v benchTask
		for b.Loop() {
			if err := json.Unmarshal(data, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDecodeNumbers shows that numbers and skipped values cost no
// allocations.
func BenchmarkDecodeNumbers(b *testing.B) {
	data := []byte(`{"a":1234567890,"b":-98.625,"c":4294967295,"d":true,"skip":{"x":[1,2,"y"]}}`)
	type nums struct {
		A int64   `json:"a"`
		B float64 `json:"b"`
		C uint32  `json:"c"`
		D bool    `json:"d"`
	}
	b.Run("codec", func(b *testing.B) {
		b.ReportAllocs()
		var v nums
		for b.Loop() {
			r := NewReader(data)
			if r.BeginObject() {
				for r.NextField() {
					switch string(r.Key()) {
					case "a":
						v.A = r.Int(64)
					case "b":
						v.B = r.Float(64)
					case "c":
						v.C = uint32(r.Uint(32))
					case "d":
						v.D = r.Bool()
					default:
						r.Skip()
					}
				}
			}
			if err := r.End(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		var v nums
		for b.Loop() {
			if err := json.Unmarshal(data, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package codec

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sample exercises every kind of value the generator emits code for. Its
// MarshalTask and UnmarshalTask are written the way cmd/taskgen writes
// them, so tests can compare them with encoding/json on the same struct.
type sample struct {
	ID     int64            `json:"id"`
	Name   string           `json:"name"`
	Score  float64          `json:"score"`
	Ratio  float32          `json:"ratio"`
	Small  int8             `json:"small"`
	Count  uint16           `json:"count"`
	Active bool             `json:"active"`
	Tags   []string         `json:"tags"`
	Attrs  map[string]int   `json:"attrs"`
	ByID   map[int32]string `json:"by_id"`
	Blob   []byte           `json:"blob"`
	When   time.Time        `json:"when"`
	Child  *sample          `json:"child"`
	Matrix [][]int          `json:"matrix"`
}

func (s *sample) MarshalTask() ([]byte, error) {
	var w Writer
	encSample(&w, s)
	return w.Bytes(), w.Err()
}

func encSample(w *Writer, s *sample) {
	w.BeginObject()
	w.Key(`"id":`)
	w.Int(s.ID)
	w.Key(`"name":`)
	w.String(s.Name)
	w.Key(`"score":`)
	w.Float64(s.Score)
	w.Key(`"ratio":`)
	w.Float32(s.Ratio)
	w.Key(`"small":`)
	w.Int(int64(s.Small))
	w.Key(`"count":`)
	w.Uint(uint64(s.Count))
	w.Key(`"active":`)
	w.Bool(s.Active)
	w.Key(`"tags":`)
	if s.Tags == nil {
		w.Null()
	} else {
		w.BeginArray()
		for _, t := range s.Tags {
			w.Elem()
			w.String(t)
		}
		w.EndArray()
	}
	w.Key(`"attrs":`)
	if s.Attrs == nil {
		w.Null()
	} else {
		w.BeginObject()
		for _, k := range slices.Sorted(maps.Keys(s.Attrs)) {
			w.MapKeyString(k)
			w.Int(int64(s.Attrs[k]))
		}
		w.EndObject()
	}
	w.Key(`"by_id":`)
	if s.ByID == nil {
		w.Null()
	} else {
		// encoding/json orders integer keys by their decimal text.
		keys := slices.SortedFunc(maps.Keys(s.ByID), func(a, b int32) int {
			return strings.Compare(strconv.Itoa(int(a)), strconv.Itoa(int(b)))
		})
		w.BeginObject()
		for _, k := range keys {
			w.MapKeyInt(int64(k))
			w.String(s.ByID[k])
		}
		w.EndObject()
	}
	w.Key(`"blob":`)
	w.Bytes64(s.Blob)
	w.Key(`"when":`)
	w.Time(s.When)
	w.Key(`"child":`)
	if s.Child == nil {
		w.Null()
	} else {
		encSample(w, s.Child)
	}
	w.Key(`"matrix":`)
	if s.Matrix == nil {
		w.Null()
	} else {
		w.BeginArray()
		for _, row := range s.Matrix {
			w.Elem()
			if row == nil {
				w.Null()
				continue
			}
			w.BeginArray()
			for _, v := range row {
				w.Elem()
				w.Int(int64(v))
			}
			w.EndArray()
		}
		w.EndArray()
	}
	w.EndObject()
}

func (s *sample) UnmarshalTask(data []byte) error {
	r := NewReader(data)
	decSample(&r, s)
	return r.End()
}

func decSample(r *Reader, s *sample) {
	if !r.BeginObject() {
		return
	}
	for r.NextField() {
		switch string(r.Key()) {
		case "id":
			s.ID = r.Int(64)
		case "name":
			s.Name = r.String()
		case "score":
			s.Score = r.Float(64)
		case "ratio":
			s.Ratio = float32(r.Float(32))
		case "small":
			s.Small = int8(r.Int(8))
		case "count":
			s.Count = uint16(r.Uint(16))
		case "active":
			s.Active = r.Bool()
		case "tags":
			if r.IsNull() {
				s.Tags = nil
				continue
			}
			if r.BeginArray() {
				s.Tags = s.Tags[:0]
				if s.Tags == nil {
					s.Tags = []string{}
				}
				for r.NextElem() {
					s.Tags = append(s.Tags, r.String())
				}
			}
		case "attrs":
			if r.IsNull() {
				s.Attrs = nil
				continue
			}
			if r.BeginObject() {
				if s.Attrs == nil {
					s.Attrs = map[string]int{}
				}
				for r.NextField() {
					k := string(r.Key())
					s.Attrs[k] = int(r.Int(64))
				}
			}
		case "by_id":
			if r.IsNull() {
				s.ByID = nil
				continue
			}
			if r.BeginObject() {
				if s.ByID == nil {
					s.ByID = map[int32]string{}
				}
				for r.NextField() {
					k := int32(r.KeyInt(32))
					s.ByID[k] = r.String()
				}
			}
		case "blob":
			s.Blob = r.Bytes64()
		case "when":
			s.When = r.Time()
		case "child":
			if r.IsNull() {
				s.Child = nil
				continue
			}
			if s.Child == nil {
				s.Child = new(sample)
			}
			decSample(r, s.Child)
		case "matrix":
			if r.IsNull() {
				s.Matrix = nil
				continue
			}
			if r.BeginArray() {
				s.Matrix = [][]int{}
				for r.NextElem() {
					if r.IsNull() {
						s.Matrix = append(s.Matrix, nil)
						continue
					}
					row := []int{}
					if r.BeginArray() {
						for r.NextElem() {
							row = append(row, int(r.Int(64)))
						}
					}
					s.Matrix = append(s.Matrix, row)
				}
			}
		default:
			r.Skip()
		}
	}
}

// fullSample returns a sample with every field set, nested once.
func fullSample() *sample {
	return &sample{
		ID:     -9007199254740993,
		Name:   "Zoë <admin> & \"friends\"\n",
		Score:  1e21,
		Ratio:  0.1,
		Small:  -128,
		Count:  65535,
		Active: true,
		Tags:   []string{"a", "", "\u2028", "\xff"},
		Attrs:  map[string]int{"b": 2, "a": 1, "<": -1, "": 0},
		ByID:   map[int32]string{-1: "minus", 10: "ten", 9: "nine", 2147483647: "max"},
		Blob:   []byte{0, 1, 2, 253, 254, 255},
		When:   time.Date(2024, 5, 6, 7, 8, 9, 10, time.FixedZone("", -7*3600)),
		Child: &sample{
			Name:   "child",
			Tags:   []string{},
			Blob:   []byte{},
			Matrix: [][]int{},
		},
		Matrix: [][]int{{1, 2}, nil, {}, {-3}},
	}
}

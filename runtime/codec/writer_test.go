package codec

import (
	"encoding/json"
	"errors"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// escapeStrings covers every escape class of encoding/json's default,
// HTML-safe output, plus invalid UTF-8 in the places it can hide.
var escapeStrings = []string{
	"",
	"plain ascii",
	`quote " backslash \ slash /`,
	"\b\f\n\r\t",
	"\x00\x01\x07\x0b\x0e\x1f\x7f",
	"<script>&amp;</script>",
	"line\u2028para\u2029end",
	"\u2027\u202a",
	"héllo, 世界, 🎉",
	"\xff",
	"a\xffb\xfe",
	"\xc3",             // truncated two-byte sequence
	"\xe2\x80",         // truncated U+2028
	"\xed\xa0\x80",     // UTF-8 encoded surrogate, invalid in Go
	"\xf4\x90\x80\x80", // beyond U+10FFFF
	"\uFFFD",
	"'single' `back`",
	strings.Repeat("long string without escapes ", 20),
}

var floatCases = []float64{
	0, math.Copysign(0, -1), 1, -1, 0.1, 0.2, 1.0 / 3, 100, 1234567,
	1e6, 1e20, 1e21, 1e22, -1e21, 123456789012345678901234567890,
	1e-6, 1e-7, 9.99999e-7, 1.5e-7, 1e-10, 1e-100, 5e-324, math.SmallestNonzeroFloat64,
	math.MaxFloat64, -math.MaxFloat64, math.MaxInt64, math.Pi, 1e100, 2.5e-300,
	float64(math.MaxFloat32), 0.000001, 0.0000001, 12e-9,
}

var float32Cases = []float32{
	0, float32(math.Copysign(0, -1)), 1, -1, 0.1, 0.2, 1.0 / 3, 3.4028235e38, -3.4028235e38,
	1e-6, 9.999999e-7, 1e-7, 1e20, 1e21, 999999.94e15, 1e-45, math.SmallestNonzeroFloat32,
	16777216, 16777217, math.Pi, 1.1754944e-38,
}

func marshalStd(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json.Marshal(%#v): %v", v, err)
	}
	return string(b)
}

// write runs f on a fresh Writer and returns its output.
func write(t *testing.T, f func(w *Writer)) string {
	t.Helper()
	var w Writer
	f(&w)
	if err := w.Err(); err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	return string(w.Bytes())
}

func TestWriterMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	type tc struct {
		name  string
		value any // what encoding/json marshals
		write func(w *Writer)
	}
	var cases []tc
	add := func(name string, v any, f func(w *Writer)) {
		cases = append(cases, tc{name, v, f})
	}
	for _, s := range escapeStrings {
		add("string "+strconv.Quote(s), s, func(w *Writer) { w.String(s) })
		add("map key "+strconv.Quote(s), map[string]int{s: 1}, func(w *Writer) {
			w.BeginObject()
			w.MapKeyString(s)
			w.Int(1)
			w.EndObject()
		})
	}
	for _, f := range floatCases {
		for _, f := range []float64{f, -f} {
			add("float64 "+strconv.FormatFloat(f, 'g', -1, 64), f, func(w *Writer) { w.Float64(f) })
		}
	}
	for _, f := range float32Cases {
		for _, f := range []float32{f, -f} {
			add("float32 "+strconv.FormatFloat(float64(f), 'g', -1, 32), f, func(w *Writer) { w.Float32(f) })
		}
	}
	for _, n := range []int64{0, 1, -1, math.MaxInt8, math.MinInt8, math.MaxInt16, math.MinInt16,
		math.MaxInt32, math.MinInt32, math.MaxInt64, math.MinInt64} {
		add("int "+strconv.FormatInt(n, 10), n, func(w *Writer) { w.Int(n) })
	}
	for _, n := range []uint64{0, 1, math.MaxUint8, math.MaxUint16, math.MaxUint32, math.MaxUint64} {
		add("uint "+strconv.FormatUint(n, 10), n, func(w *Writer) { w.Uint(n) })
	}
	add("true", true, func(w *Writer) { w.Bool(true) })
	add("false", false, func(w *Writer) { w.Bool(false) })
	add("null", nil, func(w *Writer) { w.Null() })
	for _, b := range [][]byte{nil, {}, {0}, {0, 1}, {0, 1, 2}, []byte("any carnal pleasure."), {0xfb, 0xff, 0xbf}} {
		add("bytes "+strconv.Quote(string(b)), b, func(w *Writer) { w.Bytes64(b) })
	}
	plus := time.FixedZone("plus", 5*3600+30*60)
	minus := time.FixedZone("minus", -(23*3600 + 59*60))
	for _, tm := range []time.Time{
		{},
		time.Date(2024, 2, 29, 13, 4, 5, 0, time.UTC),
		time.Date(2024, 2, 29, 13, 4, 5, 123456789, time.UTC),
		time.Date(2024, 2, 29, 13, 4, 5, 120000000, plus),
		time.Date(1, 1, 1, 0, 0, 0, 1, minus),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(1700000000, 42).In(time.Local),
	} {
		add("time "+tm.String(), tm, func(w *Writer) { w.Time(tm) })
	}
	addr := netip.MustParseAddr("2001:db8::1")
	add("text marshaler", addr, func(w *Writer) { w.TextMarshaler(addr) })
	add("text marshaler escapes", textValue("<a & \"b\">\xff"), func(w *Writer) { w.TextMarshaler(textValue("<a & \"b\">\xff")) })
	raw := json.RawMessage(" { \"a\" : [ 1 , 2 ] ,\n\t\"b<&>\" : \"x y\\\" <\u2028>\" } ")
	add("marshaler compacts and escapes", raw, func(w *Writer) { w.Marshaler(raw) })
	add("marshaler nil", nil, func(w *Writer) { w.Marshaler(nil) })
	add("int keys", map[int64]bool{-5: true, 10: false, 9: true}, func(w *Writer) {
		// encoding/json orders the keys by their text: "-5" < "10" < "9".
		w.BeginObject()
		w.MapKeyInt(-5)
		w.Bool(true)
		w.MapKeyInt(10)
		w.Bool(false)
		w.MapKeyInt(9)
		w.Bool(true)
		w.EndObject()
	})
	add("uint keys", map[uint64]int{math.MaxUint64: 1, 0: 2}, func(w *Writer) {
		w.BeginObject()
		w.MapKeyUint(0)
		w.Int(2)
		w.MapKeyUint(math.MaxUint64)
		w.Int(1)
		w.EndObject()
	})
	add("empty containers", struct {
		A []int          `json:"a"`
		B map[string]int `json:"b"`
		C [][]int        `json:"c"`
		D struct{}       `json:"d"`
	}{[]int{}, map[string]int{}, [][]int{{}, {}, nil}, struct{}{}}, func(w *Writer) {
		w.BeginObject()
		w.Key(`"a":`)
		w.BeginArray()
		w.EndArray()
		w.Key(`"b":`)
		w.BeginObject()
		w.EndObject()
		w.Key(`"c":`)
		w.BeginArray()
		w.Elem()
		w.BeginArray()
		w.EndArray()
		w.Elem()
		w.BeginArray()
		w.EndArray()
		w.Elem()
		w.Null()
		w.EndArray()
		w.Key(`"d":`)
		w.BeginObject()
		w.EndObject()
		w.EndObject()
	})
	s := fullSample()
	add("nested struct", s, func(w *Writer) { encSample(w, s) })
	add("zero struct", &sample{}, func(w *Writer) { encSample(w, &sample{}) })

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			want := marshalStd(t, c.value)
			got := write(t, c.write)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("output differs from encoding/json (-want +got):\n%s", diff)
			}
		})
	}
}

// textValue is a TextMarshaler whose text needs escaping.
type textValue string

func (v textValue) MarshalText() ([]byte, error) { return []byte(v), nil }

type badJSON string

func (b badJSON) MarshalJSON() ([]byte, error) { return []byte(b), nil }

type failing struct{}

var errFailing = errors.New("failing on purpose")

func (failing) MarshalJSON() ([]byte, error) { return nil, errFailing }
func (failing) MarshalText() ([]byte, error) { return nil, errFailing }

func TestWriterErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		write func(w *Writer)
		want  string
	}{
		{"NaN", func(w *Writer) { w.Float64(math.NaN()) }, "NaN"},
		{"+Inf", func(w *Writer) { w.Float64(math.Inf(1)) }, "+Inf"},
		{"-Inf float32", func(w *Writer) { w.Float32(float32(math.Inf(-1))) }, "-Inf"},
		{"year 10000", func(w *Writer) { w.Time(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)) }, "year outside of range"},
		{"year -1", func(w *Writer) { w.Time(time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)) }, "year outside of range"},
		{"zone 24h", func(w *Writer) { w.Time(time.Date(2000, 1, 1, 0, 0, 0, 0, time.FixedZone("", 24*3600))) }, "timezone hour"},
		{"marshaler invalid", func(w *Writer) { w.Marshaler(badJSON(`{"a":}`)) }, "invalid output"},
		{"marshaler two values", func(w *Writer) { w.Marshaler(badJSON(`1 2`)) }, "invalid output"},
		{"marshaler empty", func(w *Writer) { w.Marshaler(badJSON(``)) }, "invalid output"},
		{"marshaler error", func(w *Writer) { w.Marshaler(failing{}) }, "failing on purpose"},
		{"text marshaler error", func(w *Writer) { w.TextMarshaler(failing{}) }, "failing on purpose"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var w Writer
			w.BeginArray()
			w.Elem()
			c.write(&w)
			w.Elem()
			w.Float64(math.NaN()) // a later error must not replace the first
			w.EndArray()
			err := w.Err()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Err() = %v, want it to mention %q", err, c.want)
			}
			if b := w.Bytes(); b != nil {
				t.Errorf("Bytes() = %q after an error, want nil", b)
			}
			w.Reset()
			w.Int(7)
			if w.Err() != nil || string(w.Bytes()) != "7" {
				t.Errorf("after Reset: %q, %v; want \"7\", nil", w.Bytes(), w.Err())
			}
		})
	}
	var w Writer
	w.Marshaler(failing{})
	if !errors.Is(w.Err(), errFailing) {
		t.Errorf("Marshaler error %v does not wrap the cause", w.Err())
	}
}

func TestWriterReuse(t *testing.T) {
	t.Parallel()
	var w Writer
	w.Grow(64)
	if cap(w.buf) < 64 {
		t.Fatalf("Grow(64) left capacity %d", cap(w.buf))
	}
	for range 3 {
		w.Reset()
		w.BeginObject()
		w.Key(`"a":`)
		w.Int(1)
		w.EndObject()
		if got := string(w.Bytes()); got != `{"a":1}` {
			t.Fatalf("got %s", got)
		}
	}
}

package codec

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// numberInputs are tried against every numeric and scalar kind, and the
// Reader must agree with encoding/json on each: same value, or both fail.
var numberInputs = []string{
	"0", "-0", "1", "-1", " 7 ", "\t\r\n7\n",
	"127", "128", "-128", "-129", "255", "256",
	"32767", "32768", "-32768", "-32769", "65535", "65536",
	"2147483647", "2147483648", "-2147483648", "-2147483649", "4294967295", "4294967296",
	"9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
	"18446744073709551615", "18446744073709551616", "99999999999999999999999", "-99999999999999999999999",
	"1.0", "1e2", "1E+2", "1e-2", "-1.5", "0.1", "0.5e1", "123456789.123456789",
	"3.4028234663852886e38", "3.4028235e38", "3.4028236e38", "3.5e38", "-3.5e38", "1e39", "-1e39",
	"1.7976931348623157e308", "1.8e308", "1e309", "-1e309", "1e-400", "5e-324", "1e-46",
	"null", "true", "false", `"5"`, `""`, "[1]", "{}",
	"01", "-01", "00", "-", "--1", "1.", ".5", "+1", "1e", "1e+", "1.e1", "0x10", "1_000",
	"", " ", "nul", "nulls", "tru", "NaN", "Infinity", "-Infinity", "1 2", "1,",
}

func TestReaderScalarsMatchEncodingJSON(t *testing.T) {
	t.Parallel()
	type kind struct {
		name string
		ours func(r *Reader) any
		std  func(data []byte) (any, error)
	}
	std := func(data []byte, v any) error { return json.Unmarshal(data, v) }
	kinds := []kind{
		{"int8", func(r *Reader) any { return int8(r.Int(8)) }, func(d []byte) (any, error) { var v int8; err := std(d, &v); return v, err }},
		{"int16", func(r *Reader) any { return int16(r.Int(16)) }, func(d []byte) (any, error) { var v int16; err := std(d, &v); return v, err }},
		{"int32", func(r *Reader) any { return int32(r.Int(32)) }, func(d []byte) (any, error) { var v int32; err := std(d, &v); return v, err }},
		{"int64", func(r *Reader) any { return r.Int(64) }, func(d []byte) (any, error) { var v int64; err := std(d, &v); return v, err }},
		{"uint8", func(r *Reader) any { return uint8(r.Uint(8)) }, func(d []byte) (any, error) { var v uint8; err := std(d, &v); return v, err }},
		{"uint16", func(r *Reader) any { return uint16(r.Uint(16)) }, func(d []byte) (any, error) { var v uint16; err := std(d, &v); return v, err }},
		{"uint32", func(r *Reader) any { return uint32(r.Uint(32)) }, func(d []byte) (any, error) { var v uint32; err := std(d, &v); return v, err }},
		{"uint64", func(r *Reader) any { return r.Uint(64) }, func(d []byte) (any, error) { var v uint64; err := std(d, &v); return v, err }},
		{"float32", func(r *Reader) any { return float32(r.Float(32)) }, func(d []byte) (any, error) { var v float32; err := std(d, &v); return v, err }},
		{"float64", func(r *Reader) any { return r.Float(64) }, func(d []byte) (any, error) { var v float64; err := std(d, &v); return v, err }},
		{"bool", func(r *Reader) any { return r.Bool() }, func(d []byte) (any, error) { var v bool; err := std(d, &v); return v, err }},
		{"string", func(r *Reader) any { return r.String() }, func(d []byte) (any, error) { var v string; err := std(d, &v); return v, err }},
	}
	for _, k := range kinds {
		for _, in := range numberInputs {
			t.Run(k.name+"/"+in, func(t *testing.T) {
				t.Parallel()
				want, wantErr := k.std([]byte(in))
				r := NewReader([]byte(in))
				got := k.ours(&r)
				err := r.End()
				if (err != nil) != (wantErr != nil) {
					t.Fatalf("error = %v, encoding/json error = %v", err, wantErr)
				}
				if err == nil && got != want {
					t.Errorf("got %v, encoding/json got %v", got, want)
				}
			})
		}
	}
}

func TestReaderStringsMatchEncodingJSON(t *testing.T) {
	t.Parallel()
	inputs := []string{
		`""`, `"abc"`, `"\"\\\/\b\f\n\r\t"`, `"\u0000\u001f\u007f"`, `"\u00e9\u4e16\uFFFF"`,
		`"\ud83d\ude00"`, `"\uD83D\uDE00tail"`, `"\ud83d"`, `"\ud83dx"`, `"\ude00\ud83d"`,
		`"\ud83d\ud83d\ude00"`, `"\ud83d\u0041"`, `"\udbff\udfff"`, `"\ud800\udc00"`, `"a\udc00b"`,
		"\"raw \xff invalid \xc3\"", "\"\xed\xa0\x80\"", "\"\xe2\x80\xa8\"", "\"\x7f\"", "\"é世🎉\"",
		`"\u12"`, `"\u12G4"`, `"\x"`, `"\'"`, `"\U0041"`, `"\`, `"abc`, `"abc\"`, "\"\x01\"",
		"\"tab\tinside\"", "\"new\nline\"", `"\ud83d\u12"`, `"\ud83d\"`, `'a'`, `abc`,
		`"` + strings.Repeat(`\u00e9`, 100) + `"`,
	}
	for _, in := range inputs {
		t.Run(in, func(t *testing.T) {
			t.Parallel()
			var want string
			wantErr := json.Unmarshal([]byte(in), &want)
			r := NewReader([]byte(in))
			got := r.String()
			err := r.End()
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("error = %v, encoding/json error = %v", err, wantErr)
			}
			if got != want {
				t.Errorf("got %q, encoding/json got %q", got, want)
			}
		})
	}
}

// validDocuments decode into sample identically with the Reader and with
// encoding/json.
var validDocuments = []string{
	`{}`,
	`null`,
	` { } `,
	`{"id":1,"name":"x"}`,
	`{"id":1,"id":2,"name":"first","name":"last"}`,
	`{"unknown":{"a":[1,2,{"b":null}],"c":"\u0041"},"id":3,"more":[[],{},"",0,-1.5e3,true,false,null]}`,
	`{"id":null,"name":null,"score":null,"ratio":null,"small":null,"count":null,"active":null,
	  "tags":null,"attrs":null,"by_id":null,"blob":null,"when":null,"child":null,"matrix":null}`,
	"{\n\t\"tags\" : [ \"a\" , \"b\" ] ,\r\n \"attrs\" : { \"k\" : 1 , \"k\" : 2 } }",
	`{"tags":[],"attrs":{},"by_id":{},"blob":"","matrix":[]}`,
	`{"by_id":{"-2147483648":"min","2147483647":"max","+5":"plus","\u0031\u0032":"twelve"}}`,
	`{"blob":"AAECAwQ=","when":"2024-02-29T13:04:05.123456789+05:30"}`,
	`{"blob":"AAEC\r\nAwQ=","when":"0001-01-01T00:00:00Z"}`,
	`{"blob":[0,1,255,null]}`,
	`{"child":{"child":{"child":{"name":"deep","child":null}}}}`,
	`{"matrix":[[1,2],null,[],[-3]]}`,
	`{"score":1e21,"ratio":3.4028234e38,"small":-128,"count":65535,"active":true}`,
	`{"name":"\ud83d\ude00 \ud83d x \u2028 \"q\""}`,
	"{\"name\":\"bad \xff utf8\",\"tags\":[\"\xc3\"]}",
	`{"\u0069\u0064":42}`,
}

func TestReaderMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	full, err := fullSample().MarshalTask()
	if err != nil {
		t.Fatal(err)
	}
	docs := append([]string{string(full)}, validDocuments...)
	for _, doc := range docs {
		t.Run(doc, func(t *testing.T) {
			t.Parallel()
			var want sample
			if err := json.Unmarshal([]byte(doc), &want); err != nil {
				t.Fatalf("encoding/json rejects the document: %v", err)
			}
			var got sample
			if err := got.UnmarshalTask([]byte(doc)); err != nil {
				t.Fatalf("UnmarshalTask: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("result differs from encoding/json (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	in := fullSample()
	data, err := in.MarshalTask()
	if err != nil {
		t.Fatal(err)
	}
	var out sample
	if err := out.UnmarshalTask(data); err != nil {
		t.Fatal(err)
	}
	// Invalid UTF-8 comes back as U+FFFD, as it does through encoding/json.
	want := fullSample()
	want.Tags[3] = "\uFFFD"
	if diff := cmp.Diff(want, &out); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

// malformedDocuments must fail to decode into sample, without a panic,
// and encoding/json must reject them too.
var malformedDocuments = []string{
	``, ` `, `{`, `}`, `{,}`, `{,"id":1}`, `{"id":1,}`, `{"id":1 "name":"x"}`, `{"id" 1}`,
	`{"id":}`, `{"id":1}}`, `{"id":1}x`, `{"id":1} {}`, `{id:1}`, `{'id':1}`, `{"id":1,,"name":"x"}`,
	`[]`, `[{}]`, `"str"`, `1`, `true`, `nul`, `{"id":01}`, `{"id":1.5}`, `{"id":1e3}`, `{"id":"1"}`,
	`{"small":128}`, `{"small":-129}`, `{"count":-1}`, `{"count":65536}`, `{"ratio":1e39}`, `{"score":1e999}`,
	`{"active":"true"}`, `{"active":1}`, `{"name":1}`, `{"name":"\x"}`, `{"name":"a` + "\x00" + `"}`,
	`{"tags":["a",]}`, `{"tags":[,"a"]}`, `{"tags":["a" "b"]}`, `{"tags":["a"}`, `{"tags":{"a":1}}`, `{"tags":"a"}`,
	`{"tags":[1]}`, `{"attrs":{"a":1,}}`, `{"attrs":{"a"}}`, `{"attrs":[]}`, `{"by_id":{"x":"a"}}`,
	`{"by_id":{"2147483648":"a"}}`, `{"by_id":{"1.0":"a"}}`, `{"by_id":{"":"a"}}`, `{"blob":"A"}`,
	`{"blob":"AAE"}`, `{"blob":1}`, `{"blob":[256]}`, `{"blob":[-1]}`, `{"when":"2024-13-01T00:00:00Z"}`,
	`{"when":"2024-01-01"}`, `{"when":1}`, `{"when":"2024-01-01T00:00:00\u005a"}`, `{"child":[]}`,
	`{"child":{"id":"x"}}`, `{"matrix":[[1,],[2]]}`, `{"matrix":[[1],[2]`, `{"matrix":[[1.5]]}`,
	`{"unknown":[1,]}`, `{"unknown":{"a":1,}}`, `{"unknown":{"a" 1}}`, `{"unknown":[1 2]}`, `{"unknown":tru}`,
	`{"unknown":-}`, `{"unknown":"\ud83d\u12"}`, `{"unknown":{,}}`, `{"unknown":[}`, `{"unknown":]}`,
	"{\"id\":1\x00}", "\xef\xbb\xbf{}", `{"id":1}` + "\x0b",
}

func TestReaderMalformed(t *testing.T) {
	t.Parallel()
	for _, doc := range malformedDocuments {
		t.Run(doc, func(t *testing.T) {
			t.Parallel()
			var std sample
			if json.Unmarshal([]byte(doc), &std) == nil {
				t.Fatalf("encoding/json accepts the document; the case is wrong")
			}
			var s sample
			err := s.UnmarshalTask([]byte(doc))
			if err == nil {
				t.Fatalf("UnmarshalTask accepted the document: %+v", s)
			}
			if !strings.HasPrefix(err.Error(), "codec: ") {
				t.Errorf("error %q lacks the codec: prefix", err)
			}
		})
	}
}

func TestReaderErrorMessages(t *testing.T) {
	t.Parallel()
	cases := []struct {
		doc  string
		want string
	}{
		{`{"name":{}}`, `codec: offset 8: expected string, found '{'`},
		{`{"id":1,}`, `codec: offset 8: expected string, found '}'`},
		{`{,"id":1}`, `codec: offset 1: expected string or '}', found ','`},
		{`{"id":1 "x":2}`, `codec: offset 8: expected ',' or '}', found '"'`},
		{`{"tags":["a",]}`, `codec: offset 13: expected value, found ']'`},
		{`{"tags":[,]}`, `codec: offset 9: expected value or ']', found ','`},
		{`{"id":1} x`, `codec: offset 9: expected end of input, found 'x'`},
		{`{"id":`, `codec: offset 6: expected number, found end of input`},
		{`{"small":300}`, `codec: offset 9: number 300 overflows int8`},
		{`{"id":1.5}`, `codec: offset 6: cannot decode number 1.5 into int64`},
		{`{"name":"\q"}`, `codec: offset 10: invalid escape character`},
		{`{"active":nul}`, `codec: offset 13: invalid literal, expected null, found '}'`},
		{`{"by_id":{"x":"a"}}`, `codec: offset 10: object key "x" is not an int32`},
		{"{\"id\":\x01}", `codec: offset 6: expected number, found byte 0x01`},
	}
	for _, c := range cases {
		var s sample
		err := s.UnmarshalTask([]byte(c.doc))
		if err == nil || err.Error() != c.want {
			t.Errorf("UnmarshalTask(%q) error = %v, want %s", c.doc, err, c.want)
		}
	}
}

func TestReaderDepthLimit(t *testing.T) {
	t.Parallel()
	nested := func(n int, open, closing string) []byte {
		return []byte(strings.Repeat(open, n) + strings.Repeat(closing, n))
	}
	// decodeNested is what generated code for a recursive type does.
	var decodeNested func(r *Reader)
	decodeNested = func(r *Reader) {
		if r.BeginArray() {
			for r.NextElem() {
				decodeNested(r)
			}
		}
	}
	for _, tc := range []struct {
		n       int
		open    string
		closing string
	}{{maxDepth, "[", "]"}, {maxDepth + 1, "[", "]"}, {maxDepth, `{"a":`, "}"}, {maxDepth + 1, `{"a":`, "}"}} {
		doc := nested(tc.n, tc.open, tc.closing)
		if tc.open == `{"a":` {
			doc = []byte(strings.Repeat(tc.open, tc.n) + "1" + strings.Repeat(tc.closing, tc.n))
		}
		wantOK := tc.n <= maxDepth
		if json.Valid(doc) != wantOK {
			t.Fatalf("encoding/json disagrees about depth %d", tc.n)
		}
		r := NewReader(doc)
		r.Skip()
		if err := r.End(); (err == nil) != wantOK {
			t.Errorf("Skip at depth %d %s: error = %v", tc.n, tc.open, err)
		} else if err != nil && !strings.Contains(err.Error(), "max depth") {
			t.Errorf("Skip at depth %d: error %v does not name the limit", tc.n, err)
		}
		if tc.open == "[" {
			r := NewReader(doc)
			decodeNested(&r)
			if err := r.End(); (err == nil) != wantOK {
				t.Errorf("BeginArray at depth %d: error = %v", tc.n, err)
			}
		}
	}
	// The limit counts the containers the caller opened too.
	r := NewReader(nested(maxDepth+1, "[", "]"))
	r.BeginArray()
	r.NextElem()
	r.Skip()
	if err := r.End(); err == nil || !strings.Contains(err.Error(), "max depth") {
		t.Errorf("Skip inside BeginArray at total depth %d: error = %v", maxDepth+1, err)
	}
}

func TestReaderAfterErrorReturnsZero(t *testing.T) {
	t.Parallel()
	r := NewReader([]byte(`x {"a":[1,"s",true,null]}`))
	r.Skip()
	first := r.End()
	if first == nil {
		t.Fatal("no error for leading garbage")
	}
	if r.BeginObject() || r.NextField() || r.BeginArray() || r.NextElem() || r.IsNull() || r.Bool() {
		t.Error("a bool method returned true after an error")
	}
	if r.Key() != nil || r.Raw() != nil || r.Bytes64() != nil || r.String() != "" {
		t.Error("a method returned data after an error")
	}
	if r.Int(64) != 0 || r.Uint(64) != 0 || r.Float(64) != 0 || r.KeyInt(64) != 0 || r.KeyUint(64) != 0 {
		t.Error("a number method returned non-zero after an error")
	}
	if !r.Time().IsZero() {
		t.Error("Time returned non-zero after an error")
	}
	var rec recorder
	r.Unmarshaler(&rec)
	var addr netip.Addr
	r.TextUnmarshaler(&addr)
	r.Skip()
	if rec.called || addr.IsValid() {
		t.Error("an unmarshaler was called after an error")
	}
	if err := r.End(); err != first {
		t.Errorf("End() = %v, want the first error %v", err, first)
	}
	r.Reset([]byte(`{"a":1}`))
	if !r.BeginObject() || !r.NextField() || string(r.Key()) != "a" || r.Int(64) != 1 || r.NextField() || r.End() != nil {
		t.Errorf("Reset did not clear the error: %v", r.End())
	}
}

// recorder is a json.Unmarshaler that keeps what it was given.
type recorder struct {
	raw    string
	called bool
}

func (r *recorder) UnmarshalJSON(b []byte) error {
	r.called = true
	r.raw = string(b)
	if r.raw == `"fail"` {
		return errors.New("told to fail")
	}
	return nil
}

func TestReaderUnmarshalers(t *testing.T) {
	t.Parallel()
	for _, in := range []string{`null`, ` {"a" : [1, 2]} `, `"text"`, `-1.5e3`, `true`, `"fail"`, `{"a":}`, ``} {
		var want struct{ X recorder }
		wantErr := json.Unmarshal([]byte(`{"X":`+in+`}`), &want)
		var got recorder
		r := NewReader([]byte(in))
		r.Unmarshaler(&got)
		err := r.End()
		if (err != nil) != (wantErr != nil) {
			t.Errorf("Unmarshaler(%q): error = %v, encoding/json error = %v", in, err, wantErr)
		}
		if err == nil && got.raw != want.X.raw {
			t.Errorf("Unmarshaler(%q) passed %q, encoding/json passed %q", in, got.raw, want.X.raw)
		}
	}
	for _, in := range []string{`"1.2.3.4"`, `"2001:db8::\u0031"`, `null`, `"bad"`, `1`, `{}`, `"`} {
		var want netip.Addr
		wantErr := json.Unmarshal([]byte(in), &want)
		var got netip.Addr
		r := NewReader([]byte(in))
		r.TextUnmarshaler(&got)
		err := r.End()
		if (err != nil) != (wantErr != nil) {
			t.Errorf("TextUnmarshaler(%q): error = %v, encoding/json error = %v", in, err, wantErr)
		}
		if got != want {
			t.Errorf("TextUnmarshaler(%q) = %v, encoding/json = %v", in, got, want)
		}
	}
}

func TestReaderTimeMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`"2024-02-29T13:04:05Z"`, `"2024-02-29T13:04:05.123456789+05:30"`, `"0000-01-01T00:00:00-23:59"`,
		`"9999-12-31T23:59:59.999999999Z"`, `null`, `"2024-02-30T00:00:00Z"`, `"2024-02-29 13:04:05Z"`,
		`"2024-02-29T13:04:05\u005a"`, `"2024-02-29T13:04:05+24:00"`, `""`, `1`, `"`,
	} {
		var want time.Time
		wantErr := json.Unmarshal([]byte(in), &want)
		r := NewReader([]byte(in))
		got := r.Time()
		err := r.End()
		if (err != nil) != (wantErr != nil) {
			t.Errorf("Time(%s): error = %v, encoding/json error = %v", in, err, wantErr)
		}
		if !got.Equal(want) {
			t.Errorf("Time(%s) = %v, encoding/json = %v", in, got, want)
		}
	}
}

func TestReaderKeysMatchEncodingJSON(t *testing.T) {
	t.Parallel()
	keys := []string{"0", "1", "-1", "+1", "127", "128", "-128", "-129", "255", "256", "01", " 1", "1 ", "1.0",
		"1e2", "", "x", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
		"18446744073709551615", "18446744073709551616", `\u0031`, "0x1", "1_0"}
	for _, k := range keys {
		doc := []byte(`{"` + k + `":true}`)
		check := func(name string, want any, wantErr error, read func(r *Reader) any) {
			t.Helper()
			r := NewReader(doc)
			got := map[any]bool{}
			if r.BeginObject() {
				for r.NextField() {
					key := read(&r)
					got[key] = r.Bool()
				}
			}
			err := r.End()
			if (err != nil) != (wantErr != nil) {
				t.Errorf("%s key %q: error = %v, encoding/json error = %v", name, k, err, wantErr)
				return
			}
			if err == nil && fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s key %q: got %v, encoding/json got %v", name, k, got, want)
			}
		}
		var i8 map[int8]bool
		err := json.Unmarshal(doc, &i8)
		check("int8", i8, err, func(r *Reader) any { return int8(r.KeyInt(8)) })
		var i64 map[int64]bool
		err = json.Unmarshal(doc, &i64)
		check("int64", i64, err, func(r *Reader) any { return r.KeyInt(64) })
		var u8 map[uint8]bool
		err = json.Unmarshal(doc, &u8)
		check("uint8", u8, err, func(r *Reader) any { return uint8(r.KeyUint(8)) })
		var u64 map[uint64]bool
		err = json.Unmarshal(doc, &u64)
		check("uint64", u64, err, func(r *Reader) any { return r.KeyUint(64) })
	}
}

func TestReaderBytes64MatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, in := range []string{`null`, `""`, `"AA=="`, `"AAEC"`, `"AAECAw=="`, `"AA\r\nEC"`, `"A\nA\r=\n="`,
		`"\u0041\u0041=="`, `"AA"`, `"A"`, `"AA=A"`, `"-_8="`, `"+/8="`, `[]`, `[1,2,255]`, `[256]`, `[-1]`,
		`[1.5]`, `[null,1]`, `["a"]`, `[1,]`, `1`, `{}`, `true`} {
		var want []byte
		wantErr := json.Unmarshal([]byte(in), &want)
		r := NewReader([]byte(in))
		got := r.Bytes64()
		err := r.End()
		if (err != nil) != (wantErr != nil) {
			t.Errorf("Bytes64(%s): error = %v, encoding/json error = %v", in, err, wantErr)
			continue
		}
		if err == nil && (!cmp.Equal(got, want) || (got == nil) != (want == nil)) {
			t.Errorf("Bytes64(%s) = %#v, encoding/json = %#v", in, got, want)
		}
	}
}

func TestReaderRawAndKeyAliasing(t *testing.T) {
	t.Parallel()
	data := []byte(` {"k\u0031": [1, {"a": null}] , "k2" : "v"} `)
	r := NewReader(data)
	var raws []string
	var keys []string
	if r.BeginObject() {
		for r.NextField() {
			keys = append(keys, string(r.Key()))
			raws = append(raws, string(r.Raw()))
		}
	}
	if err := r.End(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"k1", "k2"}, keys); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{`[1, {"a": null}]`, `"v"`}, raws); diff != "" {
		t.Errorf("raw values (-want +got):\n%s", diff)
	}
}

func TestReaderMisuseDoesNotPanic(t *testing.T) {
	t.Parallel()
	// Calls that do not follow the document's shape must fail, not panic
	// or spin.
	r := NewReader([]byte(`{"a":1}`))
	if r.NextField() || r.End() == nil {
		t.Error("NextField before BeginObject did not fail")
	}
	r = NewReader([]byte(`[1,2]`))
	r.BeginArray()
	n := 0
	for r.NextElem() {
		n++ // never reads the element
		if n > 10 {
			t.Fatal("NextElem loops without progress")
		}
	}
	if r.End() == nil {
		t.Error("skipping element reads did not fail")
	}
	r = NewReader([]byte(`[1`))
	r.BeginArray()
	if r.End() == nil {
		t.Error("End inside an open array did not fail")
	}
}

func TestReaderAllocations(t *testing.T) {
	data := []byte(`{"id":123456789,"score":-1.25e-3,"count":65535,"active":true,"name":"plain text","skip":[1,{"x":"y"}]}`)
	var sink struct {
		id     int64
		score  float64
		count  uint64
		active bool
		nameOK bool
	}
	allocs := testing.AllocsPerRun(100, func() {
		r := NewReader(data)
		if r.BeginObject() {
			for r.NextField() {
				switch string(r.Key()) {
				case "id":
					sink.id = r.Int(64)
				case "score":
					sink.score = r.Float(64)
				case "count":
					sink.count = r.Uint(16)
				case "active":
					sink.active = r.Bool()
				case "name":
					// Compared without converting: reading it allocates nothing.
					sink.nameOK = string(r.Raw()) == `"plain text"`
				default:
					r.Skip()
				}
			}
		}
		if err := r.End(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("decoding numbers and skipping allocated %v times per run, want 0", allocs)
	}
	if sink.id != 123456789 || sink.score != -1.25e-3 || sink.count != 65535 || !sink.active || !sink.nameOK {
		t.Errorf("decoded %+v", sink)
	}
	str := []byte(`"a string without escapes"`)
	var sinkString string
	allocs = testing.AllocsPerRun(100, func() {
		r := NewReader(str)
		sinkString = r.String()
	})
	if allocs > 1 {
		t.Errorf("String allocated %v times, want at most the final conversion", allocs)
	}
	if sinkString != "a string without escapes" {
		t.Errorf("String() = %q", sinkString)
	}
	var w Writer
	allocs = testing.AllocsPerRun(100, func() {
		w.Reset()
		w.BeginObject()
		w.Key(`"id":`)
		w.Int(123456789)
		w.Key(`"score":`)
		w.Float64(-1.25e-3)
		w.Key(`"name":`)
		w.String("needs <escaping> & \u2028")
		w.Key(`"when":`)
		w.Time(time.Unix(1700000000, 5).UTC())
		w.EndObject()
	})
	if allocs != 0 {
		t.Errorf("reusing a Writer allocated %v times per run, want 0", allocs)
	}
}

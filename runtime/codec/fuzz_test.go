package codec

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// FuzzReader checks that the Reader accepts exactly the documents
// encoding/json accepts, and that walking a document through the
// structural API yields what encoding/json decodes into an any.
func FuzzReader(f *testing.F) {
	seeds := append(append(append([]string{}, validDocuments...), malformedDocuments...), numberInputs...)
	seeds = append(seeds,
		`[]`, `[[]]`, `[{}]`, `[1,[2,[3,{"a":[4]}]]]`, `{"a":{"b":{"c":[]}}}`, `[null,true,false,"",0,-0.0e+0]`,
		`"\ud83d\ude00\u2028\"\\\/\b\f\n\r\t"`, "\"\xff\xfe\"", `{"":""}`, `{"a":1,"a":2}`, `{"a" : [ 1 , 2 ] }`,
		`[1,]`, `[,1]`, `{"a":1,}`, `{,}`, `[1 2]`, `{"a" 1}`, `{"a":1 "b":2}`, `{1:2}`, `[01]`, `[-]`, `[1.]`,
		`[.1]`, `[1e]`, `[1e+]`, `["\u12"]`, `["\x"]`, "[\"\x1f\"]", `[tru]`, `[nul]`, `[falsey]`, `[1]]`, `[[1]`,
		strings.Repeat("[", 100)+strings.Repeat("]", 100), strings.Repeat(`{"a":`, 50)+"1"+strings.Repeat("}", 50),
		strings.Repeat("[", maxDepth+1)+strings.Repeat("]", maxDepth+1),
	)
	full, _ := fullSample().MarshalTask()
	seeds = append(seeds, string(full))
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		valid := json.Valid(data)
		r := NewReader(data)
		r.Skip()
		if err := r.End(); (err == nil) != valid {
			t.Fatalf("Skip+End error = %v, json.Valid = %v", err, valid)
		}
		r.Reset(data)
		raw := r.Raw()
		if err := r.End(); err == nil && !bytes.Equal(raw, bytes.Trim(data, " \t\r\n")) {
			t.Fatalf("Raw() = %q for a document of one value", raw)
		}

		var want any
		stdErr := json.Unmarshal(data, &want)
		r.Reset(data)
		got := walk(&r)
		err := r.End()
		if (err == nil) != (stdErr == nil) {
			t.Fatalf("walk error = %v, encoding/json error = %v", err, stdErr)
		}
		// reflect.DeepEqual, because cmp.Diff takes exponential time on
		// deeply nested slices.
		if err == nil && !reflect.DeepEqual(want, got) {
			t.Fatalf("walk = %#v, encoding/json = %#v", got, want)
		}

		// Generated decoders must fail cleanly on anything.
		var s sample
		_ = s.UnmarshalTask(data)
	})
}

// walk decodes any value through the API generated code uses, into the
// types encoding/json uses for an any.
func walk(r *Reader) any {
	switch r.next() {
	case '{':
		m := map[string]any{}
		if r.BeginObject() {
			for r.NextField() {
				k := string(r.Key())
				m[k] = walk(r)
			}
		}
		return m
	case '[':
		a := []any{}
		if r.BeginArray() {
			for r.NextElem() {
				a = append(a, walk(r))
			}
		}
		return a
	case '"':
		return r.String()
	case 't', 'f':
		return r.Bool()
	case 'n':
		r.IsNull()
		return nil
	default:
		return r.Float(64)
	}
}

// FuzzString checks that Writer.String writes what encoding/json writes,
// that Reader.String reads back what encoding/json reads back, and that
// arbitrary text between quotes is decoded, or rejected, as encoding/json
// does.
func FuzzString(f *testing.F) {
	for _, s := range escapeStrings {
		f.Add(s)
	}
	for _, s := range []string{`\ud83d\ude00`, `\ud83d`, `\ud83d\u0041`, `\ude00\ud83d\ude00`, `\u00e9\n`, `\u12`,
		`\x`, `\'`, `a\`, `"`, `\"`, "\x01", `\/\b\f\n\r\t`, "\xed\xa0\x80", `\uDBFF\uDFFF`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var w Writer
		w.String(s)
		if !bytes.Equal(w.Bytes(), want) {
			t.Fatalf("Writer.String(%q) = %s, encoding/json = %s", s, w.Bytes(), want)
		}
		var std string
		if err := json.Unmarshal(want, &std); err != nil {
			t.Fatal(err)
		}
		r := NewReader(w.Bytes())
		if got := r.String(); got != std || r.End() != nil {
			t.Fatalf("Reader.String(%s) = %q, %v; encoding/json = %q", want, got, r.End(), std)
		}

		doc := []byte(`"` + s + `"`)
		var stdRaw string
		stdErr := json.Unmarshal(doc, &stdRaw)
		r.Reset(doc)
		got := r.String()
		err = r.End()
		if (err == nil) != (stdErr == nil) {
			t.Fatalf("Reader.String(%q) error = %v, encoding/json error = %v", doc, err, stdErr)
		}
		if err == nil && got != stdRaw {
			t.Fatalf("Reader.String(%q) = %q, encoding/json = %q", doc, got, stdRaw)
		}
	})
}

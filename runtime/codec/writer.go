package codec

import (
	"encoding"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// A Writer builds one JSON document in an internal buffer. The zero value is
// ready to use. Calls must follow the shape of the document: BeginObject,
// then Key and one value per member, then EndObject; BeginArray, then Elem
// and one value per element, then EndArray.
//
// The first error sticks: later calls still append, but Bytes returns nil
// and Err returns that error, so generated code checks once at the end.
type Writer struct {
	buf []byte
	err error
	// first is true right after BeginObject or BeginArray, when the next
	// member or element needs no comma. Key and Elem clear it and the End
	// methods clear it for the enclosing container, which has just received
	// a value, so one flag serves any depth of nesting.
	first bool
}

// Bytes returns the document, or nil if an error occurred, like
// encoding/json.Marshal. The slice is the Writer's own buffer: it stays
// valid until the next Reset.
func (w *Writer) Bytes() []byte {
	if w.err != nil {
		return nil
	}
	return w.buf
}

// Err returns the first error met while writing, or nil.
func (w *Writer) Err() error { return w.err }

// Reset empties the Writer and clears its error, keeping the buffer's
// capacity for reuse.
func (w *Writer) Reset() {
	w.buf = w.buf[:0]
	w.err = nil
	w.first = false
}

// Grow ensures room for another n bytes without reallocating.
func (w *Writer) Grow(n int) {
	if n > 0 {
		w.buf = slices.Grow(w.buf, n)
	}
}

// initialCap is the first buffer size: most task payloads fit, so encoding
// one costs a single allocation instead of one per doubling from zero.
const initialCap = 256

// start gives an empty Writer its first buffer. Every method that can begin
// a document calls it.
func (w *Writer) start() {
	if w.buf == nil {
		w.buf = make([]byte, 0, initialCap)
	}
}

func (w *Writer) setErr(err error) {
	if w.err == nil {
		w.err = err
	}
}

// comma separates a member or element from the one before it.
func (w *Writer) comma() {
	if w.first {
		w.first = false
		return
	}
	w.buf = append(w.buf, ',')
}

// BeginObject writes '{'.
func (w *Writer) BeginObject() {
	w.start()
	w.buf = append(w.buf, '{')
	w.first = true
}

// EndObject writes '}'.
func (w *Writer) EndObject() {
	w.buf = append(w.buf, '}')
	w.first = false
}

// BeginArray writes '['.
func (w *Writer) BeginArray() {
	w.start()
	w.buf = append(w.buf, '[')
	w.first = true
}

// EndArray writes ']'.
func (w *Writer) EndArray() {
	w.buf = append(w.buf, ']')
	w.first = false
}

// Key starts an object member. k is the member name already quoted, escaped
// and followed by a colon, such as `"schema":`; the generator computes it
// once so that no escaping happens at run time.
func (w *Writer) Key(k string) {
	w.comma()
	w.buf = append(w.buf, k...)
}

// Elem starts an array element; call it before each one.
func (w *Writer) Elem() {
	w.comma()
}

// MapKeyString starts an object member whose name is only known at run
// time, such as a map key, escaping it like a string value.
func (w *Writer) MapKeyString(k string) {
	w.comma()
	w.buf = appendString(w.buf, k)
	w.buf = append(w.buf, ':')
}

// MapKeyInt starts an object member named by a signed integer map key, in
// decimal as encoding/json writes it.
func (w *Writer) MapKeyInt(k int64) {
	w.comma()
	w.buf = append(w.buf, '"')
	w.buf = strconv.AppendInt(w.buf, k, 10)
	w.buf = append(w.buf, '"', ':')
}

// MapKeyUint starts an object member named by an unsigned integer map key.
func (w *Writer) MapKeyUint(k uint64) {
	w.comma()
	w.buf = append(w.buf, '"')
	w.buf = strconv.AppendUint(w.buf, k, 10)
	w.buf = append(w.buf, '"', ':')
}

// Null writes null.
func (w *Writer) Null() {
	w.start()
	w.buf = append(w.buf, "null"...)
}

// Bool writes true or false.
func (w *Writer) Bool(v bool) {
	w.start()
	if v {
		w.buf = append(w.buf, "true"...)
	} else {
		w.buf = append(w.buf, "false"...)
	}
}

// Int writes a signed integer.
func (w *Writer) Int(v int64) {
	w.start()
	w.buf = strconv.AppendInt(w.buf, v, 10)
}

// Uint writes an unsigned integer.
func (w *Writer) Uint(v uint64) {
	w.start()
	w.buf = strconv.AppendUint(w.buf, v, 10)
}

// Float64 writes a float64 as encoding/json does. NaN and infinities have
// no JSON form: they record an error.
func (w *Writer) Float64(v float64) {
	w.float(v, 64)
}

// Float32 writes a float32 as encoding/json does: the shortest decimal that
// reads back as the same float32, not the float64 digits of its value.
func (w *Writer) Float32(v float32) {
	w.float(float64(v), 32)
}

func (w *Writer) float(v float64, bits int) {
	w.start()
	if math.IsNaN(v) || math.IsInf(v, 0) {
		w.setErr(fmt.Errorf("codec: unsupported value: float%d %s has no JSON representation",
			bits, strconv.FormatFloat(v, 'g', -1, bits)))
		w.Null() // keep the document well formed
		return
	}
	w.buf = appendFloat(w.buf, v, bits)
}

// String writes a string literal, escaped as encoding/json escapes it by
// default: quote, backslash and control characters, the HTML
// metacharacters <, > and &, U+2028 and U+2029, with invalid UTF-8 replaced
// by U+FFFD.
func (w *Writer) String(v string) {
	w.start()
	w.buf = appendString(w.buf, v)
}

// Bytes64 writes a byte slice as a standard base64 string, or null for a
// nil slice, like encoding/json.
func (w *Writer) Bytes64(v []byte) {
	w.start()
	if v == nil {
		w.Null()
		return
	}
	w.buf = append(w.buf, '"')
	w.buf = base64.StdEncoding.AppendEncode(w.buf, v)
	w.buf = append(w.buf, '"')
}

// Time writes a time as time.Time.MarshalJSON does: an RFC 3339 string with
// nanoseconds. A year outside [0,9999] or a zone offset of a day or more
// cannot be written in RFC 3339 and records an error.
func (w *Writer) Time(t time.Time) {
	w.start()
	n := len(w.buf)
	b, err := t.AppendText(append(w.buf, '"'))
	if err != nil {
		w.setErr(fmt.Errorf("codec: %w", err))
		w.buf = append(w.buf[:n], "null"...)
		return
	}
	w.buf = append(b, '"')
}

// Marshaler writes the output of m.MarshalJSON. Like encoding/json it
// checks that the output is one valid JSON value and compacts it, escaping
// HTML metacharacters inside its strings. A nil m writes null; a nil
// pointer inside a non-nil m is the caller's to check, since telling it
// apart needs reflection.
func (w *Writer) Marshaler(m json.Marshaler) {
	w.start()
	if m == nil {
		w.Null()
		return
	}
	b, err := m.MarshalJSON()
	if err != nil {
		w.setErr(fmt.Errorf("codec: calling MarshalJSON for type %T: %w", m, err))
		w.Null()
		return
	}
	r := NewReader(b)
	r.Skip()
	if err := r.End(); err != nil {
		w.setErr(fmt.Errorf("codec: calling MarshalJSON for type %T: invalid output: %w", m, err))
		w.Null()
		return
	}
	w.buf = appendCompact(w.buf, b)
}

// TextMarshaler writes the output of m.MarshalText as a string literal. A
// nil m writes null.
func (w *Writer) TextMarshaler(m encoding.TextMarshaler) {
	w.start()
	if m == nil {
		w.Null()
		return
	}
	b, err := m.MarshalText()
	if err != nil {
		w.setErr(fmt.Errorf("codec: calling MarshalText for type %T: %w", m, err))
		w.Null()
		return
	}
	w.buf = appendString(w.buf, b)
}

// appendCompact appends the valid JSON value src without insignificant
// whitespace, escaping <, >, &, U+2028 and U+2029, which can only occur
// inside strings, as encoding/json does for Marshaler output.
func appendCompact(dst, src []byte) []byte {
	inString := false
	start := 0
	for i := 0; i < len(src); i++ {
		c := src[i]
		if inString {
			switch {
			case c == '\\':
				i++ // the escaped byte cannot end the string
			case c == '"':
				inString = false
			case c == '<' || c == '>' || c == '&':
				dst = append(dst, src[start:i]...)
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
				start = i + 1
			case c == 0xE2 && i+2 < len(src) && src[i+1] == 0x80 && src[i+2]&^1 == 0xA8:
				dst = append(dst, src[start:i]...)
				dst = append(dst, '\\', 'u', '2', '0', '2', hex[src[i+2]&0xF])
				i += 2
				start = i + 1
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case ' ', '\t', '\n', '\r':
			dst = append(dst, src[start:i]...)
			start = i + 1
		}
	}
	return append(dst, src[start:]...)
}

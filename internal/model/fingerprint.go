package model

import (
	"crypto/sha256"
	"encoding/hex"
	"go/types"
	"strconv"
	"strings"
)

// Fingerprint hashes the canonical form of a task's schema: the first 16
// hex digits of its SHA-256.
func Fingerprint(params []*Param, result *Type) string {
	sum := sha256.Sum256([]byte(Canonical(params, result)))
	return hex.EncodeToString(sum[:8])
}

// Canonical describes the structure of a task's payload and result: JSON
// keys and kinds in order, recursively. Named types are described by their
// structure, not their name, so renaming a type changes nothing; a
// recursive reference is written ^N, N levels up. Types with their own
// marshaling methods are opaque and described by their full name.
//
//	v1 args{"raw":{"id":int64,"tags":[]string},"schema":string} result {"rows":int}
func Canonical(params []*Param, result *Type) string {
	var b strings.Builder
	b.WriteString("v1 args{")
	for i, p := range params {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(p.Name))
		b.WriteByte(':')
		canonical(&b, p.Type, nil)
	}
	b.WriteString("} result ")
	if result == nil {
		b.WriteString("none")
	} else {
		canonical(&b, result, nil)
	}
	return b.String()
}

func canonical(b *strings.Builder, t *Type, stack []*Type) {
	for i, s := range stack {
		if s == t {
			b.WriteString("^" + strconv.Itoa(len(stack)-i))
			return
		}
	}
	switch t.Kind {
	case Int, Uint:
		b.WriteString(t.Kind.String())
		if t.Bits != 0 {
			b.WriteString(strconv.Itoa(t.Bits))
		}
	case Float:
		b.WriteString("float" + strconv.Itoa(t.Bits))
	case Bool, String, Bytes, Time:
		b.WriteString(t.Kind.String())
	case JSONMarshaler:
		b.WriteString("json(" + types.TypeString(t.Go, nil) + ")")
	case TextMarshaler:
		b.WriteString("text(" + types.TypeString(t.Go, nil) + ")")
	case Pointer:
		b.WriteByte('*')
		canonical(b, t.Elem, append(stack, t))
	case Slice:
		b.WriteString("[]")
		canonical(b, t.Elem, append(stack, t))
	case Array:
		b.WriteString("[" + strconv.FormatInt(t.Len, 10) + "]")
		canonical(b, t.Elem, append(stack, t))
	case Map:
		b.WriteString("map[")
		canonical(b, t.Key, nil)
		b.WriteByte(']')
		canonical(b, t.Elem, append(stack, t))
	case Struct:
		b.WriteByte('{')
		for i, f := range t.Fields {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Quote(f.Name))
			b.WriteByte(':')
			canonical(b, f.Type, append(stack, t))
		}
		b.WriteByte('}')
	default:
		b.WriteString("?")
	}
}

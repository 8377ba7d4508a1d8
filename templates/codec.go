package templates

import (
	"go/types"

	"github.com/dave/jennifer/jen"

	"github.com/taskgen/taskgen/internal/model"
)

// place is an addressable Go expression: how to read its value and how to
// take its address. Statements are built fresh on each call, since jen
// statements grow when chained.
type place struct {
	val, addr func() *jen.Statement
}

// field is the place base.path...
func field(base func() *jen.Statement, path []string) place {
	val := func() *jen.Statement {
		s := base()
		for _, p := range path {
			s = s.Dot(p)
		}
		return s
	}
	return place{val: val, addr: func() *jen.Statement { return jen.Op("&").Add(val()) }}
}

// local is the place of a local variable.
func local(id func() *jen.Statement) place {
	return place{val: id, addr: func() *jen.Statement { return jen.Op("&").Add(id()) }}
}

// deref is the place a pointer points to.
func deref(ptr func() *jen.Statement) place {
	return place{val: func() *jen.Statement { return jen.Op("*").Add(ptr()) }, addr: ptr}
}

// index is the place (*v)[i] of a slice or array behind the pointer v.
func index(v, i func() *jen.Statement) place {
	val := func() *jen.Statement { return jen.Parens(jen.Op("*").Add(v())).Index(i()) }
	return place{val: val, addr: func() *jen.Statement { return jen.Op("&").Add(val()) }}
}

// rw names the Writer or Reader in scope: a local value in top-level
// functions, a pointer parameter in helpers.
type rw struct {
	name string
	ptr  bool
}

func (g *gen) rwID(x rw) *jen.Statement { return g.id(x.name) }

// rwPtr is the Writer or Reader's address, for passing to helpers.
func (g *gen) rwPtr(x rw) *jen.Statement {
	if x.ptr {
		return g.id(x.name)
	}
	return jen.Op("&").Add(g.id(x.name))
}

// basicOf returns the basic type the codec method for t reads or writes.
func basicOf(t *model.Type) string {
	switch t.Kind {
	case model.Bool:
		return "bool"
	case model.Int:
		return "int64"
	case model.Uint:
		return "uint64"
	case model.Float:
		if t.Bits == 32 {
			return "float32"
		}
		return "float64"
	case model.String:
		return "string"
	}
	return ""
}

// convert converts x to the type named to, unless it already has it.
func convert(from types.Type, to string, x *jen.Statement) *jen.Statement {
	if b, ok := types.Unalias(from).(*types.Basic); ok && b.Name() == to {
		return x
	}
	return jen.Id(to).Call(x)
}

// bits is the size argument of the Reader's number methods.
func (g *gen) bits(t *model.Type) *jen.Statement {
	if t.Bits == 0 {
		return g.qual("strconv", "IntSize")
	}
	return jen.Lit(t.Bits)
}

// enc returns the statements that write the value at p, of shape t, to w.
func (g *gen) enc(t *model.Type, p place, w rw) []jen.Code {
	call := func(method string, arg jen.Code) []jen.Code {
		return []jen.Code{g.rwID(w).Dot(method).Call(arg)}
	}
	switch t.Kind {
	case model.Bool:
		return call("Bool", convert(t.Go, "bool", p.val()))
	case model.Int:
		return call("Int", convert(t.Go, "int64", p.val()))
	case model.Uint:
		return call("Uint", convert(t.Go, "uint64", p.val()))
	case model.Float:
		if t.Bits == 32 {
			return call("Float32", convert(t.Go, "float32", p.val()))
		}
		return call("Float64", convert(t.Go, "float64", p.val()))
	case model.String:
		return call("String", convert(t.Go, "string", p.val()))
	case model.Bytes:
		if types.Identical(t.Go, types.NewSlice(types.Typ[types.Byte])) {
			return call("Bytes64", p.val())
		}
		return call("Bytes64", jen.Index().Byte().Call(p.val()))
	case model.Time:
		return call("Time", p.val())
	case model.JSONMarshaler:
		// The address works for value and pointer receivers alike and
		// saves copying the value into the interface.
		return call("Marshaler", p.addr())
	case model.TextMarshaler:
		return call("TextMarshaler", p.addr())
	case model.Pointer:
		/*
			if v.P == nil {
				w.Null()
			} else {
				<encode *v.P>
			}
		*/
		return []jen.Code{jen.If(p.val().Op("==").Nil()).Block(
			g.rwID(w).Dot("Null").Call(),
		).Else().Block(g.enc(t.Elem, deref(p.val), w)...)}
	}
	// taskgenEnc_T(w, &v.F)
	return []jen.Code{jen.Id(t.Enc).Call(g.rwPtr(w), p.addr())}
}

// decExpr returns the expression that reads a value of shape t from r,
// for the kinds read by value; nil for the others.
func (g *gen) decExpr(t *model.Type, r rw) *jen.Statement {
	read := func(method string, args ...jen.Code) *jen.Statement {
		return g.rwID(r).Dot(method).Call(args...)
	}
	// conv converts what the Reader returns, of basic type from, to t.
	conv := func(from string, x *jen.Statement) *jen.Statement {
		if b, ok := types.Unalias(t.Go).(*types.Basic); ok && b.Name() == from {
			return x
		}
		return g.typ(t.Go).Call(x)
	}
	switch t.Kind {
	case model.Bool:
		return conv("bool", read("Bool"))
	case model.Int:
		return conv("int64", read("Int", g.bits(t)))
	case model.Uint:
		return conv("uint64", read("Uint", g.bits(t)))
	case model.Float:
		if t.Bits == 64 {
			return conv("float64", read("Float", jen.Lit(64)))
		}
		return g.typ(t.Go).Call(read("Float", jen.Lit(32)))
	case model.String:
		return conv("string", read("String"))
	case model.Bytes:
		if types.Identical(t.Go, types.NewSlice(types.Typ[types.Byte])) {
			return read("Bytes64")
		}
		return g.typ(t.Go).Call(read("Bytes64"))
	case model.Time:
		return read("Time")
	}
	return nil
}

// dec returns the statements that read the value at p, of shape t, from r.
func (g *gen) dec(t *model.Type, p place, r rw) []jen.Code {
	if x := g.decExpr(t, r); x != nil {
		// v.F = r.String()
		return []jen.Code{p.val().Op("=").Add(x)}
	}
	read := func(method string, args ...jen.Code) *jen.Statement {
		return g.rwID(r).Dot(method).Call(args...)
	}
	switch t.Kind {
	case model.JSONMarshaler:
		return []jen.Code{read("Unmarshaler", p.addr())}
	case model.TextMarshaler:
		return []jen.Code{read("TextUnmarshaler", p.addr())}
	case model.Pointer:
		/*
			if r.IsNull() {
				v.P = nil
			} else {
				if v.P == nil {
					v.P = new(T)
				}
				<decode *v.P>
			}
		*/
		body := append([]jen.Code{
			jen.If(p.val().Op("==").Nil()).Block(p.val().Op("=").New(g.typ(t.Elem.Go))),
		}, g.dec(t.Elem, deref(p.val), r)...)
		return []jen.Code{jen.If(read("IsNull")).Block(
			p.val().Op("=").Nil(),
		).Else().Block(body...)}
	}
	// taskgenDec_T(r, &v.F)
	return []jen.Code{jen.Id(t.Dec).Call(g.rwPtr(r), p.addr())}
}

// encFields returns the statements that write a struct's members, the
// fields of base, as a JSON object.
func (g *gen) encFields(fields []*model.Field, base func() *jen.Statement, w rw) []jen.Code {
	out := []jen.Code{g.rwID(w).Dot("BeginObject").Call()}
	for _, f := range fields {
		p := field(base, f.Path)
		/*
			w.Key(`"name":`)
			<encode v.Name>
		*/
		cond, always := g.present(f, p)
		value := g.enc(f.Type, p, w)
		if cond != nil && f.Type.Kind == model.Pointer && (f.OmitEmpty || f.IsZero == model.IsZeroNone || f.IsZero == model.IsZeroNilable) {
			// The condition has checked that the pointer is not nil.
			value = g.enc(f.Type.Elem, deref(p.val), w)
		}
		stmts := append([]jen.Code{g.rwID(w).Dot("Key").Call(jen.Id(rawString(f.Key)))}, value...)
		switch {
		case always:
			out = append(out, stmts...)
		case cond != nil:
			// if <not empty> { w.Key(...); ... }
			out = append(out, jen.If(cond).Block(stmts...))
		}
	}
	return append(out, g.rwID(w).Dot("EndObject").Call())
}

// present returns the condition under which the field at p is written,
// per its omitempty and omitzero options; always when it has none that
// apply, and neither when it is never written.
func (g *gen) present(f *model.Field, p place) (cond *jen.Statement, always bool) {
	var conds []*jen.Statement
	if f.OmitEmpty {
		c, ok := g.notEmpty(f.Type.Go, p)
		if !ok {
			return nil, false
		}
		if c != nil {
			conds = append(conds, c)
		}
	}
	if f.OmitZero {
		conds = append(conds, g.notZero(f, p))
	}
	if len(conds) == 0 {
		return nil, true
	}
	cond = conds[0]
	for _, c := range conds[1:] {
		cond = cond.Op("&&").Add(c)
	}
	return cond, false
}

// notEmpty is encoding/json's isEmptyValue, negated: nil for a type that
// is never empty, and ok false for one that always is.
func (g *gen) notEmpty(t types.Type, p place) (cond *jen.Statement, ok bool) {
	switch u := t.Underlying().(type) {
	case *types.Basic:
		switch {
		case u.Info()&types.IsBoolean != 0:
			return p.val(), true
		case u.Info()&types.IsString != 0:
			return p.val().Op("!=").Lit(""), true
		default:
			return p.val().Op("!=").Lit(0), true
		}
	case *types.Slice, *types.Map:
		return jen.Len(p.val()).Op("!=").Lit(0), true
	case *types.Pointer, *types.Interface:
		return p.val().Op("!=").Nil(), true
	case *types.Array:
		return nil, u.Len() > 0
	}
	return nil, true
}

// notZero is omitzero's test, negated.
func (g *gen) notZero(f *model.Field, p place) *jen.Statement {
	switch f.IsZero {
	case model.IsZeroValue, model.IsZeroPointer:
		return jen.Op("!").Add(p.val()).Dot("IsZero").Call()
	case model.IsZeroNilable:
		return jen.Parens(p.val().Op("!=").Nil().Op("&&").Op("!").Add(p.val()).Dot("IsZero").Call())
	}
	switch u := f.Type.Go.Underlying().(type) {
	case *types.Basic:
		switch {
		case u.Info()&types.IsBoolean != 0:
			return p.val()
		case u.Info()&types.IsString != 0:
			return p.val().Op("!=").Lit("")
		case u.Kind() == types.Float64:
			// reflect.Value.IsZero counts -0 as non-zero.
			return g.qual("math", "Float64bits").Call(convert(f.Type.Go, "float64", p.val())).Op("!=").Lit(0)
		case u.Kind() == types.Float32:
			return g.qual("math", "Float32bits").Call(convert(f.Type.Go, "float32", p.val())).Op("!=").Lit(0)
		default:
			return p.val().Op("!=").Lit(0)
		}
	case *types.Slice, *types.Map, *types.Pointer:
		return p.val().Op("!=").Nil()
	}
	return p.val().Op("!=").Parens(g.typ(f.Type.Go).Values())
}

// decFields returns the loop that reads a JSON object into a struct's
// members, the fields of base. Member names match exactly first, then
// case-insensitively, as with encoding/json; unknown members are skipped.
func (g *gen) decFields(fields []*model.Field, base func() *jen.Statement, r rw) []jen.Code {
	rd := func() *jen.Statement { return g.rwID(r) }
	if len(fields) == 0 {
		/*
			for r.NextField() {
				r.Key()
				r.Skip()
			}
		*/
		return []jen.Code{jen.For(rd().Dot("NextField").Call()).Block(rd().Dot("Key").Call(), rd().Dot("Skip").Call())}
	}
	var exact, folded []jen.Code
	for _, f := range fields {
		p := field(base, f.Path)
		exact = append(exact, jen.Case(jen.Lit(f.Name)).Block(g.dec(f.Type, p, r)...))
		folded = append(folded, jen.Case(g.qual("bytes", "EqualFold").Call(g.id("k"), jen.Index().Byte().Call(jen.Lit(f.Name)))).Block(g.dec(f.Type, p, r)...))
	}
	folded = append(folded, jen.Default().Block(rd().Dot("Skip").Call()))
	exact = append(exact, jen.Default().Block(jen.Switch().Block(folded...)))
	/*
		for r.NextField() {
			switch k := r.Key(); string(k) {
			case "name":
				<decode v.Name>
			default:
				switch {
				case bytes.EqualFold(k, []byte("name")):
					<decode v.Name>
				default:
					r.Skip()
				}
			}
		}
	*/
	return []jen.Code{jen.For(rd().Dot("NextField").Call()).Block(
		jen.Switch(g.id("k").Op(":=").Add(rd()).Dot("Key").Call(), jen.String().Call(g.id("k"))).Block(exact...),
	)}
}

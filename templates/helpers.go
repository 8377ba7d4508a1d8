package templates

import (
	"go/types"

	"github.com/dave/jennifer/jen"

	"github.com/taskgen/taskgen/internal/model"
)

// helpers writes the encode and decode functions of a struct, slice, array
// or map type. Every use of the type calls them, which keeps the generated
// code short and makes recursive types work.
func (g *gen) helpers(t *model.Type) {
	w := rw{name: "w", ptr: true}
	r := rw{name: "r", ptr: true}
	v := func() *jen.Statement { return g.id("v") }
	var enc, dec []jen.Code
	switch t.Kind {
	case model.Struct:
		enc = g.encFields(t.Fields, v, w)
		/*
			if !r.BeginObject() {
				return
			}
			<fields>
		*/
		dec = append([]jen.Code{jen.If(jen.Op("!").Add(g.id("r")).Dot("BeginObject").Call()).Block(jen.Return())},
			g.decFields(t.Fields, v, r)...)
	case model.Slice:
		enc, dec = g.sliceHelpers(t)
	case model.Array:
		enc, dec = g.arrayHelpers(t)
	case model.Map:
		enc, dec = g.mapHelpers(t)
	default:
		panic("templates: no helpers for kind " + t.Kind.String())
	}
	/*
		func taskgenEnc_T(w *codec.Writer, v *T) {
			...
		}

		func taskgenDec_T(r *codec.Reader, v *T) {
			...
		}
	*/
	g.Line()
	g.Func().Id(t.Enc).Params(g.id("w").Op("*").Add(g.codec("Writer")), g.id("v").Op("*").Add(g.typ(t.Go))).Block(enc...)
	g.Line()
	g.Func().Id(t.Dec).Params(g.id("r").Op("*").Add(g.codec("Reader")), g.id("v").Op("*").Add(g.typ(t.Go))).Block(dec...)
	g.Line()
}

func (g *gen) sliceHelpers(t *model.Type) (enc, dec []jen.Code) {
	w := rw{name: "w", ptr: true}
	r := rw{name: "r", ptr: true}
	v := func() *jen.Statement { return g.id("v") }
	i := func() *jen.Statement { return g.id("i") }
	s := func() *jen.Statement { return g.id("s") }
	/*
		if *v == nil {
			w.Null()
			return
		}
		w.BeginArray()
		for i := range *v {
			w.Elem()
			<encode (*v)[i]>
		}
		w.EndArray()
	*/
	enc = []jen.Code{
		jen.If(jen.Op("*").Add(v()).Op("==").Nil()).Block(g.id("w").Dot("Null").Call(), jen.Return()),
		g.id("w").Dot("BeginArray").Call(),
		jen.For(i().Op(":=").Range().Op("*").Add(v())).Block(
			append([]jen.Code{g.id("w").Dot("Elem").Call()}, g.enc(t.Elem, index(v, i), w)...)...,
		),
		g.id("w").Dot("EndArray").Call(),
	}
	// Growing by at least four elements at a time saves the first
	// reallocations of short slices, which are the common case.
	grow := jen.If(jen.Len(s()).Op("==").Cap(s())).Block(s().Op("=").Add(g.qual("slices", "Grow")).Call(s(), jen.Lit(4)))
	var loop []jen.Code
	if x := g.decExpr(t.Elem, r); x != nil {
		/*
			for r.NextElem() {
				if len(s) == cap(s) {
					s = slices.Grow(s, 4)
				}
				s = append(s, r.String())
			}
		*/
		loop = []jen.Code{grow, s().Op("=").Append(s(), x)}
	} else {
		/*
			for r.NextElem() {
				if len(s) == cap(s) {
					s = slices.Grow(s, 4)
				}
				// Decode into the element in place, as encoding/json does.
				s = s[:len(s)+1]
				<decode s[len(s)-1]>
			}
		*/
		last := func() *jen.Statement { return s().Index(jen.Len(s()).Op("-").Lit(1)) }
		loop = append([]jen.Code{
			grow,
			s().Op("=").Add(s()).Index(jen.Empty(), jen.Len(s()).Op("+").Lit(1)),
		}, g.dec(t.Elem, place{val: last, addr: func() *jen.Statement { return jen.Op("&").Add(last()) }}, r)...)
	}
	/*
		if !r.BeginArray() {
			*v = nil
			return
		}
		s := (*v)[:0]
		<loop>
		if s == nil {
			s = T{}
		}
		*v = s
	*/
	dec = []jen.Code{
		jen.If(jen.Op("!").Add(g.id("r")).Dot("BeginArray").Call()).Block(jen.Op("*").Add(v()).Op("=").Nil(), jen.Return()),
	}
	dec = append(dec,
		s().Op(":=").Parens(jen.Op("*").Add(v())).Index(jen.Empty(), jen.Lit(0)),
		jen.For(g.id("r").Dot("NextElem").Call()).Block(loop...),
		jen.If(s().Op("==").Nil()).Block(s().Op("=").Add(g.typ(t.Go)).Values()),
		jen.Op("*").Add(v()).Op("=").Add(s()),
	)
	return enc, dec
}

func (g *gen) arrayHelpers(t *model.Type) (enc, dec []jen.Code) {
	w := rw{name: "w", ptr: true}
	r := rw{name: "r", ptr: true}
	v := func() *jen.Statement { return g.id("v") }
	i := func() *jen.Statement { return g.id("i") }
	/*
		w.BeginArray()
		for i := range v {
			w.Elem()
			<encode (*v)[i]>
		}
		w.EndArray()
	*/
	enc = []jen.Code{
		g.id("w").Dot("BeginArray").Call(),
		jen.For(i().Op(":=").Range().Add(v())).Block(
			append([]jen.Code{g.id("w").Dot("Elem").Call()}, g.enc(t.Elem, index(v, i), w)...)...,
		),
		g.id("w").Dot("EndArray").Call(),
	}
	/*
		if !r.BeginArray() {
			return
		}
		i := 0
		for ; r.NextElem(); i++ {
			if i < len(*v) {
				<decode (*v)[i]>
			} else {
				r.Skip()
			}
		}
		if i < len(*v) {
			clear((*v)[i:])
		}
	*/
	dec = []jen.Code{
		jen.If(jen.Op("!").Add(g.id("r")).Dot("BeginArray").Call()).Block(jen.Return()),
		i().Op(":=").Lit(0),
		jen.For(jen.Empty(), g.id("r").Dot("NextElem").Call(), i().Op("++")).Block(
			jen.If(i().Op("<").Len(jen.Op("*").Add(v()))).Block(g.dec(t.Elem, index(v, i), r)...).Else().Block(g.id("r").Dot("Skip").Call()),
		),
		jen.If(i().Op("<").Len(jen.Op("*").Add(v()))).Block(
			jen.Clear(jen.Parens(jen.Op("*").Add(v())).Index(i(), jen.Empty())),
		),
	}
	return enc, dec
}

func (g *gen) mapHelpers(t *model.Type) (enc, dec []jen.Code) {
	w := rw{name: "w", ptr: true}
	r := rw{name: "r", ptr: true}
	v := func() *jen.Statement { return g.id("v") }
	k := func() *jen.Statement { return g.id("k") }
	e := func() *jen.Statement { return g.id("e") }
	keys := func() *jen.Statement { return g.id("keys") }
	key := t.Key
	var sortKeys, writeKey jen.Code
	switch key.Kind {
	case model.String:
		// slices.Sort(keys)
		sortKeys = g.qual("slices", "Sort").Call(keys())
		writeKey = g.id("w").Dot("MapKeyString").Call(convert(key.Go, "string", k()))
	default:
		format, conv, method := "FormatInt", "int64", "MapKeyInt"
		if key.Kind == model.Uint {
			format, conv, method = "FormatUint", "uint64", "MapKeyUint"
		}
		text := func(x *jen.Statement) *jen.Statement {
			return g.qual("strconv", format).Call(convert(key.Go, conv, x), jen.Lit(10))
		}
		/*
			// encoding/json orders integer keys by their decimal text.
			slices.SortFunc(keys, func(a, b K) int {
				return strings.Compare(strconv.FormatInt(int64(a), 10), strconv.FormatInt(int64(b), 10))
			})
		*/
		sortKeys = jen.Comment("encoding/json orders integer keys by their decimal text.").Line().
			Add(g.qual("slices", "SortFunc")).Call(keys(), jen.Func().Params(g.id("a"), g.id("b").Add(g.typ(key.Go))).Int().Block(
			jen.Return(g.qual("strings", "Compare").Call(text(g.id("a")), text(g.id("b")))),
		))
		writeKey = g.id("w").Dot(method).Call(convert(key.Go, conv, k()))
	}
	/*
		if *v == nil {
			w.Null()
			return
		}
		keys := make([]K, 0, len(*v))
		for k := range *v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		w.BeginObject()
		for _, k := range keys {
			w.MapKeyString(k)
			e := (*v)[k]
			<encode e>
		}
		w.EndObject()
	*/
	elem := []jen.Code{writeKey}
	if t.Elem.Kind == model.Pointer || t.Elem.Enc == "" && t.Elem.Kind != model.JSONMarshaler && t.Elem.Kind != model.TextMarshaler {
		// Values read directly: (*v)[k] is not addressable, but nothing
		// here takes its address.
		elem = append(elem, g.enc(t.Elem, place{val: func() *jen.Statement { return jen.Parens(jen.Op("*").Add(v())).Index(k()) }}, w)...)
	} else {
		elem = append(elem, e().Op(":=").Parens(jen.Op("*").Add(v())).Index(k()))
		elem = append(elem, g.enc(t.Elem, local(e), w)...)
	}
	enc = []jen.Code{
		jen.If(jen.Op("*").Add(v()).Op("==").Nil()).Block(g.id("w").Dot("Null").Call(), jen.Return()),
		keys().Op(":=").Make(jen.Index().Add(g.typ(key.Go)), jen.Lit(0), jen.Len(jen.Op("*").Add(v()))),
		jen.For(k().Op(":=").Range().Op("*").Add(v())).Block(keys().Op("=").Append(keys(), k())),
		sortKeys,
		g.id("w").Dot("BeginObject").Call(),
		jen.For(jen.List(jen.Id("_"), k()).Op(":=").Range().Add(keys())).Block(elem...),
		g.id("w").Dot("EndObject").Call(),
	}

	var readKey *jen.Statement
	switch key.Kind {
	case model.String:
		if b, ok := types.Unalias(key.Go).(*types.Basic); ok && b.Kind() == types.String {
			readKey = jen.String().Call(g.id("r").Dot("Key").Call())
		} else {
			readKey = g.typ(key.Go).Call(g.id("r").Dot("Key").Call())
		}
	case model.Int:
		readKey = convertTo(key.Go, "int64", g.typ(key.Go), g.id("r").Dot("KeyInt").Call(g.bits(key)))
	default:
		readKey = convertTo(key.Go, "uint64", g.typ(key.Go), g.id("r").Dot("KeyUint").Call(g.bits(key)))
	}
	/*
		if !r.BeginObject() {
			*v = nil
			return
		}
		if *v == nil {
			*v = make(T)
		}
		for r.NextField() {
			k := K(r.Key())
			var e E
			<decode e>
			(*v)[k] = e
		}
	*/
	loop := []jen.Code{k().Op(":=").Add(readKey)}
	if x := g.decExpr(t.Elem, r); x != nil {
		// (*v)[k] = r.String()
		loop = append(loop, jen.Parens(jen.Op("*").Add(v())).Index(k()).Op("=").Add(x))
	} else {
		loop = append(loop, jen.Var().Add(e()).Add(g.typ(t.Elem.Go)))
		loop = append(loop, g.dec(t.Elem, local(e), r)...)
		loop = append(loop, jen.Parens(jen.Op("*").Add(v())).Index(k()).Op("=").Add(e()))
	}
	dec = []jen.Code{
		jen.If(jen.Op("!").Add(g.id("r")).Dot("BeginObject").Call()).Block(jen.Op("*").Add(v()).Op("=").Nil(), jen.Return()),
		jen.If(jen.Op("*").Add(v()).Op("==").Nil()).Block(jen.Op("*").Add(v()).Op("=").Make(g.typ(t.Go))),
		jen.For(g.id("r").Dot("NextField").Call()).Block(loop...),
	}
	return enc, dec
}

// convertTo converts x, of basic type from, to t spelled as typ, unless t
// is that basic type.
func convertTo(t types.Type, from string, typ, x *jen.Statement) *jen.Statement {
	if b, ok := types.Unalias(t).(*types.Basic); ok && b.Name() == from {
		return x
	}
	return typ.Call(x)
}

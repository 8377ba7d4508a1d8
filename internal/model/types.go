package model

import (
	"cmp"
	"fmt"
	"go/token"
	"go/types"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/tools/go/types/typeutil"
)

// analyzer turns Go types into codec shapes, checking that encoding/json
// would round-trip them, and reporting each problem once.
type analyzer struct {
	pkg  *types.Package
	fset *token.FileSet
	e    *errs

	// shapes maps each analysed type to its *Type, or to nil when it
	// cannot be serialized.
	shapes typeutil.Map
	// helpers lists the types that get helper functions, in the order met.
	helpers []*Type
	// roots are the parameter and result types with their sites, checked
	// once analysis is complete.
	roots []root

	jsonMarshaler, jsonUnmarshaler *types.Interface
	textMarshaler, textUnmarshaler *types.Interface
	isZeroer                       *types.Interface
}

type root struct {
	t *Type
	s site
}

// site is where a type is used, for error messages: the task, what uses
// the type (a parameter or the result, maybe a struct field inside it),
// the position and the type written there.
type site struct {
	task  string
	what  string
	field string
	pos   token.Position
	top   types.Type
}

func newAnalyzer(pkg *types.Package, fset *token.FileSet, e *errs) *analyzer {
	bytesT := types.NewSlice(types.Typ[types.Byte])
	errT := types.Universe.Lookup("error").Type()
	method := func(name string, params, results []types.Type) *types.Func {
		vars := func(ts []types.Type) *types.Tuple {
			vs := make([]*types.Var, len(ts))
			for i, t := range ts {
				vs[i] = types.NewParam(token.NoPos, nil, "", t)
			}
			return types.NewTuple(vs...)
		}
		return types.NewFunc(token.NoPos, nil, name, types.NewSignatureType(nil, nil, nil, vars(params), vars(results), false))
	}
	iface := func(m *types.Func) *types.Interface {
		return types.NewInterfaceType([]*types.Func{m}, nil).Complete()
	}
	return &analyzer{
		pkg:             pkg,
		fset:            fset,
		e:               e,
		jsonMarshaler:   iface(method("MarshalJSON", nil, []types.Type{bytesT, errT})),
		jsonUnmarshaler: iface(method("UnmarshalJSON", []types.Type{bytesT}, []types.Type{errT})),
		textMarshaler:   iface(method("MarshalText", nil, []types.Type{bytesT, errT})),
		textUnmarshaler: iface(method("UnmarshalText", []types.Type{bytesT}, []types.Type{errT})),
		isZeroer:        iface(method("IsZero", nil, []types.Type{types.Typ[types.Bool]})),
	}
}

// qual writes types of the analysed package unqualified and others with
// their package name.
func (a *analyzer) qual(p *types.Package) string {
	if p == a.pkg {
		return ""
	}
	return p.Name()
}

func (a *analyzer) str(t types.Type) string { return types.TypeString(t, a.qual) }

// fail reports that t, used at s, cannot be serialized because of reason.
func (a *analyzer) fail(s site, t types.Type, reason string, args ...any) {
	msg := s.task + ": " + s.what
	if s.field != "" {
		msg += ": field " + s.field
	}
	msg += ": " + fmt.Sprintf(reason, args...)
	if t != nil && s.top != nil && !types.Identical(types.Unalias(t), types.Unalias(s.top)) {
		msg += fmt.Sprintf(" (%s in %s)", a.str(t), a.str(s.top))
	}
	a.e.add(s.pos, "%s", msg)
}

// root analyses the type of a parameter or result.
func (a *analyzer) root(t types.Type, s site) *Type {
	shape := a.typ(t, s)
	if shape != nil {
		a.roots = append(a.roots, root{shape, s})
	}
	return shape
}

// finish runs the checks that need whole shapes and names the helpers. It
// returns the types that get helpers, sorted by helper name.
func (a *analyzer) finish() []*Type {
	for _, r := range a.roots {
		a.checkAddressable(r.t, true, r.s, map[addrKey]bool{})
	}
	taken := map[string]bool{}
	unique := func(name string) string {
		for i := 2; taken[name] || a.pkg.Scope().Lookup(name) != nil; i++ {
			name = strings.TrimRightFunc(name, func(r rune) bool { return r == '_' || unicode.IsDigit(r) }) + "_" + strconv.Itoa(i)
		}
		taken[name] = true
		return name
	}
	for _, h := range a.helpers {
		id := a.ident(h.Go)
		h.Enc = unique("taskgenEnc_" + id)
		h.Dec = unique("taskgenDec_" + id)
	}
	out := slices.Clone(a.helpers)
	slices.SortFunc(out, func(x, y *Type) int { return cmp.Compare(x.Enc, y.Enc) })
	return out
}

// ident spells t as an identifier fragment for helper names:
// []Item is Slice_Item, map[string]int is Map_string_int.
func (a *analyzer) ident(t types.Type) string {
	switch t := types.Unalias(t).(type) {
	case *types.Named:
		s := t.Obj().Name()
		if p := t.Obj().Pkg(); p != nil && p != a.pkg {
			s = p.Name() + "_" + s
		}
		for i := 0; i < t.TypeArgs().Len(); i++ {
			s += "_" + a.ident(t.TypeArgs().At(i))
		}
		return s
	case *types.Basic:
		return t.Name()
	case *types.Pointer:
		return "Ptr_" + a.ident(t.Elem())
	case *types.Slice:
		return "Slice_" + a.ident(t.Elem())
	case *types.Array:
		return "Array" + strconv.FormatInt(t.Len(), 10) + "_" + a.ident(t.Elem())
	case *types.Map:
		return "Map_" + a.ident(t.Key()) + "_" + a.ident(t.Elem())
	case *types.Struct:
		return "Struct"
	}
	return "T"
}

// typ returns the shape of t, or nil after reporting why it cannot be
// serialized.
func (a *analyzer) typ(t types.Type, s site) *Type {
	t = types.Unalias(t)
	if v := a.shapes.At(t); v != nil {
		return v.(*Type) // nil *Type for a type already reported
	}
	shape := a.build(t, s)
	if shape == nil {
		a.shapes.Set(t, (*Type)(nil))
	}
	return shape
}

func (a *analyzer) implements(t types.Type, iface *types.Interface) bool {
	return types.Implements(t, iface)
}

func (a *analyzer) build(t types.Type, s site) *Type {
	if b, ok := t.(*types.Basic); ok && b.Kind() == types.Invalid {
		return nil // the type checker has reported it
	}
	switch t := t.(type) {
	case *types.TypeParam:
		a.fail(s, t, "type parameters cannot be serialized")
		return nil
	case *types.Named:
		if why := a.unnameable(t); why != "" {
			a.fail(s, t, "%s", why)
			return nil
		}
		if isNamed(t, "time", "Time") {
			return a.set(t, &Type{Kind: Time, Go: t})
		}
	}
	if _, ok := t.Underlying().(*types.Interface); ok {
		if types.Identical(t, types.Universe.Lookup("error").Type()) {
			a.fail(s, t, "error values cannot be serialized; pass the message as a string")
		} else {
			a.fail(s, t, "interfaces cannot be serialized: decoding would not know the concrete type")
		}
		return nil
	}
	if _, ok := t.Underlying().(*types.Pointer); !ok {
		if k, ptr, ok := a.marshaler(t, s); !ok {
			return nil
		} else if k != Invalid {
			return a.set(t, &Type{Kind: k, Go: t, PtrMethods: ptr})
		}
	}

	switch u := t.Underlying().(type) {
	case *types.Basic:
		return a.basic(t, u, s)
	case *types.Pointer:
		shape := a.set(t, &Type{Kind: Pointer, Go: t})
		if shape.Elem = a.typ(u.Elem(), s); shape.Elem == nil {
			return nil
		}
		return shape
	case *types.Slice:
		elem := types.Unalias(u.Elem())
		if b, ok := elem.(*types.Basic); ok && b.Kind() == types.Uint8 {
			return a.set(t, &Type{Kind: Bytes, Go: t})
		}
		if b, ok := elem.Underlying().(*types.Basic); ok && b.Kind() == types.Uint8 &&
			!a.implements(types.NewPointer(elem), a.jsonMarshaler) && !a.implements(types.NewPointer(elem), a.textMarshaler) {
			a.fail(s, t, "slices of the named byte type %s are not supported; use []byte", a.str(elem))
			return nil
		}
		shape := a.helper(t, &Type{Kind: Slice, Go: t})
		if shape.Elem = a.typ(u.Elem(), s); shape.Elem == nil {
			return nil
		}
		return shape
	case *types.Array:
		shape := a.helper(t, &Type{Kind: Array, Go: t, Len: u.Len()})
		if shape.Elem = a.typ(u.Elem(), s); shape.Elem == nil {
			return nil
		}
		return shape
	case *types.Map:
		return a.mapType(t, u, s)
	case *types.Struct:
		shape := a.helper(t, &Type{Kind: Struct, Go: t})
		fields, ok := a.fields(t, u, s)
		if !ok {
			return nil
		}
		shape.Fields = fields
		return shape
	case *types.Chan:
		a.fail(s, t, "channels cannot be serialized")
	case *types.Signature:
		a.fail(s, t, "functions cannot be serialized")
	default:
		a.fail(s, t, "%s cannot be serialized", a.str(t))
	}
	return nil
}

// set records shape as the shape of t before its parts are analysed, so
// that recursive types find it.
func (a *analyzer) set(t types.Type, shape *Type) *Type {
	a.shapes.Set(t, shape)
	return shape
}

// helper is set for the kinds that get helper functions.
func (a *analyzer) helper(t types.Type, shape *Type) *Type {
	a.helpers = append(a.helpers, shape)
	return a.set(t, shape)
}

func (a *analyzer) basic(t types.Type, u *types.Basic, s site) *Type {
	shape := &Type{Go: t}
	switch u.Kind() {
	case types.Bool:
		shape.Kind = Bool
	case types.Int, types.Int8, types.Int16, types.Int32, types.Int64:
		shape.Kind, shape.Bits = Int, intBits[u.Kind()]
	case types.Uint, types.Uint8, types.Uint16, types.Uint32, types.Uint64:
		shape.Kind, shape.Bits = Uint, intBits[u.Kind()]
	case types.Float32:
		shape.Kind, shape.Bits = Float, 32
	case types.Float64:
		shape.Kind, shape.Bits = Float, 64
	case types.String:
		shape.Kind = String
	case types.Uintptr:
		a.fail(s, t, "uintptr cannot be serialized: it is a pointer in disguise")
		return nil
	case types.Complex64, types.Complex128:
		a.fail(s, t, "complex numbers cannot be serialized (encoding/json rejects them)")
		return nil
	case types.UnsafePointer:
		a.fail(s, t, "unsafe pointers cannot be serialized")
		return nil
	default:
		a.fail(s, t, "%s cannot be serialized", a.str(t))
		return nil
	}
	return a.set(t, shape)
}

var intBits = map[types.BasicKind]int{
	types.Int8: 8, types.Int16: 16, types.Int32: 32, types.Int64: 64,
	types.Uint8: 8, types.Uint16: 16, types.Uint32: 32, types.Uint64: 64,
}

func (a *analyzer) mapType(t types.Type, u *types.Map, s site) *Type {
	key := types.Unalias(u.Key())
	ptr := types.NewPointer(key)
	if a.implements(key, a.textMarshaler) || a.implements(ptr, a.textMarshaler) || a.implements(ptr, a.textUnmarshaler) {
		a.fail(s, t, "the map key type %s has text marshaling methods, which encoding/json applies to keys unevenly; use a plain string or integer key type", a.str(key))
		return nil
	}
	var keyShape *Type
	if b, ok := key.Underlying().(*types.Basic); ok {
		switch b.Kind() {
		case types.String:
			keyShape = &Type{Kind: String, Go: key}
		case types.Int, types.Int8, types.Int16, types.Int32, types.Int64:
			keyShape = &Type{Kind: Int, Go: key, Bits: intBits[b.Kind()]}
		case types.Uint, types.Uint8, types.Uint16, types.Uint32, types.Uint64:
			keyShape = &Type{Kind: Uint, Go: key, Bits: intBits[b.Kind()]}
		}
	}
	if keyShape == nil {
		a.fail(s, t, "map keys must be strings or integers, not %s", a.str(key))
		return nil
	}
	if n, ok := key.(*types.Named); ok {
		if why := a.unnameable(n); why != "" {
			a.fail(s, key, "%s", why)
			return nil
		}
	}
	shape := a.helper(t, &Type{Kind: Map, Go: t, Key: keyShape})
	if shape.Elem = a.typ(u.Elem(), s); shape.Elem == nil {
		return nil
	}
	return shape
}

// marshaler classifies a type with JSON or text marshaling methods, which
// encoding/json prefers to the type's structure. It returns Invalid for a
// type without them, and ok false after reporting a one-sided pair.
func (a *analyzer) marshaler(t types.Type, s site) (k Kind, ptrMethods, ok bool) {
	ptr := types.NewPointer(t)
	pairs := []struct {
		kind       Kind
		m, u       *types.Interface
		mName, uNm string
	}{
		{JSONMarshaler, a.jsonMarshaler, a.jsonUnmarshaler, "json.Marshaler", "json.Unmarshaler"},
		{TextMarshaler, a.textMarshaler, a.textUnmarshaler, "encoding.TextMarshaler", "encoding.TextUnmarshaler"},
	}
	for _, p := range pairs {
		val := a.implements(t, p.m)
		onPtr := a.implements(ptr, p.m)
		un := a.implements(ptr, p.u)
		switch {
		case (val || onPtr) && un:
			return p.kind, !val, true
		case val || onPtr:
			a.fail(s, t, "%s implements %s but *%s does not implement %s; taskgen needs both to round-trip it", a.str(t), p.mName, a.str(t), p.uNm)
			return Invalid, false, false
		case un:
			a.fail(s, t, "*%s implements %s but %s does not implement %s; taskgen needs both to round-trip it", a.str(t), p.uNm, a.str(t), p.mName)
			return Invalid, false, false
		}
	}
	return Invalid, false, true
}

// unnameable explains why generated code in the analysed package cannot
// refer to the named type t, or returns "".
func (a *analyzer) unnameable(t *types.Named) string {
	obj := t.Obj()
	if obj.Pkg() == nil {
		return ""
	}
	if obj.Parent() != nil && obj.Parent() != obj.Pkg().Scope() {
		return fmt.Sprintf("the type %s is declared inside a function, so the generated code cannot name it", obj.Name())
	}
	if obj.Pkg() != a.pkg && !obj.Exported() {
		return fmt.Sprintf("the type %s.%s is not exported, so the generated code cannot name it", obj.Pkg().Name(), obj.Name())
	}
	for i := 0; i < t.TypeArgs().Len(); i++ {
		if n, ok := types.Unalias(t.TypeArgs().At(i)).(*types.Named); ok {
			if why := a.unnameable(n); why != "" {
				return why
			}
		}
	}
	return ""
}

// candidate is a struct field that encoding/json might encode.
type candidate struct {
	name      string
	tagged    bool
	index     []int
	path      []string
	v         *types.Var
	owner     string
	omitEmpty bool
	omitZero  bool
	quoted    bool
}

// fields lists the JSON members of struct t as encoding/json's typeFields
// does: exported fields, promoted fields of embedded structs, tag names,
// and the dominance rules for names that occur more than once. Fields that
// encoding/json would drop without a word are errors instead.
func (a *analyzer) fields(t types.Type, st *types.Struct, s site) ([]*Field, bool) {
	type level struct {
		t     types.Type
		st    *types.Struct
		index []int
		path  []string
	}
	ok := true
	var cands []candidate
	next := []level{{t: t, st: st}}
	var count, nextCount typeutil.Map
	var visited typeutil.Map
	at := func(m *typeutil.Map, t types.Type) int {
		n, _ := m.At(t).(int)
		return n
	}
	for len(next) > 0 {
		current := next
		next = nil
		count, nextCount = nextCount, typeutil.Map{}
		for _, f := range current {
			if visited.At(f.t) != nil {
				continue
			}
			visited.Set(f.t, true)
			owner := a.structName(f.t)
			samePkg := true
			if n, isNamed := f.t.(*types.Named); isNamed && n.Obj().Pkg() != a.pkg {
				samePkg = false
			}
			for i := 0; i < f.st.NumFields(); i++ {
				sf := f.st.Field(i)
				tag := reflect.StructTag(f.st.Tag(i)).Get("json")
				fs := site{task: s.task, what: s.what, field: owner + "." + sf.Name(), pos: a.fset.Position(sf.Pos()), top: sf.Type()}
				ft := types.Unalias(sf.Type())
				if p, isPtr := ft.(*types.Pointer); isPtr {
					ft = types.Unalias(p.Elem())
				}
				_, isStruct := ft.Underlying().(*types.Struct)
				if sf.Embedded() && !sf.Exported() && !isStruct || !sf.Embedded() && !sf.Exported() {
					if tag != "-" {
						a.fail(fs, nil, "unexported fields are silently dropped by encoding/json; export it or tag it `json:\"-\"`")
						ok = false
					}
					continue
				}
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				if !isValidTag(name) {
					name = ""
				}
				index := append(slices.Clone(f.index), i)
				path := append(slices.Clone(f.path), sf.Name())
				if name != "" || !sf.Embedded() || !isStruct {
					c := candidate{
						name:   name,
						tagged: name != "",
						index:  index,
						path:   path,
						v:      sf,
						owner:  owner,
					}
					if c.name == "" {
						c.name = sf.Name()
					}
					for o := range strings.SplitSeq(opts, ",") {
						switch o {
						case "omitempty":
							c.omitEmpty = true
						case "omitzero":
							c.omitZero = true
						case "string":
							c.quoted = true
						}
					}
					cands = append(cands, c)
					if at(&count, f.t) > 1 {
						// Embedded twice at this depth: a second copy makes
						// the dominance rules drop it, as encoding/json does.
						cands = append(cands, c)
					}
					continue
				}
				if _, isPtr := types.Unalias(sf.Type()).(*types.Pointer); isPtr {
					a.fail(fs, nil, "embedded pointers to structs are not supported; embed %s by value", a.str(ft))
					ok = false
					continue
				}
				if !samePkg && !sf.Exported() {
					a.fail(fs, nil, "the generated code cannot reach the fields of an unexported embedded struct of another package")
					ok = false
					continue
				}
				nextCount.Set(ft, at(&nextCount, ft)+1)
				if at(&nextCount, ft) == 1 {
					next = append(next, level{t: ft, st: ft.Underlying().(*types.Struct), index: index, path: path})
				}
			}
		}
	}

	slices.SortStableFunc(cands, func(x, y candidate) int {
		if c := cmp.Compare(x.name, y.name); c != 0 {
			return c
		}
		if c := cmp.Compare(len(x.index), len(y.index)); c != 0 {
			return c
		}
		if x.tagged != y.tagged {
			if x.tagged {
				return -1
			}
			return 1
		}
		return slices.Compare(x.index, y.index)
	})
	var kept []candidate
	for i := 0; i < len(cands); {
		j := i + 1
		for j < len(cands) && cands[j].name == cands[i].name {
			j++
		}
		group := cands[i:j]
		if len(group) > 1 && len(group[0].index) == len(group[1].index) && group[0].tagged == group[1].tagged {
			a.e.add(a.fset.Position(group[1].v.Pos()), "%s: %s: fields %s and %s both have the JSON name %q, so encoding/json would drop both; rename one or change its json tag",
				s.task, s.what, strings.Join(group[0].path, "."), strings.Join(group[1].path, "."), group[0].name)
			ok = false
		} else {
			kept = append(kept, group[0])
		}
		i = j
	}
	slices.SortFunc(kept, func(x, y candidate) int { return slices.Compare(x.index, y.index) })

	var out []*Field
	for _, c := range kept {
		fs := site{task: s.task, what: s.what, field: c.owner + "." + c.v.Name(), pos: a.fset.Position(c.v.Pos()), top: c.v.Type()}
		if c.quoted {
			a.fail(fs, nil, "the json \",string\" option is not supported")
			ok = false
			continue
		}
		shape := a.typ(c.v.Type(), fs)
		if shape == nil {
			ok = false
			continue
		}
		f := &Field{Name: c.name, Key: jsonKey(c.name), Path: c.path, Type: shape, OmitEmpty: c.omitEmpty, OmitZero: c.omitZero}
		if c.omitZero {
			var zok bool
			if f.IsZero, zok = a.isZero(c.v.Type()); !zok {
				a.fail(fs, nil, "omitzero needs a comparable type or an IsZero() bool method")
				ok = false
				continue
			}
		}
		out = append(out, f)
	}
	return out, ok
}

// isZero says how omitzero tests a value of type t, as encoding/json does.
func (a *analyzer) isZero(t types.Type) (IsZeroMethod, bool) {
	t = types.Unalias(t)
	_, isPtr := t.Underlying().(*types.Pointer)
	switch {
	case isPtr && a.implements(t, a.isZeroer):
		return IsZeroNilable, true
	case a.implements(t, a.isZeroer):
		return IsZeroValue, true
	case !isPtr && a.implements(types.NewPointer(t), a.isZeroer):
		return IsZeroPointer, true
	}
	switch t.Underlying().(type) {
	case *types.Slice, *types.Map, *types.Pointer:
		return IsZeroNone, true
	}
	return IsZeroNone, types.Comparable(t)
}

func (a *analyzer) structName(t types.Type) string {
	if _, ok := t.(*types.Named); ok {
		return a.str(t)
	}
	return "struct"
}

// isValidTag is encoding/json's test for a usable tag name.
func isValidTag(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
			// Backslash and quote chars are reserved, but
			// otherwise any punctuation chars are allowed
			// in a tag name.
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}

type addrKey struct {
	t    *Type
	addr bool
}

// checkAddressable reports marshal methods with pointer receivers where
// encoding/json cannot call them: on map values, which are not
// addressable, and what they contain by value.
func (a *analyzer) checkAddressable(t *Type, addr bool, s site, seen map[addrKey]bool) {
	if t == nil || seen[addrKey{t, addr}] {
		return
	}
	seen[addrKey{t, addr}] = true
	switch t.Kind {
	case JSONMarshaler, TextMarshaler:
		if t.PtrMethods && !addr {
			method := "MarshalJSON"
			if t.Kind == TextMarshaler {
				method = "MarshalText"
			}
			a.fail(s, t.Go, "%s has %s on *%s only, which encoding/json does not call for map values; declare it on %s", a.str(t.Go), method, a.str(t.Go), a.str(t.Go))
		}
	case Pointer, Slice:
		a.checkAddressable(t.Elem, true, s, seen)
	case Array:
		a.checkAddressable(t.Elem, addr, s, seen)
	case Map:
		a.checkAddressable(t.Elem, false, s, seen)
	case Struct:
		for _, f := range t.Fields {
			a.checkAddressable(f.Type, addr, s, seen)
		}
	}
}

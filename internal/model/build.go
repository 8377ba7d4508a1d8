package model

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/tools/go/packages"
)

// builder builds the model of one package.
type builder struct {
	p   *packages.Package
	pkg *Package
	e   *errs
	a   *analyzer
}

func buildPackage(p *packages.Package, e *errs) *Package {
	pkg := &Package{
		Name:  p.Name,
		Path:  p.PkgPath,
		Dir:   packageDir(p),
		Types: p.Types,
		Fset:  p.Fset,
	}
	b := &builder{p: p, pkg: pkg, e: e, a: newAnalyzer(p.Types, p.Fset, e)}
	for _, f := range p.Syntax {
		name := p.Fset.Position(f.Package).Filename
		if strings.HasSuffix(name, GeneratedSuffix) {
			continue
		}
		b.file(f)
	}
	b.names()
	pkg.Helpers = b.a.finish()
	for _, t := range pkg.Tasks {
		t.Fingerprint = Fingerprint(t.Params, t.Result)
	}
	return pkg
}

func packageDir(p *packages.Package) string {
	for _, files := range [][]string{p.GoFiles, p.CompiledGoFiles, p.OtherFiles} {
		if len(files) > 0 {
			return filepath.Dir(files[0])
		}
	}
	return ""
}

func (b *builder) pos(p token.Pos) token.Position { return b.p.Fset.Position(p) }

// file finds the annotated functions of f, and the directives that are not
// where they belong.
func (b *builder) file(f *ast.File) {
	used := map[*ast.Comment]bool{}
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Doc == nil {
			continue
		}
		var dir *ast.Comment
		var opts string
		for _, c := range fd.Doc.List {
			rest, ok := isDirective(c.Text)
			if !ok {
				continue
			}
			used[c] = true
			if dir != nil {
				b.e.add(b.pos(c.Slash), "%s: second %s directive; merge the options into one line", fd.Name.Name, Directive)
				continue
			}
			dir, opts = c, rest
		}
		if dir != nil {
			b.task(fd, dir, opts)
		}
	}
	for _, cg := range f.Comments {
		for _, c := range cg.List {
			if used[c] || !strings.HasPrefix(c.Text, directivePrefix) {
				continue
			}
			if _, ok := isDirective(c.Text); ok {
				b.e.add(b.pos(c.Slash), "misplaced %s directive: it belongs in the doc comment of a function or method", Directive)
			} else {
				word, _, _ := strings.Cut(c.Text, " ")
				b.e.add(b.pos(c.Slash), "unknown directive %s; did you mean %s?", word, Directive)
			}
		}
	}
}

// task builds the task of one annotated function declaration.
func (b *builder) task(fd *ast.FuncDecl, dir *ast.Comment, opts string) {
	obj, _ := b.p.TypesInfo.Defs[fd.Name].(*types.Func)
	if obj == nil {
		return // a type error, reported by the type checker
	}
	// name labels the task in messages: the function, or Type.Method.
	name := fd.Name.Name
	if recv := obj.Type().(*types.Signature).Recv(); recv != nil {
		if named, _ := receiverNamed(recv.Type()); named != nil {
			name = named.Obj().Name() + "." + name
		}
	}
	t := &Task{
		Func:         obj,
		Pos:          b.pos(fd.Name.Pos()),
		DirectivePos: b.pos(dir.Slash),
	}
	o, problems := ParseOptions(opts)
	for _, p := range problems {
		b.e.add(t.DirectivePos, "%s: %s: %s", name, Directive, p)
	}
	t.Options = o

	sig := obj.Type().(*types.Signature)
	ok := len(problems) == 0
	var recvName string
	if recv := sig.Recv(); recv != nil {
		named, why := receiverNamed(recv.Type())
		if named == nil {
			b.e.add(t.Pos, "%s: %s", name, why)
			ok = false
		} else {
			recvName = named.Obj().Name()
			t.Recv = b.receiver(named)
		}
	} else if fd.Name.Name == "init" {
		b.e.add(t.Pos, "init: init functions cannot be tasks")
		return
	}
	if sig.TypeParams().Len() > 0 {
		b.e.add(t.Pos, "%s: generic functions cannot be tasks: the payload needs concrete types", name)
		return
	}
	b.pkg.annotate(fd.Name.Name, recvName)
	if o.Name != "" {
		t.Wire = o.Name
	} else if recvName != "" {
		t.Wire = b.pkg.Name + "." + recvName + "." + fd.Name.Name
	} else {
		t.Wire = b.pkg.Name + "." + fd.Name.Name
	}

	if !b.params(t, name, sig) {
		ok = false
	}
	if !b.results(t, name, fd, sig) {
		ok = false
	}
	if !ok {
		return
	}
	b.pkg.Tasks = append(b.pkg.Tasks, t)
	if t.Recv != nil {
		t.Recv.Tasks = append(t.Recv.Tasks, t)
	}
}

// receiverNamed returns the named type of a method's receiver, or why it
// cannot have tasks.
func receiverNamed(t types.Type) (*types.Named, string) {
	t = types.Unalias(t)
	if p, ok := t.(*types.Pointer); ok {
		t = types.Unalias(p.Elem())
	}
	named, ok := t.(*types.Named)
	if !ok {
		return nil, fmt.Sprintf("the receiver type %s is not a named type or a pointer to one", t)
	}
	if _, ok := named.Underlying().(*types.Pointer); ok {
		return nil, fmt.Sprintf("the receiver type %s is a pointer type; declare the method on the type it points to", named.Obj().Name())
	}
	if named.TypeParams().Len() > 0 || named.TypeArgs().Len() > 0 {
		return nil, fmt.Sprintf("methods of the generic type %s cannot be tasks: the payload needs concrete types", named.Obj().Name())
	}
	return named, ""
}

func (b *builder) receiver(named *types.Named) *Receiver {
	for _, r := range b.pkg.Receivers {
		if r.Named.Obj() == named.Obj() {
			return r
		}
	}
	r := &Receiver{Named: named, RegisterFunc: "Register" + exportName(named.Obj().Name())}
	// Kept sorted by type name, so the output order does not depend on the
	// order of the files.
	i := 0
	for i < len(b.pkg.Receivers) && b.pkg.Receivers[i].Named.Obj().Name() < named.Obj().Name() {
		i++
	}
	b.pkg.Receivers = append(b.pkg.Receivers[:i], append([]*Receiver{r}, b.pkg.Receivers[i:]...)...)
	return r
}

// params checks the parameters: a context first, then named, serializable
// values whose exported names differ.
func (b *builder) params(t *Task, name string, sig *types.Signature) bool {
	x := exportName(t.Func.Name())
	ps := sig.Params()
	if ps.Len() == 0 || !isNamed(ps.At(0).Type(), "context", "Context") {
		b.e.add(t.Pos, "%s: the first parameter must be a context.Context", name)
		return false
	}
	ok := true
	fields := map[string]*Param{}
	for i := 1; i < ps.Len(); i++ {
		v := ps.At(i)
		pos := b.pos(v.Pos())
		if sig.Variadic() && i == ps.Len()-1 {
			b.e.add(pos, "%s: parameter %q: variadic parameters are not supported; take a slice instead", name, v.Name())
			ok = false
			continue
		}
		if v.Name() == "" || v.Name() == "_" {
			what := "has no name"
			if v.Name() == "_" {
				what = "is named _"
			}
			b.e.add(pos, "%s: parameter %d %s; every parameter needs a name, as its key in the payload", name, i+1, what)
			ok = false
			continue
		}
		field := exportName(v.Name())
		if !token.IsExported(field) {
			b.e.add(pos, "%s: parameter %q: the name must start with a letter that has an upper case, so that it can name a field of %sArgs", name, v.Name(), x)
			ok = false
			continue
		}
		if field == "MarshalTask" || field == "UnmarshalTask" {
			b.e.add(pos, "%s: parameter %q: its field %s would collide with the method %s of %sArgs; rename the parameter", name, v.Name(), field, field, x)
			ok = false
			continue
		}
		if prev, dup := fields[field]; dup {
			b.e.add(pos, "%s: parameters %q and %q both become the field %s of %sArgs; rename one", name, prev.Name, v.Name(), field, x)
			ok = false
			continue
		}
		p := &Param{Name: v.Name(), Field: field, Key: jsonKey(v.Name()), Pos: pos}
		fields[field] = p
		p.Type = b.a.root(v.Type(), site{task: name, what: fmt.Sprintf("parameter %q", v.Name()), pos: pos, top: v.Type()})
		if p.Type == nil {
			ok = false
			continue
		}
		t.Params = append(t.Params, p)
	}
	return ok
}

// results checks for error or (R, error).
func (b *builder) results(t *Task, name string, fd *ast.FuncDecl, sig *types.Signature) bool {
	rs := sig.Results()
	isErr := func(i int) bool { return types.Identical(rs.At(i).Type(), types.Universe.Lookup("error").Type()) }
	switch {
	case rs.Len() == 1 && isErr(0):
		return true
	case rs.Len() == 2 && isErr(1):
		pos := b.pos(fd.Type.Results.List[0].Type.Pos())
		t.Result = b.a.root(rs.At(0).Type(), site{task: name, what: "result", pos: pos, top: rs.At(0).Type()})
		return t.Result != nil
	}
	pos := t.Pos
	if fd.Type.Results != nil {
		pos = b.pos(fd.Type.Results.Pos())
	}
	b.e.add(pos, "%s: the results must be error or (R, error), not %s", name, resultsString(rs, b.a.qual))
	return false
}

func resultsString(rs *types.Tuple, q types.Qualifier) string {
	if rs.Len() == 0 {
		return "none"
	}
	parts := make([]string, rs.Len())
	for i := range parts {
		parts[i] = types.TypeString(rs.At(i).Type(), q)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// isNamed reports whether t is the named type path.name.
func isNamed(t types.Type, path, name string) bool {
	n, ok := types.Unalias(t).(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == path && n.Obj().Name() == name
}

// exportName upper-cases the first letter of s.
func exportName(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// jsonKey returns `"name":` escaped as encoding/json escapes member names.
func jsonKey(name string) string {
	b, err := json.Marshal(name)
	if err != nil {
		panic(err) // a Go string always marshals
	}
	return string(b) + ":"
}

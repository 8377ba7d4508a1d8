package model

import (
	"fmt"
	"go/token"
	"go/types"
	"strings"
)

// taskLabel names t in messages: the function, or Type.Method.
func taskLabel(t *Task) string {
	if t.Recv != nil {
		return t.Recv.Named.Obj().Name() + "." + t.Func.Name()
	}
	return t.Func.Name()
}

// names assigns the generated identifiers and reports those that collide
// with each other or with the package's own declarations.
//
// A task X is named after its function or method with the first letter
// upper-cased: SendReceipt on Mailer gives SendReceiptArgs, EnqueueSendReceipt
// and so on, so two tasks whose names differ only there, or two methods of
// the same name on different types, collide and must be renamed.
func (b *builder) names() {
	type owner struct {
		who string
		pos token.Position
	}
	taken := map[string]owner{}
	// claim takes the identifiers for who, reporting at most one collision
	// with each other task or declaration.
	claim := func(who string, pos token.Position, names ...string) {
		var clashes []string
		byOwner := map[string][]string{}
		for _, name := range names {
			if name == "" {
				continue
			}
			if prev, ok := taken[name]; ok {
				key := fmt.Sprintf("also generated for %s at %s", prev.who, shortPos(prev.pos))
				if byOwner[key] == nil {
					clashes = append(clashes, key)
				}
				byOwner[key] = append(byOwner[key], name)
				continue
			}
			if obj := b.pkg.Types.Scope().Lookup(name); obj != nil {
				b.e.add(pos, "%s: generated identifier %s collides with the %s declared at %s; rename one of them", who, name, objKind(obj), shortPos(b.pos(obj.Pos())))
				continue
			}
			taken[name] = owner{who, pos}
		}
		for _, key := range clashes {
			ids := byOwner[key]
			noun := "identifier"
			if len(ids) > 1 {
				noun = "identifiers"
			}
			b.e.add(pos, "%s: generated %s %s %s %s; rename one of them", who, noun, strings.Join(ids, ", "), map[bool]string{true: "are", false: "is"}[len(ids) > 1], key)
		}
	}

	var plain *Task
	for _, t := range b.pkg.Tasks {
		x := exportName(t.Func.Name())
		t.Names = Names{Args: x + "Args", Task: x + "Task", Enqueue: "Enqueue" + x, Sig: x + "Sig"}
		if len(t.Params) > 0 {
			t.Names.Step = x + "Step"
		}
		claim(taskLabel(t), t.Pos, t.Names.Args, t.Names.Task, t.Names.Enqueue, t.Names.Sig, t.Names.Step)
		if t.Recv == nil && plain == nil {
			plain = t
		}
	}
	if plain != nil {
		b.pkg.Register = "Register"
		claim(taskLabel(plain), plain.Pos, b.pkg.Register)
	}
	for _, r := range b.pkg.Receivers {
		if len(r.Tasks) == 0 {
			continue
		}
		claim(taskLabel(r.Tasks[0]), r.Tasks[0].Pos, r.RegisterFunc)
	}
	// Receivers whose tasks all failed validation generate nothing.
	kept := b.pkg.Receivers[:0]
	for _, r := range b.pkg.Receivers {
		if len(r.Tasks) > 0 {
			kept = append(kept, r)
		}
	}
	b.pkg.Receivers = kept
}

func objKind(obj types.Object) string {
	switch obj.(type) {
	case *types.TypeName:
		return "type " + obj.Name()
	case *types.Func:
		return "function " + obj.Name()
	case *types.Var:
		return "variable " + obj.Name()
	case *types.Const:
		return "constant " + obj.Name()
	}
	return obj.Name()
}

// generatedNames lists the identifiers generated for p, counting the
// tasks that failed validation, so that the type errors caused by code that
// uses them are not reported.
func (p *Package) generatedNames() []string {
	return p.annotated
}

// annotate records the identifiers that the task of function or method
// name on receiver type recv ("" for none) generates.
func (p *Package) annotate(name, recv string) {
	x := exportName(name)
	p.annotated = append(p.annotated, x+"Args", x+"Task", "Enqueue"+x, x+"Sig", x+"Step")
	if recv == "" {
		p.annotated = append(p.annotated, "Register")
	} else {
		p.annotated = append(p.annotated, "Register"+exportName(recv))
	}
}

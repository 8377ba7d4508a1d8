package templates

import (
	"github.com/dave/jennifer/jen"

	"github.com/taskgen/taskgen/internal/model"
)

// register writes Register, which registers the plain-function tasks.
func (g *gen) register() {
	if g.pkg.Register == "" {
		return
	}
	var calls []jen.Code
	for _, t := range g.pkg.Tasks {
		if t.Recv == nil {
			calls = append(calls, g.registerCall(t, jen.Id(t.Func.Name())))
		}
	}
	/*
		// Register registers the tasks of package tasks that are plain functions with r.
		func Register(r runtime.Registrar) error {
			return errors.Join(
				runtime.Register(r, TransformTask, func(ctx context.Context, a *TransformArgs) (CleanData, error) {
					return Transform(ctx, a.Raw, a.Schema)
				}),
			)
		}
	*/
	g.Commentf("%s registers with r the tasks of package %s that are plain functions.", g.pkg.Register, g.pkg.Name)
	g.Func().Id(g.pkg.Register).Params(g.id("r").Add(g.rt("Registrar"))).Error().Block(
		jen.Return(g.qual("errors", "Join").Call(multiline(calls)...)),
	)
}

// registerReceiver writes RegisterT, which registers the method tasks of T
// bound to one value.
func (g *gen) registerReceiver(r *model.Receiver) {
	var calls []jen.Code
	for _, t := range r.Tasks {
		calls = append(calls, g.registerCall(t, g.id("impl").Dot(t.Func.Name())))
	}
	name := r.Named.Obj().Name()
	/*
		// RegisterMailer registers with r the tasks that are methods of Mailer, called on impl.
		func RegisterMailer(r runtime.Registrar, impl *Mailer) error {
			return errors.Join(
				runtime.Register(r, SendReceiptTask, func(ctx context.Context, a *SendReceiptArgs) (runtime.None, error) {
					return runtime.None{}, impl.SendReceipt(ctx, a.OrderID)
				}),
			)
		}
	*/
	g.Commentf("%s registers with r the tasks that are methods of %s, called on impl.", r.RegisterFunc, name)
	g.Func().Id(r.RegisterFunc).Params(g.id("r").Add(g.rt("Registrar")), g.id("impl").Op("*").Add(g.typ(r.Named))).Error().Block(
		jen.Return(g.qual("errors", "Join").Call(multiline(calls)...)),
	)
}

// registerCall is runtime.Register(r, XTask, handler), where the handler
// calls fn with the decoded arguments.
func (g *gen) registerCall(t *model.Task, fn *jen.Statement) jen.Code {
	args := []jen.Code{g.id("ctx")}
	for _, p := range t.Params {
		args = append(args, g.id("a").Dot(p.Field))
	}
	call := fn.Call(args...)
	var ret jen.Code
	if t.Result == nil {
		ret = jen.Return(g.rt("None").Values(), call)
	} else {
		ret = jen.Return(call)
	}
	return g.rt("Register").Call(
		g.id("r"), jen.Id(t.Names.Task),
		jen.Func().Params(g.id("ctx").Add(g.qual("context", "Context")), g.id("a").Op("*").Id(t.Names.Args)).Params(g.resultType(t), jen.Error()).Block(ret),
	)
}

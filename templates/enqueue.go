package templates

import (
	"github.com/dave/jennifer/jen"

	"github.com/taskgen/taskgen/internal/model"
)

// stubNames returns the parameter names of the typed stubs (EnqueueX, XSig,
// XStep): the task's own, renamed only where one would shadow something
// the stub's body refers to, and names for the stub's extra parameters
// (ctx, c, opts) that differ from them.
func (g *gen) stubNames(t *model.Task) (params []string, extra map[string]string) {
	reserved := map[string]bool{
		g.aliases[runtimePath]: true,
		t.Names.Task:           true,
		t.Names.Args:           true,
	}
	used := map[string]bool{}
	for _, p := range t.Params {
		n := p.Name
		for reserved[n] || used[n] {
			n += "_"
		}
		used[n] = true
		params = append(params, n)
	}
	extra = map[string]string{}
	for _, base := range []string{"ctx", "c", "opts"} {
		n := base
		for reserved[n] || used[n] {
			n += "_"
		}
		used[n] = true
		extra[base] = n
	}
	return params, extra
}

// argsLit is &XArgs{Field: name, ...} for the parameters from the first
// one on.
func argsLit(t *model.Task, names []string, from int) *jen.Statement {
	var fields []jen.Code
	for i := from; i < len(t.Params); i++ {
		fields = append(fields, jen.Id(t.Params[i].Field).Op(":").Id(names[i]))
	}
	return jen.Op("&").Id(t.Names.Args).Values(fields...)
}

// enqueue writes EnqueueX, the typed enqueue.
func (g *gen) enqueue(t *model.Task) {
	names, extra := g.stubNames(t)
	params := []jen.Code{
		jen.Id(extra["ctx"]).Add(g.qual("context", "Context")),
		jen.Id(extra["c"]).Add(g.rt("Enqueuer")),
	}
	for i, p := range t.Params {
		params = append(params, jen.Id(names[i]).Add(g.typ(p.Type.Go)))
	}
	params = append(params, jen.Id(extra["opts"]).Op("...").Add(g.rt("Option")))
	/*
		// EnqueueTransform enqueues the Transform task and returns a handle on its result.
		func EnqueueTransform(ctx context.Context, c runtime.Enqueuer, raw RawData, schema string, opts ...runtime.Option) (*runtime.Handle[CleanData], error) {
			return runtime.Enqueue(ctx, c, TransformTask, &TransformArgs{Raw: raw, Schema: schema}, opts...)
		}
	*/
	g.Commentf("%s enqueues the %s task and returns a handle on its result.", t.Names.Enqueue, t.Func.Name())
	g.Func().Id(t.Names.Enqueue).Params(params...).Params(jen.Op("*").Add(g.rt("Handle")).Types(g.resultType(t)), jen.Error()).Block(
		jen.Return(g.rt("Enqueue").Call(
			jen.Id(extra["ctx"]), jen.Id(extra["c"]), jen.Id(t.Names.Task), argsLit(t, names, 0), jen.Id(extra["opts"]).Op("..."),
		)),
	)
}

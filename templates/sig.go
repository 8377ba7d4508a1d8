package templates

import (
	"github.com/dave/jennifer/jen"

	"github.com/taskgen/taskgen/internal/model"
)

// sig writes XSig, a complete call for workflows.
func (g *gen) sig(t *model.Task) {
	names, _ := g.stubNames(t)
	var params []jen.Code
	for i, p := range t.Params {
		params = append(params, jen.Id(names[i]).Add(g.typ(p.Type.Go)))
	}
	/*
		// TransformSig is a call of the Transform task, for workflows.
		func TransformSig(raw RawData, schema string) runtime.Sig[CleanData] {
			return runtime.NewSig(TransformTask, &TransformArgs{Raw: raw, Schema: schema})
		}
	*/
	g.Commentf("%s is a call of the %s task, for workflows.", t.Names.Sig, t.Func.Name())
	g.Func().Id(t.Names.Sig).Params(params...).Add(g.rt("Sig")).Types(g.resultType(t)).Block(
		jen.Return(g.rt("NewSig").Call(jen.Id(t.Names.Task), argsLit(t, names, 0))),
	)
}

// step writes XStep, a call whose first argument is the previous step's
// result; only for tasks with parameters.
func (g *gen) step(t *model.Task) {
	if t.Names.Step == "" {
		return
	}
	names, _ := g.stubNames(t)
	var params []jen.Code
	for i, p := range t.Params[1:] {
		params = append(params, jen.Id(names[i+1]).Add(g.typ(p.Type.Go)))
	}
	first := t.Params[0]
	/*
		// TransformStep is a call of the Transform task whose raw is the previous step's result.
		func TransformStep(schema string) runtime.Step[RawData, CleanData] {
			return runtime.NewStep[RawData](TransformTask, "raw", &TransformArgs{Schema: schema})
		}
	*/
	g.Commentf("%s is a call of the %s task whose %s is the previous step's result.", t.Names.Step, t.Func.Name(), first.Name)
	g.Func().Id(t.Names.Step).Params(params...).Add(g.rt("Step")).Types(g.typ(first.Type.Go), g.resultType(t)).Block(
		jen.Return(g.rt("NewStep").Types(g.typ(first.Type.Go)).Call(jen.Id(t.Names.Task), jen.Lit(first.Name), argsLit(t, names, 1))),
	)
}

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
		func(v RawData) ([]byte, error) {
			var w codec.Writer
			<encode v>
			return w.Bytes(), w.Err()
		}
	*/
	v := func() *jen.Statement { return g.id("v") }
	enc := []jen.Code{jen.Var().Add(g.id("w")).Add(g.codec("Writer"))}
	enc = append(enc, g.enc(first.Type, local(v), rw{name: "w"})...)
	enc = append(enc, jen.Return(g.id("w").Dot("Bytes").Call(), g.id("w").Dot("Err").Call()))
	marshalFirst := jen.Func().Params(v().Add(g.typ(first.Type.Go))).Params(jen.Index().Byte(), jen.Error()).Block(enc...)
	/*
		// TransformStep is a call of the Transform task whose raw is the previous step's result.
		func TransformStep(schema string) runtime.Step[RawData, CleanData] {
			return runtime.NewStep(TransformTask, "raw", &TransformArgs{Schema: schema}, func(v RawData) ([]byte, error) {...})
		}
	*/
	g.Commentf("%s is a call of the %s task whose %s is the previous step's result.", t.Names.Step, t.Func.Name(), first.Name)
	g.Func().Id(t.Names.Step).Params(params...).Add(g.rt("Step")).Types(g.typ(first.Type.Go), g.resultType(t)).Block(
		jen.Return(g.rt("NewStep").Call(jen.Id(t.Names.Task), jen.Lit(first.Name), argsLit(t, names, 1), marshalFirst)),
	)
}

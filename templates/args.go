package templates

import (
	"github.com/dave/jennifer/jen"

	"github.com/taskgen/taskgen/internal/model"
)

// argsFields returns the members of XArgs as struct fields.
func argsFields(t *model.Task) []*model.Field {
	fields := make([]*model.Field, len(t.Params))
	for i, p := range t.Params {
		fields[i] = &model.Field{Name: p.Name, Key: p.Key, Path: []string{p.Field}, Type: p.Type}
	}
	return fields
}

// args writes XArgs, the payload struct, and its codec methods.
func (g *gen) args(t *model.Task) {
	/*
		// TransformArgs is the payload of the Transform task.
		type TransformArgs struct {
			Raw    RawData `json:"raw"`
			Schema string  `json:"schema"`
		}
	*/
	fields := make([]jen.Code, len(t.Params))
	for i, p := range t.Params {
		fields[i] = jen.Id(p.Field).Add(g.typ(p.Type.Go)).Tag(map[string]string{"json": p.Name})
	}
	g.Commentf("%s is the payload of the %s task.", t.Names.Args, t.Func.Name())
	g.Type().Id(t.Names.Args).Struct(fields...)

	a := func() *jen.Statement { return g.id("a") }
	w := rw{name: "w"}
	r := rw{name: "r"}
	/*
		// MarshalTask encodes a as JSON, as encoding/json would.
		func (a *TransformArgs) MarshalTask() ([]byte, error) {
			var w codec.Writer
			<fields>
			return w.Bytes(), w.Err()
		}
	*/
	enc := []jen.Code{jen.Var().Add(g.id("w")).Add(g.codec("Writer"))}
	enc = append(enc, g.encFields(argsFields(t), a, w)...)
	enc = append(enc, jen.Return(g.id("w").Dot("Bytes").Call(), g.id("w").Dot("Err").Call()))
	g.Comment("MarshalTask encodes a as JSON, as encoding/json would.")
	g.Func().Params(a().Op("*").Id(t.Names.Args)).Id("MarshalTask").Params().Params(jen.Index().Byte(), jen.Error()).Block(enc...)

	/*
		// UnmarshalTask decodes data into a, as encoding/json would.
		func (a *TransformArgs) UnmarshalTask(data []byte) error {
			r := codec.NewReader(data)
			if r.BeginObject() {
				<fields>
			}
			return r.End()
		}
	*/
	dec := []jen.Code{
		g.id("r").Op(":=").Add(g.codec("NewReader")).Call(g.id("data")),
		jen.If(g.id("r").Dot("BeginObject").Call()).Block(g.decFields(argsFields(t), a, r)...),
		jen.Return(g.id("r").Dot("End").Call()),
	}
	g.Comment("UnmarshalTask decodes data into a, as encoding/json would.")
	g.Func().Params(a().Op("*").Id(t.Names.Args)).Id("UnmarshalTask").Params(g.id("data").Index().Byte()).Error().Block(dec...)
}

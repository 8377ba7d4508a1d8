package templates

import (
	"time"

	"github.com/dave/jennifer/jen"

	"github.com/taskgen/taskgen/internal/model"
)

// resultType spells a task's result type, runtime.None for none.
func (g *gen) resultType(t *model.Task) *jen.Statement {
	if t.Result == nil {
		return g.rt("None")
	}
	return g.typ(t.Result.Go)
}

// task writes XTask, the task's descriptor.
func (g *gen) task(t *model.Task) {
	o := t.Options
	/*
		runtime.TaskDef{
			Name:        "tasks.Transform",
			Queue:       "etl",
			Priority:    5,
			Retries:     3,
			BackoffMin:  time.Second,
			BackoffMax:  10 * time.Minute,
			Fingerprint: "0123456789abcdef",
		}
	*/
	def := []jen.Code{
		jen.Id("Name").Op(":").Lit(t.Wire),
		jen.Id("Queue").Op(":").Lit(o.Queue),
		jen.Id("Priority").Op(":").Lit(o.Priority),
		jen.Id("Retries").Op(":").Lit(o.Retries),
		jen.Id("BackoffMin").Op(":").Add(g.duration(o.BackoffMin)),
		jen.Id("BackoffMax").Op(":").Add(g.duration(o.BackoffMax)),
	}
	optional := []struct {
		name string
		d    time.Duration
	}{{"Timeout", o.Timeout}, {"Expires", o.Expires}, {"Unique", o.Unique}}
	for _, f := range optional {
		if f.d != 0 {
			def = append(def, jen.Id(f.name).Op(":").Add(g.duration(f.d)))
		}
	}
	if o.RateN != 0 {
		// Rate: runtime.Rate{N: 10, Period: time.Second},
		def = append(def, jen.Id("Rate").Op(":").Add(g.rt("Rate")).Values(jen.Id("N").Op(":").Lit(o.RateN), jen.Id("Period").Op(":").Add(g.duration(o.RatePeriod))))
	}
	if o.Concurrency != 0 {
		def = append(def, jen.Id("Concurrency").Op(":").Lit(o.Concurrency))
	}
	def = append(def, jen.Id("Fingerprint").Op(":").Lit(t.Fingerprint))
	fields := []jen.Code{jen.Id("Def").Op(":").Add(g.rt("TaskDef")).Values(multiline(def)...)}

	if t.Result == nil {
		/*
			MarshalResult:   runtime.MarshalNone,
			UnmarshalResult: runtime.UnmarshalNone,
		*/
		fields = append(fields,
			jen.Id("MarshalResult").Op(":").Add(g.rt("MarshalNone")),
			jen.Id("UnmarshalResult").Op(":").Add(g.rt("UnmarshalNone")))
	} else {
		v := func() *jen.Statement { return g.id("v") }
		/*
			MarshalResult: func(v CleanData) ([]byte, error) {
				var w codec.Writer
				<encode v>
				return w.Bytes(), w.Err()
			},
		*/
		enc := []jen.Code{jen.Var().Add(g.id("w")).Add(g.codec("Writer"))}
		enc = append(enc, g.enc(t.Result, local(v), rw{name: "w"})...)
		enc = append(enc, jen.Return(g.id("w").Dot("Bytes").Call(), g.id("w").Dot("Err").Call()))
		/*
			UnmarshalResult: func(data []byte) (CleanData, error) {
				var v CleanData
				r := codec.NewReader(data)
				<decode v>
				return v, r.End()
			},
		*/
		dec := []jen.Code{
			jen.Var().Add(v()).Add(g.typ(t.Result.Go)),
			g.id("r").Op(":=").Add(g.codec("NewReader")).Call(g.id("data")),
		}
		dec = append(dec, g.dec(t.Result, local(v), rw{name: "r"})...)
		dec = append(dec, jen.Return(v(), g.id("r").Dot("End").Call()))
		fields = append(fields,
			jen.Id("MarshalResult").Op(":").Func().Params(v().Add(g.typ(t.Result.Go))).Params(jen.Index().Byte(), jen.Error()).Block(enc...),
			jen.Id("UnmarshalResult").Op(":").Func().Params(g.id("data").Index().Byte()).Params(g.typ(t.Result.Go), jen.Error()).Block(dec...))
	}
	/*
		// TransformTask describes the Transform task.
		var TransformTask = &runtime.Task[CleanData]{
			Def: runtime.TaskDef{...},
			MarshalResult: ...,
			UnmarshalResult: ...,
		}
	*/
	g.Commentf("%s describes the %s task.", t.Names.Task, t.Func.Name())
	g.Var().Id(t.Names.Task).Op("=").Op("&").Add(g.rt("Task")).Types(g.resultType(t)).Values(multiline(fields)...)
}

// multiline puts each element on its own line, with a trailing comma.
func multiline(items []jen.Code) []jen.Code {
	out := make([]jen.Code, 0, len(items)+1)
	for _, it := range items {
		out = append(out, jen.Line().Add(it))
	}
	return append(out, jen.Line())
}

// duration spells d with time's unit constants: time.Second,
// 10 * time.Minute, or nanoseconds when no unit divides it.
func (g *gen) duration(d time.Duration) *jen.Statement {
	units := []struct {
		d    time.Duration
		name string
	}{{time.Hour, "Hour"}, {time.Minute, "Minute"}, {time.Second, "Second"}, {time.Millisecond, "Millisecond"}, {time.Microsecond, "Microsecond"}}
	for _, u := range units {
		if d%u.d == 0 {
			if d == u.d {
				return g.qual("time", u.name)
			}
			return jen.Lit(int(d / u.d)).Op("*").Add(g.qual("time", u.name))
		}
	}
	return jen.Lit(int(d))
}

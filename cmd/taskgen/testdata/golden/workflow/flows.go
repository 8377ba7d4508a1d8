package etl

import "github.com/taskgen/taskgen/runtime"

// Pipeline is the ETL workflow. Each step's input is the previous step's
// result, checked by the compiler.
func Pipeline(src Source, dest string) runtime.Sig[runtime.None] {
	return runtime.Then(runtime.Then(ExtractSig(src), TransformStep("v2")), LoadStep(dest))
}

// Total sums the counts of several sources with a chord.
func Total(srcs ...Source) runtime.Sig[int] {
	var header []runtime.Sig[int]
	for _, s := range srcs {
		header = append(header, CountSig(s))
	}
	return runtime.Chord(header, SumStep())
}

// Both counts two sources in parallel.
func Both(a, b Source) runtime.Sig[[]int] {
	return runtime.Group(CountSig(a), CountSig(b))
}

// Twice extracts twice, ignoring the first result.
func Twice(src Source) runtime.Sig[RawData] {
	return runtime.Seq(ExtractSig(src), ExtractSig(src))
}

package main

import (
	"github.com/taskgen/taskgen/runtime"
	"taskgen.test/nocompile/tasks"
)

func main() {
	src := tasks.Source{URL: "s3://bucket"}
	// The body must take []int, the header's results; Load takes CleanData.
	_ = runtime.Chord([]runtime.Sig[int]{tasks.CountSig(src)}, tasks.LoadStep("warehouse"))
}

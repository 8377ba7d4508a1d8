package main

import (
	"github.com/taskgen/taskgen/runtime"
	"taskgen.test/nocompile/tasks"
)

func main() {
	src := tasks.Source{URL: "s3://bucket"}
	_ = runtime.Group(tasks.CountSig(src), tasks.ExtractSig(src))
}

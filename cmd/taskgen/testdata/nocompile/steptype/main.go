package main

import (
	"github.com/taskgen/taskgen/runtime"
	"taskgen.test/nocompile/tasks"
)

func main() {
	// Load takes CleanData, but Extract returns RawData: Transform is missing.
	_ = runtime.Then(tasks.ExtractSig(tasks.Source{}), tasks.LoadStep("warehouse"))
}

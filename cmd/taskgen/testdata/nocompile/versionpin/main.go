package main

import "github.com/taskgen/taskgen/runtime"

// What a newer generator, of version 2, would write: it must not compile
// against this runtime, which supports version 1 only.
const _ = runtime.EnforceVersion(2 - runtime.MinGenVersion)
const _ = runtime.EnforceVersion(runtime.MaxGenVersion - 2)

func main() {}

package templates

import "github.com/dave/jennifer/jen"

// versionPin writes the guard that stops the file from compiling against a
// runtime that does not support its version: a negative constant does not
// convert to the unsigned runtime.EnforceVersion.
func (g *gen) versionPin() {
	/*
		// This file compiles only against a runtime that supports its version.
		const _ = runtime.EnforceVersion(1 - runtime.MinGenVersion)
		const _ = runtime.EnforceVersion(runtime.MaxGenVersion - 1)
	*/
	g.Comment("This file compiles only against a runtime that supports its version.")
	g.Const().Id("_").Op("=").Add(g.rt("EnforceVersion")).Call(jen.Lit(GenVersion).Op("-").Add(g.rt("MinGenVersion")))
	g.Const().Id("_").Op("=").Add(g.rt("EnforceVersion")).Call(g.rt("MaxGenVersion").Op("-").Lit(GenVersion))
}

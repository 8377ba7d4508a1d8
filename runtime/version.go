package runtime

// Version is the runtime's release. The generator writes the same release in
// the header of the files it emits.
const Version = "0.1.0"

// Generated code compiles only against a runtime that supports its version:
// it declares
//
//	const _ = runtime.EnforceVersion(GenVersion - runtime.MinGenVersion)
//	const _ = runtime.EnforceVersion(runtime.MaxGenVersion - GenVersion)
//
// and a negative constant does not convert to an unsigned type, so a stale
// generator/runtime pair fails to build instead of misbehaving at run time.
const (
	// MinGenVersion is the oldest generated-code version this runtime supports.
	MinGenVersion = 1
	// MaxGenVersion is the newest generated-code version this runtime supports.
	MaxGenVersion = 1
)

// EnforceVersion is used by generated code to pin the runtime version.
type EnforceVersion uint

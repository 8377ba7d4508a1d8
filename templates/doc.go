// Package templates writes the _taskgen.go file of a package from its
// model, with jennifer.
//
// Each generated artifact has its own file here: args.go writes the XArgs
// payload struct and its codec methods, task.go the XTask descriptor,
// enqueue.go EnqueueX, sig.go XSig and XStep, register.go the Register
// functions, helpers.go the codec helpers of struct, slice, array and map
// types, and header.go the runtime version pin. codec.go holds the encode
// and decode statements they share. Emitters read the model and write into
// the file; they never load packages.
//
// Above each jen chain a comment shows the Go it emits. This package is
// internal to taskgen and not a stable API.
package templates

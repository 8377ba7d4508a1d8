package model

import (
	"go/token"
	"go/types"
	"time"
)

// Package is one Go package as taskgen sees it: its annotated tasks and
// everything the emitters need to write its _taskgen.go file.
type Package struct {
	// Name is the package name and Path its import path.
	Name, Path string
	// Dir is the directory holding the package's files.
	Dir string
	// Types is the type-checked package, with any earlier generated file
	// replaced by its package clause.
	Types *types.Package
	// Fset holds the positions of Types and of the syntax.
	Fset *token.FileSet

	// Tasks lists the annotated functions and methods in source order.
	Tasks []*Task
	// Receivers lists the types that have method tasks, by type name.
	Receivers []*Receiver
	// Register is the name of the function registering the plain-function
	// tasks; empty when there are none.
	Register string
	// Helpers lists the types whose codec is a pair of generated helper
	// functions (structs, slices, arrays and maps), by helper name.
	Helpers []*Type

	// annotated lists the identifiers generated for every annotated
	// function, valid or not.
	annotated []string
}

// Output returns the path of the file taskgen writes for p.
func (p *Package) Output() string {
	return OutputPath(p.Dir, p.Name)
}

// Task is one annotated function or method.
type Task struct {
	// Func is the annotated function or method.
	Func *types.Func
	// Recv is the receiver's type for a method task, nil for a function.
	Recv *Receiver
	// Wire is the stable wire name, such as "tasks.Transform".
	Wire string
	// Options are the directive's options with defaults applied.
	Options Options
	// Params are the parameters after the context, in declaration order.
	Params []*Param
	// Result is the result type; nil for a task that returns only an error.
	Result *Type
	// Pos is the position of the function's name; DirectivePos that of the
	// //taskgen:task comment.
	Pos, DirectivePos token.Position
	// Fingerprint is the schema hash of the parameters and the result.
	Fingerprint string
	// Names are the generated identifiers.
	Names Names
}

// Names are the identifiers generated for one task X.
type Names struct {
	Args    string // XArgs: the payload struct
	Task    string // XTask: the descriptor
	Enqueue string // EnqueueX
	Sig     string // XSig
	Step    string // XStep; empty for a task without parameters
}

// Receiver is a named type with method tasks. RegisterFunc binds them all
// to one value of the type.
type Receiver struct {
	Named        *types.Named
	RegisterFunc string
	Tasks        []*Task
}

// Param is one task parameter after the context.
type Param struct {
	// Name is the parameter's name as written; it is also the JSON key.
	Name string
	// Field is the exported name of the XArgs field holding it.
	Field string
	// Key is the JSON member prefix `"name":`, escaped as encoding/json
	// escapes it.
	Key string
	// Type is the parameter's type.
	Type *Type
	// Pos is the position of the parameter's name.
	Pos token.Position
}

// Options are a task's settings from its directive, defaults applied.
type Options struct {
	Name        string
	Queue       string
	Priority    int
	Retries     int
	BackoffMin  time.Duration
	BackoffMax  time.Duration
	Timeout     time.Duration
	Expires     time.Duration
	Unique      time.Duration
	RateN       int
	RatePeriod  time.Duration
	Concurrency int
}

// Kind is how a type is encoded.
type Kind uint8

// The kinds of encodable types.
const (
	Invalid Kind = iota
	Bool
	Int           // signed integer of Bits bits (0: int)
	Uint          // unsigned integer of Bits bits (0: uint)
	Float         // float of Bits bits
	String        // a string
	Bytes         // a []byte-shaped slice, as base64
	Time          // time.Time
	JSONMarshaler // json.Marshaler and *T json.Unmarshaler, opaque
	TextMarshaler // encoding.TextMarshaler and *T encoding.TextUnmarshaler, opaque
	Pointer
	Slice
	Array
	Map
	Struct
)

var kindNames = [...]string{
	Invalid:       "invalid",
	Bool:          "bool",
	Int:           "int",
	Uint:          "uint",
	Float:         "float",
	String:        "string",
	Bytes:         "bytes",
	Time:          "time",
	JSONMarshaler: "json.Marshaler",
	TextMarshaler: "encoding.TextMarshaler",
	Pointer:       "pointer",
	Slice:         "slice",
	Array:         "array",
	Map:           "map",
	Struct:        "struct",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(?)"
}

// Type is the codec shape of a Go type. Types form a graph: a recursive
// named type refers back to its own node.
type Type struct {
	Kind Kind
	// Go is the Go type, aliases removed.
	Go types.Type
	// Bits is the size of an Int, Uint or Float; 0 for int and uint, whose
	// size depends on the platform.
	Bits int
	// Elem is the element of a Pointer, Slice, Array or the value of a Map.
	Elem *Type
	// Key is a Map's key: String, Int or Uint.
	Key *Type
	// Len is an Array's length.
	Len int64
	// Fields are a Struct's JSON members in encoding/json's order,
	// promoted fields of embedded structs included.
	Fields []*Field
	// PtrMethods reports, for the marshaler kinds, that the marshal method
	// has a pointer receiver, so encoding needs the value's address.
	PtrMethods bool
	// Enc and Dec name the generated helper functions of a Struct, Slice,
	// Array or Map; empty for the kinds encoded inline.
	Enc, Dec string
}

// Field is one JSON member of a struct.
type Field struct {
	// Name is the JSON member name and Key its escaped `"name":` prefix.
	Name, Key string
	// Path is the Go selector path from the struct, through embedded
	// structs, to the field.
	Path []string
	// Type is the field's type.
	Type *Type
	// OmitEmpty and OmitZero are the json tag options.
	OmitEmpty, OmitZero bool
	// IsZero says how omitzero tests the field: IsZeroNone compares with the
	// zero value; the others call the type's IsZero method.
	IsZero IsZeroMethod
}

// IsZeroMethod is how omitzero decides that a field is zero.
type IsZeroMethod uint8

// The ways omitzero tests a field, as encoding/json does.
const (
	IsZeroNone    IsZeroMethod = iota // v == zero value
	IsZeroValue                       // v.IsZero(), value receiver
	IsZeroPointer                     // (&v).IsZero(), pointer receiver
	IsZeroNilable                     // v is a pointer: v == nil || v.IsZero()
)

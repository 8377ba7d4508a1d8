package templates

import (
	"regexp"
	"testing"
	"time"

	"github.com/dave/jennifer/jen"
	"go.uber.org/goleak"

	"github.com/taskgen/taskgen/internal/model"
	"github.com/taskgen/taskgen/runtime"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestHeader(t *testing.T) {
	t.Parallel()
	if !regexp.MustCompile(`^// Code generated .* DO NOT EDIT\.$`).MatchString(Header) {
		t.Errorf("Header %q does not match Go's generated-code convention", Header)
	}
	if Version != runtime.Version {
		t.Errorf("Version %q, runtime %q", Version, runtime.Version)
	}
	if GenVersion < runtime.MinGenVersion || GenVersion > runtime.MaxGenVersion {
		t.Errorf("GenVersion %d outside the runtime's %d..%d", GenVersion, runtime.MinGenVersion, runtime.MaxGenVersion)
	}
}

func TestDuration(t *testing.T) {
	t.Parallel()
	g := &gen{File: jen.NewFile("p"), pkg: &model.Package{Path: "p"}, aliases: map[string]string{"time": "time"}}
	for d, want := range map[time.Duration]string{
		time.Second:                   "time.Second",
		10 * time.Minute:              "10 * time.Minute",
		90 * time.Second:              "90 * time.Second",
		time.Hour:                     "time.Hour",
		1500 * time.Millisecond:       "1500 * time.Millisecond",
		time.Microsecond:              "time.Microsecond",
		7:                             "7",
		36 * time.Hour:                "36 * time.Hour",
		time.Minute + time.Nanosecond: "60000000001",
	} {
		if got := g.duration(d).GoString(); got != want {
			t.Errorf("duration(%v) = %s, want %s", d, got, want)
		}
	}
}

func TestRawString(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`json:"a,omitempty"`: "`json:\"a,omitempty\"`",
		"has`backquote":      "\"has`backquote\"",
		`"name":`:            "`\"name\":`",
	} {
		if got := rawString(in); got != want {
			t.Errorf("rawString(%q) = %s, want %s", in, got, want)
		}
	}
}

package model

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// load writes files into a fresh module and loads every package in it.
func load(t *testing.T, files map[string]string) (map[string]*Package, error) {
	t.Helper()
	dir := t.TempDir()
	files["go.mod"] = "module example.test\n\ngo 1.24.0\n"
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pkgs, err := Load(Config{Dir: dir, Patterns: []string{"./..."}, Env: append(os.Environ(), "GOWORK=off", "GOFLAGS=")})
	byName := map[string]*Package{}
	for _, p := range pkgs {
		byName[strings.TrimPrefix(p.Path, "example.test/")] = p
	}
	return byName, err
}

func TestParseOptions(t *testing.T) {
	t.Parallel()
	o, problems := ParseOptions(" name=etl.v2  queue=etl priority=9 retries=0 backoff=500ms..2h timeout=30s expires=1h unique=90s rate=5/m concurrency=3")
	if len(problems) > 0 {
		t.Fatalf("problems: %v", problems)
	}
	want := Options{
		Name: "etl.v2", Queue: "etl", Priority: 9, Retries: 0,
		BackoffMin: 500 * time.Millisecond, BackoffMax: 2 * time.Hour,
		Timeout: 30 * time.Second, Expires: time.Hour, Unique: 90 * time.Second,
		RateN: 5, RatePeriod: time.Minute, Concurrency: 3,
	}
	if o != want {
		t.Errorf("got %+v\nwant %+v", o, want)
	}
	if o, problems := ParseOptions(""); len(problems) > 0 || o != Defaults {
		t.Errorf("no options: got %+v, %v; want the defaults", o, problems)
	}

	for _, tc := range []struct{ in, want string }{
		{"priority=10", `option "priority=10": priority must be an integer from 0 to 9`},
		{"priority=-1", `option "priority=-1": priority must be an integer from 0 to 9`},
		{"retries=x", `option "retries=x": retries must be an integer, 0 or more`},
		{"backoff=1s", `option "backoff=1s": backoff must be MIN..MAX, such as 1s..10m`},
		{"backoff=1m..1s", `option "backoff=1m..1s": backoff minimum 1m0s is above maximum 1s`},
		{"backoff=0s..1s", `option "backoff=0s..1s": backoff minimum: "0s" must be above zero`},
		{"timeout=-5s", `option "timeout=-5s": "-5s" must be above zero`},
		{"unique=1d", `option "unique=1d": "1d" is not a duration such as 30s or 5m`},
		{"rate=0/s", `option "rate=0/s": rate must be N/s, N/m or N/h with N above 0, such as 10/s`},
		{"rate=10", `option "rate=10": rate must be N/s, N/m or N/h with N above 0, such as 10/s`},
		{"concurrency=0", `option "concurrency=0": concurrency must be an integer above 0`},
		{"queue=", `option "queue=": queue must be non-empty printable text`},
		{"name=", `option "name=": name must be non-empty printable text`},
		{"retries", `option "retries": missing '=': options are written key=value`},
		{"retries=1 retries=2", `option "retries=2": retries is set twice`},
		{"color=red", `option "color=red": unknown option "color"; known: name, queue, priority, retries, backoff, timeout, expires, unique, rate, concurrency`},
	} {
		_, problems := ParseOptions(tc.in)
		if len(problems) != 1 || problems[0] != tc.want {
			t.Errorf("ParseOptions(%q) = %q, want [%q]", tc.in, problems, tc.want)
		}
	}
}

func TestIsDirective(t *testing.T) {
	t.Parallel()
	for text, want := range map[string]bool{
		"//taskgen:task":            true,
		"//taskgen:task queue=x":    true,
		"//taskgen:task\tqueue=x":   true,
		"//taskgen:tasks":           false,
		"// taskgen:task":           false,
		"//taskgen:taskqueue=x":     false,
		"//go:generate taskgen ./…": false,
	} {
		if _, got := isDirective(text); got != want {
			t.Errorf("isDirective(%q) = %v, want %v", text, got, want)
		}
	}
}

// fingerprintSources declares, in one package each, variants of one task
// so that their fingerprints can be compared.
var fingerprintSources = map[string]string{
	"base/t.go": `package base
import "context"
type Raw struct {
	ID   int64    ` + "`json:\"id\"`" + `
	Tags []string ` + "`json:\"tags\"`" + `
	Next *Raw     ` + "`json:\"next\"`" + `
}
type Out struct{ N int }
//taskgen:task
func F(ctx context.Context, raw Raw, schema string) (Out, error) { return Out{}, nil }
`,
	// The same structure under other type and field names (same tags).
	"renamed/t.go": `package renamed
import "context"
type Input struct {
	Ident    int64    ` + "`json:\"id\"`" + `
	Labels   []string ` + "`json:\"tags\"`" + `
	Continue *Input   ` + "`json:\"next\"`" + `
}
type Result struct{ N int }
//taskgen:task name=other.G
func G(ctx context.Context, raw Input, schema string) (Result, error) { return Result{}, nil }
`,
	"paramtype/t.go": `package paramtype
import "context"
type Raw struct {
	ID   int32    ` + "`json:\"id\"`" + `
	Tags []string ` + "`json:\"tags\"`" + `
	Next *Raw     ` + "`json:\"next\"`" + `
}
type Out struct{ N int }
//taskgen:task
func F(ctx context.Context, raw Raw, schema string) (Out, error) { return Out{}, nil }
`,
	"added/t.go": `package added
import "context"
type Raw struct {
	ID   int64    ` + "`json:\"id\"`" + `
	Tags []string ` + "`json:\"tags\"`" + `
	Next *Raw     ` + "`json:\"next\"`" + `
}
type Out struct{ N int }
//taskgen:task
func F(ctx context.Context, raw Raw, schema string, strict bool) (Out, error) { return Out{}, nil }
`,
	"removed/t.go": `package removed
import "context"
type Raw struct {
	ID   int64    ` + "`json:\"id\"`" + `
	Tags []string ` + "`json:\"tags\"`" + `
	Next *Raw     ` + "`json:\"next\"`" + `
}
type Out struct{ N int }
//taskgen:task
func F(ctx context.Context, raw Raw) (Out, error) { return Out{}, nil }
`,
	"paramname/t.go": `package paramname
import "context"
type Raw struct {
	ID   int64    ` + "`json:\"id\"`" + `
	Tags []string ` + "`json:\"tags\"`" + `
	Next *Raw     ` + "`json:\"next\"`" + `
}
type Out struct{ N int }
//taskgen:task
func F(ctx context.Context, data Raw, schema string) (Out, error) { return Out{}, nil }
`,
	"result/t.go": `package result
import "context"
type Raw struct {
	ID   int64    ` + "`json:\"id\"`" + `
	Tags []string ` + "`json:\"tags\"`" + `
	Next *Raw     ` + "`json:\"next\"`" + `
}
type Out struct{ N int64 }
//taskgen:task
func F(ctx context.Context, raw Raw, schema string) (Out, error) { return Out{}, nil }
`,
	"noresult/t.go": `package noresult
import "context"
type Raw struct {
	ID   int64    ` + "`json:\"id\"`" + `
	Tags []string ` + "`json:\"tags\"`" + `
	Next *Raw     ` + "`json:\"next\"`" + `
}
//taskgen:task
func F(ctx context.Context, raw Raw, schema string) error { return nil }
`,
	"jsonname/t.go": `package jsonname
import "context"
type Raw struct {
	ID   int64    ` + "`json:\"ident\"`" + `
	Tags []string ` + "`json:\"tags\"`" + `
	Next *Raw     ` + "`json:\"next\"`" + `
}
type Out struct{ N int }
//taskgen:task
func F(ctx context.Context, raw Raw, schema string) (Out, error) { return Out{}, nil }
`,
}

func TestFingerprint(t *testing.T) {
	t.Parallel()
	pkgs, err := load(t, fingerprintSources)
	if err != nil {
		t.Fatal(err)
	}
	fp := func(pkg string) string {
		t.Helper()
		p := pkgs[pkg]
		if p == nil || len(p.Tasks) != 1 {
			t.Fatalf("package %s: no task", pkg)
		}
		if len(p.Tasks[0].Fingerprint) != 16 {
			t.Fatalf("package %s: fingerprint %q", pkg, p.Tasks[0].Fingerprint)
		}
		return p.Tasks[0].Fingerprint
	}
	base := fp("base")
	if got := fp("renamed"); got != base {
		t.Errorf("renaming types and fields changed the fingerprint: %s, base %s\n%s\n%s", got, base,
			Canonical(pkgs["renamed"].Tasks[0].Params, pkgs["renamed"].Tasks[0].Result),
			Canonical(pkgs["base"].Tasks[0].Params, pkgs["base"].Tasks[0].Result))
	}
	for _, pkg := range []string{"paramtype", "added", "removed", "paramname", "result", "noresult", "jsonname"} {
		if got := fp(pkg); got == base {
			t.Errorf("%s: same fingerprint as base", pkg)
		}
	}

	tk := pkgs["base"].Tasks[0]
	want := `v1 args{"raw":{"id":int64,"tags":[]string,"next":*^2},"schema":string} result {"N":int}`
	if got := Canonical(tk.Params, tk.Result); got != want {
		t.Errorf("Canonical:\ngot  %s\nwant %s", got, want)
	}
}

func TestModel(t *testing.T) {
	t.Parallel()
	pkgs, err := load(t, map[string]string{
		"svc/svc.go": `package svc
import (
	"context"
	"time"
)
type Mailer struct{}
// Send sends.
//
//taskgen:task queue=mail priority=8
func (m *Mailer) Send(ctx context.Context, to string, at time.Time) error { return nil }
//taskgen:task
func (m Mailer) Count(ctx context.Context) (int, error) { return 0, nil }
//taskgen:task
func plain(ctx context.Context, userID int64, ids map[string][]int) ([]byte, error) { return nil, nil }
`,
		"empty/empty.go": "package empty\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	if p := pkgs["empty"]; p == nil || len(p.Tasks) != 0 || p.Register != "" {
		t.Errorf("empty package: %+v", p)
	}
	p := pkgs["svc"]
	if len(p.Tasks) != 3 || p.Register != "Register" || len(p.Receivers) != 1 || p.Receivers[0].RegisterFunc != "RegisterMailer" {
		t.Fatalf("svc: %d tasks, Register %q, receivers %v", len(p.Tasks), p.Register, p.Receivers)
	}
	send, count, plain := p.Tasks[0], p.Tasks[1], p.Tasks[2]
	if send.Wire != "svc.Mailer.Send" || send.Options.Queue != "mail" || send.Options.Priority != 8 || send.Recv != p.Receivers[0] {
		t.Errorf("Send: %+v", send)
	}
	if send.Params[1].Type.Kind != Time || send.Result != nil {
		t.Errorf("Send: params %v, result %v", send.Params, send.Result)
	}
	if count.Names.Step != "" || count.Result.Kind != Int || count.Result.Bits != 0 {
		t.Errorf("Count: names %+v, result %+v", count.Names, count.Result)
	}
	if plain.Wire != "svc.plain" || plain.Names.Enqueue != "EnqueuePlain" || plain.Names.Args != "PlainArgs" {
		t.Errorf("plain: wire %q, names %+v", plain.Wire, plain.Names)
	}
	if u := plain.Params[0]; u.Name != "userID" || u.Field != "UserID" || u.Key != `"userID":` {
		t.Errorf("plain param: %+v", u)
	}
	if ids := plain.Params[1].Type; ids.Kind != Map || ids.Key.Kind != String || ids.Elem.Kind != Slice || ids.Enc == "" {
		t.Errorf("ids: %+v", ids)
	}
	if plain.Result.Kind != Bytes {
		t.Errorf("plain result: %+v", plain.Result)
	}
	var helpers []string
	for _, h := range p.Helpers {
		helpers = append(helpers, h.Enc+"/"+h.Dec)
	}
	if got, want := strings.Join(helpers, " "), "taskgenEnc_Map_string_Slice_int/taskgenDec_Map_string_Slice_int taskgenEnc_Slice_int/taskgenDec_Slice_int"; got != want {
		t.Errorf("helpers: %s, want %s", got, want)
	}
}

func TestErrorRel(t *testing.T) {
	t.Parallel()
	e := &Error{Msg: "boom"}
	e.Pos.Filename, e.Pos.Line, e.Pos.Column = filepath.FromSlash("/src/app/tasks/t.go"), 3, 7
	if got, want := e.Rel(filepath.FromSlash("/src/app")), filepath.FromSlash("tasks/t.go")+":3:7: boom"; got != want {
		t.Errorf("Rel = %q, want %q", got, want)
	}
	if got := (&Error{Msg: "no position"}).Error(); got != "no position" {
		t.Errorf("Error() = %q", got)
	}
	if got := parsePos("/a/b.go:12:5"); got.Filename != "/a/b.go" || got.Line != 12 || got.Column != 5 {
		t.Errorf("parsePos = %+v", got)
	}
}

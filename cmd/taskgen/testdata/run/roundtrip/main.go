// Command roundtrip checks that the generated codec encodes and decodes
// every kind of type exactly as encoding/json does, and that the generated
// Register functions run tasks. It exits 1 on the first mismatch.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"time"

	"github.com/taskgen/taskgen/runtime"
	"taskgen.test/run/roundtrip/geo"
)

// Everything takes one of each kind.
//
//taskgen:task
func Everything(ctx context.Context, item Item, page Page[Item], tree *Node, scores Scores, names Names,
	data []byte, when time.Time, dur time.Duration, level Level, ok bool, f32 float32, u uint,
	arr [2]Meta, mm map[string]map[string]int, ptrs []*int, pair geo.Pair[geo.Point, int]) (Page[Item], error) {
	page.Items = append(page.Items, item)
	return page, nil
}

// Count returns a basic result.
//
//taskgen:task
func Count(ctx context.Context, items []int) (int, error) {
	return len(items), nil
}

// Fail returns only an error.
//
//taskgen:task
func Fail(ctx context.Context, msg string) error {
	if msg != "" {
		return errors.New(msg)
	}
	return nil
}

// Service has method tasks.
type Service struct{ prefix string }

// Greet is a method task with a pointer receiver.
//
//taskgen:task
func (s *Service) Greet(ctx context.Context, name string) (string, error) {
	return s.prefix + name, nil
}

// Shout is a method task with a value receiver.
//
//taskgen:task
func (s Service) Shout(ctx context.Context, name string) (*string, error) {
	out := s.prefix + name + "!"
	return &out, nil
}

var failed bool

func check(what string, ok bool, format string, args ...any) {
	if !ok {
		failed = true
		fmt.Fprintf(os.Stderr, "FAIL %s: %s\n", what, fmt.Sprintf(format, args...))
	}
}

func ptr[T any](v T) *T { return &v }

func fullItem() Item {
	when := time.Date(2024, 2, 29, 23, 59, 58, 123456789, time.FixedZone("", 5*3600+1800))
	lvl := Level(-3)
	it := Item{
		Base:   Base{ID: -42, Kind: "widget"},
		inner:  inner{Note: "<b>&amp;</b>", Kind: "inner-kind"},
		Title:  "Zoë \"quoted\" \u2028 \x01",
		Price:  1e21,
		Ratio:  0.1,
		Tags:   []string{"a", "", "b"},
		Secret: "dropped",
		hidden: 7,
		Addr:   netip.MustParseAddr("2001:db8::1"),
		Raw:    json.RawMessage(`{"x": [1, 2, {"y": null}]}`),
		Opt:    ptr(0),
		PP:     ptr(ptr("deep")),
		Fixed:  [3]byte{1, 2, 255},
		Blob:   Blob("hello, world"),
		When:   &when,
		Zero:   when,
		ZeroF:  -0.0,
		Meta: Meta{
			Created: when.UTC(),
			TTL:     90 * time.Second,
			Labels:  map[string]string{"b": "2", "a": "1", "<": ">"},
		},
		Ints:   map[int]int{10: 1, 9: 2, -1: 3, 100: 4},
		Uints:  map[uint8]bool{255: true, 0: false, 20: true},
		Levels: ByLevel{1: "one", -128: "min", 127: "max"},
		IDs:    ByID{7: {"x"}, 70: nil, 700: {}},
		Matrix: Matrix{{1, 2, 3}, {-4, -5, -6}},
		Big:    1<<64 - 1,
		Small:  -128,
		Temp:   Celsius(21.5),
		Code:   Code{Major: 1, Minor: 22},
		Codes:  []Code{{3, 4}, {5, 6}},
		Point:  geo.Point{X: 1.5, Y: -2},
		Pair:   geo.Pair[string, *geo.Point]{First: "p", Second: &geo.Point{X: 3}},
		Nested: [][]map[string]*Level{{{"a": &lvl, "b": nil}}, nil, {}},
		Names:  Names{"n1", "n2"},
	}
	it.Anon.A = 5
	it.Anon.B = []bool{true, false}
	return it
}

func fullArgs() *EverythingArgs {
	next := "cursor"
	tree := &Node{Name: "root", Children: []*Node{{Name: "a"}, {Name: "b", Next: &Node{Name: "c"}}}}
	return &EverythingArgs{
		Item:   fullItem(),
		Page:   Page[Item]{Items: []Item{fullItem(), {}}, Next: &next},
		Tree:   tree,
		Scores: Scores{"x": 1.25, "y": -3e-9, "z": 0},
		Names:  Names{},
		Data:   []byte{0, 1, 2, 3},
		When:   time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC),
		Dur:    time.Hour + time.Nanosecond,
		Level:  Level(127),
		Ok:     true,
		F32:    3.4028235e38,
		U:      42,
		Arr:    [2]Meta{{TTL: 1}, {Labels: map[string]string{}}},
		Mm:     map[string]map[string]int{"a": {"b": 1}, "c": nil},
		Ptrs:   []*int{ptr(1), nil, ptr(-1)},
		Pair:   geo.Pair[geo.Point, int]{First: geo.Point{X: 1}, Second: 0},
	}
}

// checkArgs compares the generated codec with encoding/json on v: the same
// bytes out, and the same value back from those bytes.
func checkArgs[T any, PT interface {
	*T
	runtime.Payload
}](what string, v PT) {
	got, err := v.MarshalTask()
	want, wantErr := json.Marshal(v)
	check(what+": marshal error", (err == nil) == (wantErr == nil), "got %v, encoding/json %v", err, wantErr)
	check(what+": marshal", bytes.Equal(got, want), "\ngot  %s\nwant %s", got, want)
	checkDecode[T, PT](what, want)
}

// checkDecode decodes data with the generated codec and with encoding/json
// and compares the values and whether each failed.
func checkDecode[T any, PT interface {
	*T
	runtime.Payload
}](what string, data []byte) {
	var got, want T
	err := PT(&got).UnmarshalTask(data)
	wantErr := json.Unmarshal(data, &want)
	check(what+": unmarshal error", (err == nil) == (wantErr == nil), "input %s: got %v, encoding/json %v", data, err, wantErr)
	if err == nil && wantErr == nil {
		check(what+": unmarshal", reflect.DeepEqual(got, want), "input %s:\ngot  %#v\nwant %#v", data, got, want)
	}
}

// registrar keeps the handlers registered with it.
type registrar map[string]runtime.Handler

func (r registrar) Register(def *runtime.TaskDef, h runtime.Handler) error {
	if _, dup := r[def.Name]; dup {
		return fmt.Errorf("task %s registered twice", def.Name)
	}
	r[def.Name] = h
	return nil
}

// enqueuer records what it is asked to publish.
type enqueuer struct {
	def     *runtime.TaskDef
	payload []byte
}

func (e *enqueuer) EnqueueTask(ctx context.Context, def *runtime.TaskDef, payload []byte, opts ...runtime.Option) (*runtime.Receipt, error) {
	e.def, e.payload = def, payload
	return &runtime.Receipt{ID: "id-1", Queue: def.Queue}, nil
}

func main() {
	ctx := context.Background()

	checkArgs("zero args", &EverythingArgs{})
	checkArgs("full args", fullArgs())
	checkArgs("count", &CountArgs{Items: []int{1, 2, 3}})
	checkArgs("count nil", &CountArgs{})

	for _, in := range []string{
		`null`,
		`{}`,
		`{"unknown": {"a": [1, 2, {"b": null}]}, "level": 5}`,
		`{"LEVEL": 7, "Ok": true, "f32": 1.5, "NAMES": ["x"]}`,
		`{"item": {"KIND": "k", "Kind": "exact", "ID": 3, "note": "n"}}`,
		`{"item": {"kind": "lower"}}`,
		`{"item": {"Fixed": [1, 2, 3, 4, 5]}}`,
		`{"item": {"Fixed": [9]}}`,
		`{"item": {"Matrix": [[1], [2, 3, 4, 5]]}}`,
		`{"item": {"opt": null, "PP": null, "Tags": null, "Ints": null}}`,
		`{"item": {"Ints": {"1": 2, "-3": 4}, "Levels": {"-1": "x"}}}`,
		`{"item": {"Ints": {"x": 2}}}`,
		`{"item": {"Levels": {"300": "x"}}}`,
		`{"item": {"Small": 128}}`,
		`{"item": {"Blob": "aGk="}}`,
		`{"item": {"Blob": "!!"}}`,
		`{"item": {"Tags": []}, "names": [], "scores": {}, "ptrs": [null]}`,
		`{"item": {"Addr": "10.0.0.1", "Temp": "3C", "Code": "7.8", "Codes": ["1.2"]}}`,
		`{"item": {"Addr": 5}}`,
		`{"data": null, "when": null, "dur": 12}`,
		`{"data": [1, 2, 3]}`,
		`{"tree": {"name": "r", "next": {"name": "n", "next": null}}}`,
		`{"page": {"items": [{"title": "t"}], "next": "c"}}`,
		`{"mm": {"a": {"b": 1}, "b": null}}`,
		`{"arr": [{"ttl": 1}]}`,
		`{"level": "x"}`,
		`{"level": 1.5}`,
		`[1]`,
		`{"level": 1,}`,
		`{"level": 1} x`,
	} {
		checkDecode[EverythingArgs]("decode "+in, []byte(in))
	}

	// Results encode as encoding/json does.
	page := Page[Item]{Items: []Item{fullItem()}}
	got, err := EverythingTask.MarshalResult(page)
	want, _ := json.Marshal(page)
	check("result marshal", err == nil && bytes.Equal(got, want), "err %v\ngot  %s\nwant %s", err, got, want)
	back, err := EverythingTask.UnmarshalResult(want)
	var wantBack Page[Item]
	_ = json.Unmarshal(want, &wantBack)
	check("result unmarshal", err == nil && reflect.DeepEqual(back, wantBack), "err %v", err)

	// Register binds the functions; calling a handler runs the task.
	reg := registrar{}
	check("Register", Register(reg) == nil, "failed")
	check("RegisterService", RegisterService(reg, &Service{prefix: "hi "}) == nil, "failed")
	for _, name := range []string{"main.Everything", "main.Count", "main.Fail", "main.Service.Greet", "main.Service.Shout"} {
		check("registered "+name, reg[name] != nil, "missing")
	}
	if failed {
		os.Exit(1)
	}
	call := func(name string, args runtime.Payload) ([]byte, error) {
		payload, err := args.MarshalTask()
		if err != nil {
			return nil, err
		}
		return reg[name](ctx, payload)
	}
	res, err := call("main.Count", &CountArgs{Items: []int{4, 5, 6}})
	check("Count handler", err == nil && string(res) == "3", "got %s, %v", res, err)
	res, err = call("main.Everything", fullArgs())
	want, _ = json.Marshal(Page[Item]{Items: append(fullArgs().Page.Items, fullArgs().Item), Next: fullArgs().Page.Next})
	check("Everything handler", err == nil && bytes.Equal(res, want), "err %v\ngot  %s\nwant %s", err, res, want)
	res, err = call("main.Fail", &FailArgs{Msg: "boom"})
	check("Fail handler", err != nil && err.Error() == "boom" && res == nil, "got %s, %v", res, err)
	res, err = call("main.Fail", &FailArgs{})
	check("Fail handler ok", err == nil && res == nil, "got %s, %v", res, err)
	res, err = call("main.Service.Greet", &GreetArgs{Name: "ann"})
	check("Greet handler", err == nil && string(res) == `"hi ann"`, "got %s, %v", res, err)
	res, err = call("main.Service.Shout", &ShoutArgs{Name: "bob"})
	check("Shout handler", err == nil && string(res) == `"hi bob!"`, "got %s, %v", res, err)
	_, err = reg["main.Count"](ctx, []byte(`{"items": "nope"}`))
	check("Count handler bad payload", err != nil, "no error")

	// EnqueueX encodes the arguments and hands them to the client.
	enq := &enqueuer{}
	h, err := EnqueueCount(ctx, enq, []int{1, 2})
	check("EnqueueCount", err == nil && h.ID() == "id-1" && enq.def == &CountTask.Def && string(enq.payload) == `{"items":[1,2]}`,
		"err %v, payload %s", err, enq.payload)

	// Descriptors carry the defaults and a fingerprint.
	d := CountTask.Def
	check("defaults", d.Name == "main.Count" && d.Queue == runtime.DefaultQueue && d.Priority == runtime.DefaultPriority &&
		d.Retries == runtime.DefaultRetries && d.BackoffMin == runtime.DefaultBackoffMin && d.BackoffMax == runtime.DefaultBackoffMax &&
		len(d.Fingerprint) == 16, "%+v", d)
	check("fingerprints differ", CountTask.Def.Fingerprint != FailTask.Def.Fingerprint, "same")

	if failed {
		os.Exit(1)
	}
	fmt.Println("ok")
}

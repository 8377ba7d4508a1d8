package model

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/taskgen/taskgen/runtime"
)

// Directive is the comment line that marks a task.
const Directive = "//taskgen:task"

// directivePrefix starts every taskgen directive; any other word after it
// is a typo worth reporting.
const directivePrefix = "//taskgen:"

// Defaults are the option values of a directive that sets none.
var Defaults = Options{
	Queue:      runtime.DefaultQueue,
	Priority:   runtime.DefaultPriority,
	Retries:    runtime.DefaultRetries,
	BackoffMin: runtime.DefaultBackoffMin,
	BackoffMax: runtime.DefaultBackoffMax,
}

// isDirective reports whether the comment text is a //taskgen:task line,
// and returns the text after it.
func isDirective(text string) (rest string, ok bool) {
	rest, ok = strings.CutPrefix(text, Directive)
	if !ok || rest != "" && rest[0] != ' ' && rest[0] != '\t' {
		return "", false
	}
	return rest, true
}

// ParseOptions parses the key=value options that follow //taskgen:task.
// It returns every problem, each naming the option.
func ParseOptions(text string) (Options, []string) {
	o := Defaults
	var problems []string
	seen := map[string]bool{}
	for _, kv := range strings.Fields(text) {
		key, value, ok := strings.Cut(kv, "=")
		if !ok {
			problems = append(problems, fmt.Sprintf("option %q: missing '=': options are written key=value", kv))
			continue
		}
		if seen[key] {
			problems = append(problems, fmt.Sprintf("option %q: %s is set twice", kv, key))
			continue
		}
		seen[key] = true
		if err := setOption(&o, key, value); err != nil {
			problems = append(problems, fmt.Sprintf("option %q: %v", kv, err))
		}
	}
	return o, problems
}

func setOption(o *Options, key, value string) error {
	var err error
	switch key {
	case "name":
		if value == "" || strings.ContainsFunc(value, func(r rune) bool { return !unicode.IsPrint(r) }) {
			return fmt.Errorf("name must be non-empty printable text")
		}
		o.Name = value
	case "queue":
		if value == "" || strings.ContainsFunc(value, func(r rune) bool { return !unicode.IsPrint(r) }) {
			return fmt.Errorf("queue must be non-empty printable text")
		}
		o.Queue = value
	case "priority":
		o.Priority, err = intRange(value, 0, runtime.MaxPriority)
		if err != nil {
			return fmt.Errorf("priority must be an integer from 0 to 9")
		}
	case "retries":
		o.Retries, err = intRange(value, 0, 1<<31-1)
		if err != nil {
			return fmt.Errorf("retries must be an integer, 0 or more")
		}
	case "backoff":
		lo, hi, ok := strings.Cut(value, "..")
		if !ok {
			return fmt.Errorf("backoff must be MIN..MAX, such as 1s..10m")
		}
		if o.BackoffMin, err = positiveDuration(lo); err != nil {
			return fmt.Errorf("backoff minimum: %v", err)
		}
		if o.BackoffMax, err = positiveDuration(hi); err != nil {
			return fmt.Errorf("backoff maximum: %v", err)
		}
		if o.BackoffMin > o.BackoffMax {
			return fmt.Errorf("backoff minimum %v is above maximum %v", o.BackoffMin, o.BackoffMax)
		}
	case "timeout":
		o.Timeout, err = positiveDuration(value)
	case "expires":
		o.Expires, err = positiveDuration(value)
	case "unique":
		o.Unique, err = positiveDuration(value)
	case "rate":
		n, per, ok := strings.Cut(value, "/")
		periods := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour}
		o.RatePeriod = periods[per]
		if o.RateN, err = intRange(n, 1, 1<<31-1); !ok || err != nil || o.RatePeriod == 0 {
			return fmt.Errorf("rate must be N/s, N/m or N/h with N above 0, such as 10/s")
		}
	case "concurrency":
		o.Concurrency, err = intRange(value, 1, 1<<31-1)
		if err != nil {
			return fmt.Errorf("concurrency must be an integer above 0")
		}
	default:
		return fmt.Errorf("unknown option %q; known: name, queue, priority, retries, backoff, timeout, expires, unique, rate, concurrency", key)
	}
	return err
}

func intRange(s string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("out of range")
	}
	return n, nil
}

func positiveDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 30s or 5m", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q must be above zero", s)
	}
	return d, nil
}

package runtime

import (
	"slices"
	"strings"
	"testing"
)

func TestFetchOrderStrict(t *testing.T) {
	t.Parallel()
	qs := []string{"high", "low"}
	for range 100 {
		if got := fetchOrder(qs, nil); !slices.Equal(got, qs) {
			t.Fatalf("strict order = %v, want %v", got, qs)
		}
	}
}

// The first queue of a weighted draw is queue q with probability
// weights[q] / sum; weight 0 comes last.
func TestFetchOrderWeighted(t *testing.T) {
	t.Parallel()
	qs := []string{"a", "b", "c", "z"}
	w := map[string]int{"a": 6, "b": 3, "c": 1, "z": 0}
	first := map[string]int{}
	const n = 20000
	for range n {
		o := fetchOrder(qs, w)
		if len(o) != 4 || o[3] != "z" {
			t.Fatalf("order %v: want every queue once, the weight-0 queue last", o)
		}
		first[o[0]]++
	}
	for q, want := range map[string]float64{"a": 0.6, "b": 0.3, "c": 0.1} {
		if got := float64(first[q]) / n; got < want-0.03 || got > want+0.03 {
			t.Errorf("queue %s first in %.3f of draws, want %.2f", q, got, want)
		}
	}
}

func TestCheckWeights(t *testing.T) {
	t.Parallel()
	qs := []string{"high", "low"}
	for w, want := range map[*map[string]int]string{
		{"high": 3}:                    `queue "low" has no weight`,
		{"high": 3, "low": -1}:         "negative weight",
		{"high": 3, "low": 1, "lo": 1}: `names queue "lo", which the worker does not serve`,
		{"high": 0, "low": 0}:          "every weight",
		{"high": 3, "low": 1}:          "",
		{"high": 1, "low": 0}:          "",
	} {
		err := checkWeights(qs, *w)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("checkWeights(%v) = %v, want %q", *w, err, want)
		}
	}
}

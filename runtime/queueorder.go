package runtime

import (
	"fmt"
	"math/rand/v2"
	"slices"
)

// checkWeights validates WorkerConfig.Weights against the worker's queues.
func checkWeights(queues []string, weights map[string]int) error {
	if weights == nil {
		return nil
	}
	total := 0
	for _, q := range queues {
		w, ok := weights[q]
		switch {
		case !ok:
			return fmt.Errorf("taskgen: worker: queue %q has no weight in WorkerConfig.Weights (queues %v)", q, queues)
		case w < 0:
			return fmt.Errorf("taskgen: worker: queue %q has a negative weight %d", q, w)
		}
		total += w
	}
	for q := range weights {
		if !slices.Contains(queues, q) {
			return fmt.Errorf("taskgen: worker: WorkerConfig.Weights names queue %q, which the worker does not serve (queues %v)", q, queues)
		}
	}
	if total == 0 {
		return fmt.Errorf("taskgen: worker: every weight in WorkerConfig.Weights is zero (queues %v)", queues)
	}
	return nil
}

// fetchOrder returns the order in which one fetch serves queues: queues
// itself in strict mode, otherwise a weighted draw without replacement, so
// that queue q comes first with probability weights[q] / the sum of the
// weights. Under a backlog each queue thus gets its share of the fetches,
// and a queue that is empty hands its turn to the next in the draw.
// Queues of weight 0 come last, in their configured order.
func fetchOrder(queues []string, weights map[string]int) []string {
	if weights == nil || len(queues) < 2 {
		return queues
	}
	rest := slices.Clone(queues)
	out := make([]string, 0, len(queues))
	for len(rest) > 0 {
		total := 0
		for _, q := range rest {
			total += weights[q]
		}
		if total == 0 {
			return append(out, rest...)
		}
		x := rand.IntN(total)
		for i, q := range rest {
			if x -= weights[q]; x < 0 {
				out = append(out, q)
				rest = slices.Delete(rest, i, i+1)
				break
			}
		}
	}
	return out
}

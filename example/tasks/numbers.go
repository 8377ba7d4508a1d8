package tasks

import "context"

// Square is one branch of the numbers fan-out.
//
//taskgen:task queue=numbers priority=3
func Square(ctx context.Context, n int) (int, error) {
	return n * n, nil
}

// Sum adds the results of a fan-out: the body of a chord over Square.
//
//taskgen:task queue=numbers
func Sum(ctx context.Context, xs []int) (int, error) {
	total := 0
	for _, x := range xs {
		total += x
	}
	return total, nil
}

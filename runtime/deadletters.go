package runtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// DeadLetterFilter selects dead letters; a zero field matches every one.
type DeadLetterFilter struct {
	Task   string // the task's wire name
	Reason Reason
}

// Match reports whether dl passes the filter.
func (f DeadLetterFilter) Match(dl DeadLetter) bool {
	return (f.Task == "" || dl.Task == f.Task) && (f.Reason == "" || dl.Reason == f.Reason)
}

// ListDeadLetters returns the dead letters of queue that f matches, oldest
// first, up to limit of them (limit <= 0: all), with their Errors and Args
// filled from their envelopes.
func ListDeadLetters(ctx context.Context, tr Transport, queue string, f DeadLetterFilter, limit int) ([]DeadLetter, error) {
	all, err := tr.DeadLetters(ctx, queue, 0)
	if err != nil {
		return nil, fmt.Errorf("taskgen: dead letters of queue %q: %w", queue, err)
	}
	out := make([]DeadLetter, 0, len(all))
	for _, dl := range all {
		if !f.Match(dl) {
			continue
		}
		out = append(out, fillDeadLetter(dl))
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return slices.Clip(out), nil
}

// GetDeadLetter returns the dead letter id of queue, with its Errors and
// Args filled, or an error wrapping ErrNotFound.
func GetDeadLetter(ctx context.Context, tr Transport, queue, id string) (DeadLetter, error) {
	all, err := tr.DeadLetters(ctx, queue, 0)
	if err != nil {
		return DeadLetter{}, fmt.Errorf("taskgen: dead letters of queue %q: %w", queue, err)
	}
	for _, dl := range all {
		if dl.ID == id {
			return fillDeadLetter(dl), nil
		}
	}
	return DeadLetter{}, fmt.Errorf("taskgen: dead letter %s on queue %q: %w", id, queue, ErrNotFound)
}

// RequeueDeadLetters puts every dead letter of queue that f matches back on
// queue, as Inspector.RequeueDeadLetter does one, and returns how many it
// requeued. A letter that cannot be requeued (its ID is in use again) stays
// dead; the error joins those failures. tr must be an Inspector.
func RequeueDeadLetters(ctx context.Context, tr Transport, queue string, f DeadLetterFilter) (int, error) {
	in, ok := tr.(Inspector)
	if !ok {
		return 0, fmt.Errorf("taskgen: requeue dead letters of queue %q: %T cannot requeue dead letters", queue, tr)
	}
	dls, err := ListDeadLetters(ctx, tr, queue, f, 0)
	if err != nil {
		return 0, err
	}
	var (
		n    int
		errs []error
	)
	for _, dl := range dls {
		if err := in.RequeueDeadLetter(ctx, queue, dl.ID); err != nil {
			if errors.Is(err, ErrNotFound) {
				continue // requeued or purged meanwhile
			}
			errs = append(errs, fmt.Errorf("taskgen: requeue dead letter %s (task %s) on queue %q: %w", dl.ID, dl.Task, queue, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// fillDeadLetter fills dl's Errors and Args from its envelope: the errors
// of the attempts before the last, then the last one, Error at At.
func fillDeadLetter(dl DeadLetter) DeadLetter {
	var earlier []AttemptError
	if env, err := DecodeEnvelope(dl.Body); err == nil {
		earlier = env.Errors
		if len(env.Payload) > 0 {
			dl.Args = env.Payload
		}
	}
	if len(dl.Errors) == 0 {
		dl.Errors = append(slices.Clip(earlier), AttemptError{At: dl.At, Error: dl.Error})
	}
	return dl
}

package tasks

import "context"

//taskgen:task
func Broken(ctx context.Context, id int) error {
	return undefinedThing(id)
}

func UsesGenerated() {
	_ = BrokenTask.Def.Name
	_, _ = EnqueueBroken(context.Background(), nil, "not an int")
}

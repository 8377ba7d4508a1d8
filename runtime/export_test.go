package runtime

import "time"

// SetActiveRecordDelay sets how long w's handlers run before their tasks
// are recorded as active, so tests need not race the default.
func SetActiveRecordDelay(w *Worker, d time.Duration) { w.activeDelay = d }

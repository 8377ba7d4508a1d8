package main

import (
	"fmt"
	"os"
	"time"

	"github.com/taskgen/taskgen/bench/internal/report"
)

// row is one line of the comparison with the raw client.
type row []string

// rateRow compares rates; goal 0 means the row has none.
func rateRow(name string, t, r, goal float64) row {
	ratio := t / r
	out := row{name, report.PerSecond(t), report.PerSecond(r), fmt.Sprintf("%.0f%%", 100*ratio), ""}
	if goal > 0 {
		out[4] = fmt.Sprintf("≥ %.0f%% %s", 100*goal, report.Mark(ratio >= goal))
	}
	return out
}

// latencyRow compares latencies; goal 0 means the row has none.
func latencyRow(name string, t, r, goal time.Duration) row {
	out := row{name, report.Ms(t), report.Ms(r), fmt.Sprintf("%.1f×", float64(t)/float64(r)), ""}
	if goal > 0 {
		out[4] = fmt.Sprintf("≤ %s %s", report.Ms(goal), report.Mark(t <= goal))
	}
	return out
}

func perSecond(v float64) string { return report.PerSecond(v) }

// printTable prints rows as a Markdown table.
func printTable(rows []row) {
	rs := make([][]string, len(rows))
	for i, r := range rows {
		rs[i] = r
	}
	report.Table(os.Stdout, []string{"benchmark", "taskgen", "raw amqp091-go", "taskgen/raw", "goal"}, rs)
}

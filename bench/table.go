package main

import (
	"fmt"
	"os"
	"time"

	"github.com/taskgen/taskgen/bench/internal/report"
)

// row is one line of the comparison with asynq.
type row []string

func rateRow(name string, t, a, goal float64) row {
	r := t / a
	return row{name, report.PerSecond(t), report.PerSecond(a), fmt.Sprintf("%.2f×", r), fmt.Sprintf("≥ %g× %s", goal, report.Mark(r >= goal))}
}

func latencyRow(name string, t, a time.Duration, goal string) row {
	r := row{name, report.Ms(t), report.Ms(a), fmt.Sprintf("%.0f× lower", float64(a)/float64(t)), goal}
	if goal != "" {
		r[4] += " " + report.Mark(t <= 2*time.Millisecond)
	}
	return r
}

func thousands(n int64) string { return report.Thousands(n) }

// printTable prints rows as a Markdown table.
func printTable(rows []row) {
	rs := make([][]string, len(rows))
	for i, r := range rows {
		rs[i] = r
	}
	report.Table(os.Stdout, []string{"benchmark", "taskgen", "asynq", "ratio", "goal"}, rs)
}

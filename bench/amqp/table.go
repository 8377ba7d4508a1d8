package main

import (
	"fmt"
	"strings"
	"time"
)

type row struct {
	name, taskgen, raw, ratio, goal string
}

// rateRow compares rates; goal 0 means the row has none.
func rateRow(name string, t, r, goal float64) row {
	ratio := t / r
	out := row{name, perSecond(t), perSecond(r), fmt.Sprintf("%.0f%%", 100*ratio), ""}
	if goal > 0 {
		out.goal = fmt.Sprintf("≥ %.0f%% %s", 100*goal, mark(ratio >= goal))
	}
	return out
}

// latencyRow compares latencies; goal 0 means the row has none.
func latencyRow(name string, t, r, goal time.Duration) row {
	out := row{name, ms(t), ms(r), fmt.Sprintf("%.1f×", float64(t)/float64(r)), ""}
	if goal > 0 {
		out.goal = fmt.Sprintf("≤ %s %s", ms(goal), mark(t <= goal))
	}
	return out
}

func mark(ok bool) string {
	if ok {
		return "(met)"
	}
	return "(NOT met)"
}

func perSecond(v float64) string { return fmt.Sprintf("%s/s", thousands(int64(v))) }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func thousands(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// printTable prints rows as a Markdown table.
func printTable(rows []row) {
	all := append([]row{{"benchmark", "taskgen", "raw amqp091-go", "taskgen/raw", "goal"}}, rows...)
	w := make([]int, 5)
	cols := func(r row) []string { return []string{r.name, r.taskgen, r.raw, r.ratio, r.goal} }
	for _, r := range all {
		for i, c := range cols(r) {
			w[i] = max(w[i], len([]rune(c)))
		}
	}
	line := func(cs []string) {
		fmt.Print("|")
		for i, c := range cs {
			fmt.Printf(" %s%s |", c, strings.Repeat(" ", w[i]-len([]rune(c))))
		}
		fmt.Println()
	}
	line(cols(all[0]))
	seps := make([]string, 5)
	for i := range seps {
		seps[i] = strings.Repeat("-", w[i])
	}
	line(seps)
	for _, r := range all[1:] {
		line(cols(r))
	}
}

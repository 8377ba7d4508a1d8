package main

import (
	"fmt"
	"strings"
	"time"
)

type row struct {
	name, taskgen, asynq, ratio, goal string
}

func rateRow(name string, t, a, goal float64) row {
	r := t / a
	return row{name, perSecond(t), perSecond(a), fmt.Sprintf("%.2f×", r), fmt.Sprintf("≥ %g× %s", goal, mark(r >= goal))}
}

func latencyRow(name string, t, a time.Duration, goal string) row {
	r := row{name, ms(t), ms(a), fmt.Sprintf("%.0f× lower", float64(a)/float64(t)), goal}
	if goal != "" {
		r.goal += " " + mark(t <= 2*time.Millisecond)
	}
	return r
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
	all := append([]row{{"benchmark", "taskgen", "asynq", "ratio", "goal"}}, rows...)
	w := make([]int, 5)
	cols := func(r row) []string { return []string{r.name, r.taskgen, r.asynq, r.ratio, r.goal} }
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

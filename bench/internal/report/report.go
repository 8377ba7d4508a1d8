// Package report formats the benchmarks' results: Markdown tables of rates,
// latencies and ratios.
package report

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Mark says whether a goal was met.
func Mark(ok bool) string {
	if ok {
		return "(met)"
	}
	return "(NOT met)"
}

// PerSecond formats a rate, with thousands separators.
func PerSecond(v float64) string { return Thousands(int64(v)) + "/s" }

// Ms formats a duration in milliseconds.
func Ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// Thousands formats n with commas between groups of three digits.
func Thousands(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && c != '-' && s[i-1] != '-' && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Table writes header and rows to w as a Markdown table with aligned
// columns.
func Table(w io.Writer, header []string, rows [][]string) {
	all := append([][]string{header}, rows...)
	width := make([]int, len(header))
	for _, r := range all {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	line := func(cs []string) {
		fmt.Fprint(w, "|")
		for i, c := range cs {
			fmt.Fprintf(w, " %s%s |", c, strings.Repeat(" ", width[i]-len([]rune(c))))
		}
		fmt.Fprintln(w)
	}
	line(header)
	seps := make([]string, len(header))
	for i := range seps {
		seps[i] = strings.Repeat("-", width[i])
	}
	line(seps)
	for _, r := range rows {
		line(r)
	}
}

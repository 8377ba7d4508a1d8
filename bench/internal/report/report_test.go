package report

import (
	"strings"
	"testing"
)

func TestTable(t *testing.T) {
	var b strings.Builder
	Table(&b, []string{"benchmark", "rate"}, [][]string{{"enqueue", PerSecond(1234567)}, {"×", "1"}})
	want := "| benchmark | rate        |\n| --------- | ----------- |\n| enqueue   | 1,234,567/s |\n| ×         | 1           |\n"
	if got := b.String(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if got := Thousands(-1234); got != "-1,234" {
		t.Fatalf("Thousands(-1234) = %q", got)
	}
}

package runtime

import (
	"strings"
	"testing"
	"time"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestParseSpecTicks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec, after, want string
	}{
		{"0 2 * * *", "2026-03-01T12:00:00Z", "2026-03-02T02:00:00Z"},                        // five fields, UTC
		{"*/10 * * * * *", "2026-03-01T12:00:01.5Z", "2026-03-01T12:00:10Z"},                 // seconds
		{"CRON_TZ=Europe/Paris 0 2 * * *", "2026-03-01T12:00:00Z", "2026-03-02T01:00:00Z"},   // CET is UTC+1
		{"TZ=America/New_York 30 9 * * 1-5", "2026-03-06T20:00:00Z", "2026-03-09T13:30:00Z"}, // Friday evening → Monday, EDT from March 8
		{"@hourly", "2026-03-01T12:00:00Z", "2026-03-01T13:00:00Z"},
		{"@every 5s", "2026-03-01T12:00:03Z", "2026-03-01T12:00:05Z"}, // aligned to the epoch
		{"@every 500ms", "2026-03-01T12:00:00.7Z", "2026-03-01T12:00:01Z"},
		{"@every 1h30m", "2026-03-01T12:00:00Z", "2026-03-01T13:30:00Z"},
	} {
		tk, err := parseSpec(tc.spec)
		if err != nil {
			t.Errorf("parseSpec(%q): %v", tc.spec, err)
			continue
		}
		if got := tk.Next(mustTime(t, tc.after)); !got.Equal(mustTime(t, tc.want)) {
			t.Errorf("%q: Next(%s) = %s, want %s", tc.spec, tc.after, got.UTC().Format(time.RFC3339Nano), tc.want)
		}
	}
}

func TestParseSpecErrors(t *testing.T) {
	t.Parallel()
	for spec, want := range map[string]string{
		"":                            "empty spec",
		"0 2 * *":                     "expected 5 to 6 fields",
		"61 * * * *":                  "above maximum",
		"@every 10ms":                 "under 100ms",
		"@every soon":                 "invalid duration",
		"@fortnightly":                "unrecognized descriptor",
		"CRON_TZ=Mars/Base 0 * * * *": "bad location",
		"CRON_TZ=UTC":                 "nothing after it",
		"0 0 30 2 *":                  "never fires",
	} {
		_, err := parseSpec(spec)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseSpec(%q) = %v, want an error with %q", spec, err, want)
		}
	}
}

func TestLatestTick(t *testing.T) {
	t.Parallel()
	sec, _ := parseSpec("@every 1s")
	daily, _ := parseSpec("0 2 * * *")
	for _, tc := range []struct {
		name      string
		tk        ticker
		from, now string
		want      string // "" for none
	}{
		{"none due yet", sec, "2026-03-01T12:00:00Z", "2026-03-01T12:00:00.9Z", ""},
		{"one due", sec, "2026-03-01T12:00:00Z", "2026-03-01T12:00:01Z", "2026-03-01T12:00:01Z"},
		{"several due: the latest", sec, "2026-03-01T12:00:00Z", "2026-03-01T12:00:07.3Z", "2026-03-01T12:00:07Z"},
		{"a week of seconds", sec, "2026-03-01T12:00:00Z", "2026-03-08T12:00:00.5Z", "2026-03-08T12:00:00Z"},
		{"daily, a year down", daily, "2025-03-01T12:00:00Z", "2026-03-01T12:00:00Z", "2026-03-01T02:00:00Z"},
		{"daily, same day", daily, "2026-03-01T02:00:00Z", "2026-03-01T23:00:00Z", ""},
	} {
		got, ok := latestTick(tc.tk, mustTime(t, tc.from), mustTime(t, tc.now))
		switch {
		case tc.want == "" && ok:
			t.Errorf("%s: latestTick = %s, want none", tc.name, got)
		case tc.want != "" && (!ok || !got.Equal(mustTime(t, tc.want))):
			t.Errorf("%s: latestTick = %s, %v, want %s", tc.name, got, ok, tc.want)
		}
	}
}

func TestScheduleTaskID(t *testing.T) {
	t.Parallel()
	tick := mustTime(t, "2026-03-01T02:00:00.5+01:00")
	if got, want := ScheduleTaskID("nightly-report", tick), "nightly-report@2026-03-01T01:00:00.5Z"; got != want {
		t.Errorf("ScheduleTaskID = %q, want %q", got, want)
	}
}

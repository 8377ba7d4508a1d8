package runtime

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// A schedule's spec is a cron expression with an optional seconds field
// ("0 2 * * *", "*/10 * * * * *"), a descriptor (@hourly, @daily, ...), or
// a fixed interval ("@every 5s", "@every 500ms"). A spec may start with
// CRON_TZ=Zone (or TZ=Zone); without one it is read in UTC, so that every
// scheduler process computes the same ticks whatever its local zone.

// cronParser accepts five or six fields (the first of six is seconds) and
// descriptors.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// minInterval is the shortest fixed interval a schedule may have.
const minInterval = 100 * time.Millisecond

// ticker computes a schedule's ticks.
type ticker interface {
	// Next returns the first tick strictly after t, or the zero time when
	// there is none.
	Next(t time.Time) time.Time
}

// every ticks at the multiples of d since the Unix epoch, so that every
// process agrees on the ticks whenever it started. (cron's own @every
// counts from the time it is asked and rounds to seconds.)
type every struct{ d time.Duration }

func (e every) Next(t time.Time) time.Time {
	n := t.UnixNano()
	next := n - n%int64(e.d)
	if n < 0 && n%int64(e.d) != 0 {
		next -= int64(e.d)
	}
	return time.Unix(0, next+int64(e.d))
}

// parseSpec parses a schedule's spec.
func parseSpec(spec string) (ticker, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, fmt.Errorf("empty spec: want a cron expression or @every <duration>")
	}
	body, zone := spec, ""
	if strings.HasPrefix(body, "CRON_TZ=") || strings.HasPrefix(body, "TZ=") {
		i := strings.IndexAny(body, " \t")
		if i < 0 {
			return nil, fmt.Errorf("cron spec %q: a time zone and nothing after it", spec)
		}
		zone, body = body[strings.IndexByte(body, '=')+1:i], strings.TrimSpace(body[i:])
	}
	if rest, ok := strings.CutPrefix(body, "@every "); ok {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err != nil {
			return nil, fmt.Errorf("spec %q: %w", spec, err)
		}
		if d < minInterval {
			return nil, fmt.Errorf("spec %q: the interval is under %v", spec, minInterval)
		}
		return every{d}, nil
	}
	if zone == "" {
		zone = "UTC"
	}
	s, err := cronParser.Parse("CRON_TZ=" + zone + " " + body)
	if err != nil {
		return nil, fmt.Errorf("cron spec %q: %w", spec, err)
	}
	if s.Next(time.Now()).IsZero() {
		return nil, fmt.Errorf("cron spec %q: it never fires", spec)
	}
	return s, nil
}

// latestTick returns the latest tick of tk in (from, now], and false when
// there is none. It probes backwards from now with a doubling step, so that
// catching up after a long downtime walks a few ticks, not all of them.
func latestTick(tk ticker, from, now time.Time) (time.Time, bool) {
	first := tk.Next(from)
	if first.IsZero() || first.After(now) {
		return time.Time{}, false
	}
	start := first
	for step := time.Second; ; step *= 2 {
		probe := now.Add(-step)
		if !probe.After(from) {
			break
		}
		if t := tk.Next(probe); !t.IsZero() && !t.After(now) {
			start = t
			break
		}
	}
	latest := start
	for {
		t := tk.Next(latest)
		if t.IsZero() || t.After(now) {
			return latest, true
		}
		latest = t
	}
}

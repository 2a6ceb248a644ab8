package cluster

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// cronMacros are the schedules Kubernetes accepts by name.
var cronMacros = map[string]string{
	"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
	"@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}

var cronNames = map[string]int{
	"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
	"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6,
}

// cronSchedule is a parsed five-field schedule: the allowed values of
// each field.
type cronSchedule struct {
	minute, hour, dom, month, dow [60]bool
	// domStar and dowStar say the field was "*": when both day fields are
	// restricted a day matches either (cron's rule).
	domStar, dowStar bool
}

// CronInterval is the longest time between two runs of a CronJob
// schedule (standard five fields, or @daily and the like; a CRON_TZ= or
// TZ= prefix is ignored, it does not change the gaps much), found by
// walking four years of runs.
func CronInterval(schedule string) (time.Duration, error) {
	s, err := parseCron(schedule)
	if err != nil {
		return 0, fmt.Errorf("schedule %q: %w", schedule, err)
	}
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	end := start.AddDate(4, 0, 0)
	var first, last time.Time
	var longest time.Duration
	for day := start; day.Before(end); day = day.AddDate(0, 0, 1) {
		if !s.month[int(day.Month())] || !s.dayMatches(day) {
			continue
		}
		for h := 0; h < 24; h++ {
			if !s.hour[h] {
				continue
			}
			for m := 0; m < 60; m++ {
				if !s.minute[m] {
					continue
				}
				t := day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
				if first.IsZero() {
					first = t
				} else if gap := t.Sub(last); gap > longest {
					longest = gap
				}
				last = t
			}
		}
	}
	if first.IsZero() {
		return 0, fmt.Errorf("schedule %q never runs", schedule)
	}
	if first == last {
		return end.Sub(start), nil
	}
	return longest, nil
}

func (s *cronSchedule) dayMatches(day time.Time) bool {
	dom, dow := s.dom[day.Day()], s.dow[int(day.Weekday())]
	switch {
	case s.domStar && s.dowStar:
		return true
	case s.domStar:
		return dow
	case s.dowStar:
		return dom
	}
	return dom || dow
}

func parseCron(schedule string) (*cronSchedule, error) {
	fields := strings.Fields(schedule)
	if len(fields) > 0 && (strings.HasPrefix(fields[0], "CRON_TZ=") || strings.HasPrefix(fields[0], "TZ=")) {
		fields = fields[1:]
	}
	if len(fields) == 1 {
		if m, ok := cronMacros[strings.ToLower(fields[0])]; ok {
			fields = strings.Fields(m)
		}
	}
	if len(fields) != 5 {
		return nil, fmt.Errorf("want five fields (minute hour day-of-month month day-of-week)")
	}
	s := &cronSchedule{domStar: fields[2] == "*" || fields[2] == "?", dowStar: fields[4] == "*" || fields[4] == "?"}
	for i, f := range []struct {
		set      *[60]bool
		min, max int
	}{{&s.minute, 0, 59}, {&s.hour, 0, 23}, {&s.dom, 1, 31}, {&s.month, 1, 12}, {&s.dow, 0, 7}} {
		if err := parseCronField(fields[i], f.min, f.max, f.set); err != nil {
			return nil, fmt.Errorf("field %d %q: %w", i+1, fields[i], err)
		}
	}
	if s.dow[7] {
		s.dow[0] = true // 7 is Sunday too
	}
	return s, nil
}

func parseCronField(field string, lo, hi int, set *[60]bool) error {
	for _, part := range strings.Split(field, ",") {
		rng, stepText, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n <= 0 {
				return fmt.Errorf("bad step %q", stepText)
			}
			step = n
		}
		from, to := lo, hi
		switch {
		case rng == "*" || rng == "?":
		default:
			a, b, isRange := strings.Cut(rng, "-")
			var err error
			if from, err = cronValue(a); err != nil {
				return err
			}
			to = from
			if isRange {
				if to, err = cronValue(b); err != nil {
					return err
				}
			} else if hasStep {
				to = hi
			}
		}
		if from < lo || to > hi || from > to {
			return fmt.Errorf("%q is outside %d-%d", part, lo, hi)
		}
		for v := from; v <= to; v += step {
			set[v] = true
		}
	}
	return nil
}

func cronValue(s string) (int, error) {
	if n, ok := cronNames[strings.ToLower(s)]; ok {
		return n, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("bad value %q", s)
	}
	return n, nil
}
